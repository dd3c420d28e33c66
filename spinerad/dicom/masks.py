"""ROI masks from DICOM objects: SEG (with highdicom) and RTSTRUCT (read and rasterised here).

Both give a label map on the image grid holding ``label`` in the ROI, so the rest of the pipeline sees what a
label-map file would give it.

SEG
    Frames are placed on the image grid by the source instances they reference (exact, highdicom's
    ``get_pixels_by_source_instance``); slices without a frame are empty (a 22-frame SEG over a 60-slice MR is
    normal). A SEG without per-frame references, or over an image that is not a DICOM series, is placed by
    geometry (its frame positions must fall on the image grid). The FrameOfReferenceUID must be the image's.
    One segment is taken alone, so overlapping segments work. FRACTIONAL segments are thresholded: a voxel is
    in the ROI when its (rescaled, 0..1) value is >= ``seg_threshold`` (default 0.5).
RTSTRUCT
    No maintained Python reader works with pydicom 3 (see the project notes), so this one is written here.
    Contours are matched to slices by geometry (ContourImageSequence is optional and not used): each
    CLOSED_PLANAR contour must lie in one image slice plane (within 0.05 slice spacings) and inside the
    image. **Rasterisation rule**: all contours of a slice are filled together with the even-odd rule, so
    holes and several islands work and overlapping contours cancel (XOR, as plastimatch ``--xor-contours``).
    A voxel is inside when its *centre* is: a ray from the centre in +x crosses the contours an odd number of
    times, edges counted half-open in y (``min(y0, y1) <= y < max(y0, y1)``), so a centre exactly on a left
    edge is inside and one on a right edge is outside.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryMismatch, ImageReadError, InvalidInput, LabelNotFound, SpineradError
from .series import affine_of, is_dicom_file, list_files

SEG_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: A contour may lie this far (in slice spacings) from a slice plane and still be on it.
CONTOUR_PLANE_TOLERANCE = 0.05
#: Default threshold of FRACTIONAL SEG segments (a voxel is in the ROI when its value is >= this).
DEFAULT_SEG_THRESHOLD = 0.5


@dataclass
class RoiObject:
    """The DICOM object a mask came from and the ROI chosen in it."""

    kind: str  # "seg" or "rtstruct"
    dataset: object
    path: Path
    number: int  # SEG segment number or RTSTRUCT ROI number
    name: str  # segment label or ROI name


def find_roi_object(source):
    """(kind, path) when ``source`` is a SEG/RTSTRUCT file or a folder holding exactly one; else None."""
    path = Path(source)
    if path.is_dir():
        candidates = [p for p in list_files(path) if is_dicom_file(p)]
    elif path.is_file() and is_dicom_file(path):
        candidates = [path]
    else:
        return None
    if not candidates:
        return None
    import pydicom  # only for DICOM input: importing it costs ~0.1 s of every other command's start

    found = []
    for candidate in candidates:
        try:
            sop_class = str(
                pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=["SOPClassUID"]).SOPClassUID
            )
        except Exception:  # noqa: BLE001 - unreadable files are the series reader's to report
            continue
        if sop_class in SEG_SOP_CLASSES:
            found.append(("seg", candidate))
        elif sop_class == RTSTRUCT_SOP_CLASS:
            found.append(("rtstruct", candidate))
    if not found:
        return None
    if len(found) > 1 or (path.is_dir() and len(candidates) > 1):
        raise InvalidInput(
            f"mask folder {path} holds {len(candidates)} DICOM files; a SEG or RTSTRUCT mask folder must hold only "
            "that object: give the file"
        )
    return found[0]


def _choose(items, number, name, what, path):
    """Pick (number, name) from ``items`` by number or name; a single item needs neither."""
    listing = ", ".join(f"{n} {label!r}" for n, label in items)
    if number is not None:
        matches = [item for item in items if item[0] == number]
        if not matches:
            raise LabelNotFound(
                f"{what} {path.name} has no {'segment' if what == 'SEG' else 'ROI'} {number}; it holds: {listing}"
            )
    elif name is not None:
        matches = [item for item in items if item[1] == name]
        if not matches:
            raise LabelNotFound(f"{what} {path.name} has no ROI named {name!r}; it holds: {listing}")
        if len(matches) > 1:
            raise InvalidInput(f"{what} {path.name} has {len(matches)} ROIs named {name!r}; choose by number")
    elif len(items) == 1:
        matches = items
    else:
        option = "--segment N or --roi NAME" if what == "SEG" else "--roi NAME"
        raise InvalidInput(f"{what} {path.name} holds {len(items)} ROIs; choose one with {option}: {listing}")
    return matches[0]


def _check_frame_of_reference(object_uid, source, what, path):
    if source is None or source.frame_of_reference_uid is None:
        return
    if object_uid and str(object_uid) != source.frame_of_reference_uid:
        raise GeometryMismatch(
            f"{what} {path.name} is in frame of reference {object_uid}, the image in "
            f"{source.frame_of_reference_uid}: it was not drawn on this image"
        )


def _check_series(referenced, source, what, path):
    if source is None or not referenced:
        return
    if source.series_instance_uid not in referenced:
        raise GeometryMismatch(
            f"{what} {path.name} references series {', '.join(sorted(referenced))}, not the image series "
            f"{source.series_instance_uid}"
        )


def _as_label_map(roi, image, label, what, path, name):
    if not roi.any():
        raise LabelNotFound(f"{what} {path.name}: ROI {name!r} is empty (no voxel on the image grid)")
    mask = sitk.GetImageFromArray(
        roi.astype(np.uint8) * np.uint8(label) if label < 256 else roi.astype(np.uint32) * label
    )
    mask.CopyInformation(image)
    return mask


def _guarded(kind, path, read, *args):
    """Run a reader; a malformed object (a value highdicom/pydicom cannot use) is one ImageReadError line."""
    try:
        return read(*args)
    except SpineradError:
        raise
    except (
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        RuntimeError,
        NotImplementedError,
        OverflowError,
    ) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ImageReadError(f"cannot read {kind} {Path(path).name}: malformed object ({reason})") from None


def read_seg(path, image, source=None, segment=None, roi=None, label=1, seg_threshold=DEFAULT_SEG_THRESHOLD):
    """The label map of one SEG segment on the grid of ``image`` and the chosen :class:`RoiObject`."""
    return _guarded("SEG", path, _read_seg, path, image, source, segment, roi, label, seg_threshold)


def _read_seg(path, image, source, segment, roi, label, seg_threshold):
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # noqa: BLE001 - highdicom raises many kinds on a broken object
        raise ImageReadError(
            f"cannot read SEG {path.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    items = [(int(n), str(seg.get_segment_description(n).segment_label)) for n in seg.segment_numbers]
    number, name = _choose(items, segment, roi, "SEG", path)
    _check_frame_of_reference(seg.get("FrameOfReferenceUID"), source, "SEG", path)
    referenced = {str(item.SeriesInstanceUID) for item in seg.get("ReferencedSeriesSequence", [])}
    _check_series(referenced, source, "SEG", path)
    if not 0 < seg_threshold <= 1:
        raise InvalidInput(f"seg_threshold must be in (0, 1], got {seg_threshold}")
    fractional = str(seg.segmentation_type.value) == "FRACTIONAL"
    values = None
    if source is not None and not source.multiframe and image.GetDimension() == 3:
        referenced_instances = {str(uids[2]) for uids in seg.get_source_image_uids()}
        if referenced_instances and referenced_instances <= set(source.sop_instance_uids):
            values = seg.get_pixels_by_source_instance(
                source.sop_instance_uids,
                segment_numbers=[number],
                assert_missing_frames_are_empty=True,
                rescale_fractional=True,
                dtype=np.float32 if fractional else np.uint8,
            )[..., 0]
        elif referenced_instances:
            raise GeometryMismatch(
                f"SEG {path.name} references {len(referenced_instances - set(source.sop_instance_uids))} instance(s) "
                "that are not in the image series"
            )
    if values is None:
        values = _seg_by_geometry(seg, number, image, path, fractional)
    in_roi = values >= seg_threshold if fractional else values > 0
    if image.GetDimension() == 2:
        in_roi = in_roi.reshape(sitk.GetArrayViewFromImage(image).shape)
    mask = _as_label_map(in_roi, image, label, "SEG", path, name)
    return mask, RoiObject("seg", seg, path, number, name)


def _seg_by_geometry(seg, number, image, path, fractional):
    import highdicom as hd

    if image.GetDimension() != 3:
        raise InvalidInput(f"SEG {path.name}: placing a SEG by geometry needs a 3-D image")
    try:
        volume = seg.get_volume(
            segment_numbers=[number], rescale_fractional=True, dtype=np.float32 if fractional else np.uint8
        )
        grid = hd.VolumeGeometry(affine_of(image), image.GetSize()[::-1], coordinate_system="PATIENT")
        placed = volume.match_geometry(grid)
    except (RuntimeError, ValueError) as exc:
        raise GeometryMismatch(
            f"SEG {path.name}: its frames do not lie on the image grid ({str(exc).splitlines()[0]})"
        ) from None
    return np.asarray(placed.array)[..., 0] if placed.array.ndim == 4 else np.asarray(placed.array)


def read_rtstruct(path, image, source=None, roi=None, label=1):
    """The label map of one RTSTRUCT ROI on the grid of ``image`` (even-odd fill) and its :class:`RoiObject`."""
    return _guarded("RTSTRUCT", path, _read_rtstruct, path, image, source, roi, label)


def _read_rtstruct(path, image, source, roi, label):
    import pydicom

    path = Path(path)
    try:
        ds = pydicom.dcmread(str(path))
        structures = list(ds.StructureSetROISequence)
    except Exception:  # noqa: BLE001
        raise ImageReadError(f"cannot read RTSTRUCT {path.name}: not a readable structure set") from None
    items = [(int(item.ROINumber), str(item.ROIName)) for item in structures]
    number, name = _choose(items, None, roi, "RTSTRUCT", path)
    structure = next(item for item in structures if int(item.ROINumber) == number)
    _check_frame_of_reference(structure.get("ReferencedFrameOfReferenceUID"), source, "RTSTRUCT", path)
    referenced = {
        str(series.SeriesInstanceUID)
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    }
    _check_series(referenced, source, "RTSTRUCT", path)
    contours = [
        contour
        for item in ds.get("ROIContourSequence", [])
        if int(item.ReferencedROINumber) == number
        for contour in item.get("ContourSequence", [])
        if str(contour.get("ContourGeometricType", "")) == "CLOSED_PLANAR"
    ]
    if image.GetDimension() != 3:
        raise InvalidInput(f"RTSTRUCT {path.name}: an RTSTRUCT mask needs a 3-D image")
    if not contours:
        raise LabelNotFound(f"RTSTRUCT {path.name}: ROI {name!r} has no closed planar contour")
    shape = image.GetSize()[::-1]
    inverse = np.linalg.inv(affine_of(image))
    per_slice = {}
    for index, contour in enumerate(contours, 1):
        points = np.asarray([float(v) for v in contour.ContourData], dtype=np.float64).reshape(-1, 3)
        zyx = points @ inverse[:3, :3].T + inverse[:3, 3]
        k = int(np.rint(zyx[:, 0].mean()))
        if np.abs(zyx[:, 0] - k).max() > CONTOUR_PLANE_TOLERANCE:
            raise GeometryMismatch(
                f"RTSTRUCT {path.name}: contour {index} of ROI {name!r} does not lie in an image slice plane "
                f"(slice index {zyx[:, 0].min():.3f} to {zyx[:, 0].max():.3f}): contours off the image grid"
            )
        if not 0 <= k < shape[0] or zyx[:, 1:].min() < -0.5 or (zyx[:, 1:] > np.array(shape[1:]) - 0.5).any():
            raise GeometryMismatch(
                f"RTSTRUCT {path.name}: contour {index} of ROI {name!r} lies outside the image (slice {k}, "
                f"of {shape[0]}): contours off the image grid"
            )
        per_slice.setdefault(k, []).append(zyx[:, [2, 1]])  # (x, y) in index units
    in_roi = np.zeros(shape, dtype=bool)
    for k, polygons in per_slice.items():
        in_roi[k] = fill_even_odd(polygons, shape[1:])
    mask = _as_label_map(in_roi, image, label, "RTSTRUCT", path, name)
    return mask, RoiObject("rtstruct", ds, path, number, name)


def fill_even_odd(polygons, shape):
    """Voxel centres inside the polygons of one slice by the even-odd rule (see the module docstring).

    Parameters
    ----------
    polygons : list of (N, 2) arrays
        Closed polygons in (x, y) = (column, row) index units (the last vertex joins the first).
    shape : (rows, columns)

    Returns
    -------
    numpy.ndarray of bool, ``shape``
    """
    rows, columns = shape
    start = np.concatenate([np.asarray(p, dtype=np.float64) for p in polygons])
    end = np.concatenate([np.roll(np.asarray(p, dtype=np.float64), -1, axis=0) for p in polygons])
    x0, y0, x1, y1 = start[:, 0], start[:, 1], end[:, 0], end[:, 1]
    low, high = np.minimum(y0, y1), np.maximum(y0, y1)
    out = np.zeros(shape, dtype=bool)
    first = max(int(np.ceil(low.min())), 0)
    last = min(int(np.ceil(high.max())) - 1, rows - 1)
    for j in range(first, last + 1):
        crossing = (low <= j) & (j < high)
        if not crossing.any():
            continue
        t = (j - y0[crossing]) / (y1[crossing] - y0[crossing])
        xs = np.sort(x0[crossing] + t * (x1[crossing] - x0[crossing]))
        # centres i with xs[2m] <= i < xs[2m + 1] are inside: count the crossings strictly right of each centre
        parity = np.zeros(columns + 1, dtype=np.int64)
        starts = np.clip(np.ceil(xs), 0, columns).astype(np.int64)
        np.add.at(parity, starts, 1)
        out[j] = (np.cumsum(parity)[:columns] % 2) == 1
    return out

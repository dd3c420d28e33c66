"""The one DICOM series reader: every intake path (CLI, Python API, cohort, training, gRPC) reads DICOM here.

GDCM's own series sorting (``sitk.ImageSeriesReader``) checks nothing: a 10-slice series with a slice
missing is read as 9 slices at a wrong spacing, with only an ITK warning. This reader reads the headers with
pydicom, refuses what would be silently wrong, and only then lets SimpleITK decode the pixels of the files it
sorted:

- every file must be DICOM; non-image objects (SEG, RTSTRUCT, SR, presentation states, ...) are refused by
  name (a mask object is read by :mod:`spinerad.dicom.masks`, not here);
- one series: a folder holding several lists them (UID, modality, description, instance count) and asks for
  one (``series_uid`` / ``--series UID``);
- one orientation and one size (rows, columns, pixel spacing) across the instances;
- sorted by position along the slice normal; duplicate positions and gaps (named: where and how large) are
  errors, as is a slice spacing that varies;
- a multi-frame (enhanced CT/MR) instance is read with highdicom from its per-frame positions (the same
  checks through highdicom's volume geometry); several multi-frame instances in one series are refused.
"""

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import ImageReadError, InvalidInput

#: Storage SOP classes that are not images (their instances carry no pixel grid of the series).
NON_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "DICOM SEG",
    "1.2.840.10008.5.1.4.1.1.66.7": "DICOM label-map SEG",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT plan",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT dose",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
    "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Presentation State",
    "1.2.840.10008.5.1.4.1.1.66": "Raw Data",
    "1.2.840.10008.5.1.4.1.1.66.1": "Spatial Registration",
    "1.2.840.10008.5.1.4.1.1.30": "Parametric Map",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
}

#: Orientation cosines may differ by this much between instances of one series.
ORIENTATION_TOLERANCE = 1e-4
#: Two slices closer than this (mm) along the normal are the same position (a duplicate).
DUPLICATE_TOLERANCE_MM = 1e-4


@dataclass
class DicomSeries:
    """A DICOM image series as read: the SimpleITK image and the instances' headers in slice order."""

    image: sitk.Image
    #: pydicom datasets without pixel data, sorted along the slice normal (one for a multi-frame instance)
    datasets: list = field(repr=False)
    paths: list = field(repr=False)

    @property
    def first(self):
        """The first instance's header (patient, study and series attributes are the same in all)."""
        return self.datasets[0]

    @property
    def series_instance_uid(self):
        """SeriesInstanceUID of the series."""
        return str(self.first.SeriesInstanceUID)

    @property
    def frame_of_reference_uid(self):
        """FrameOfReferenceUID of the series (None when the instances carry none)."""
        value = self.first.get("FrameOfReferenceUID")
        return str(value) if value else None

    @property
    def sop_instance_uids(self):
        """SOPInstanceUIDs in slice order (z index of :attr:`image`)."""
        return [str(ds.SOPInstanceUID) for ds in self.datasets]

    @property
    def multiframe(self):
        """Whether the series is one multi-frame instance."""
        return len(self.datasets) == 1 and int(self.first.get("NumberOfFrames", 1) or 1) > 1


def is_dicom_file(path):
    """Whether ``path`` starts like a DICOM Part 10 file (128-byte preamble, then ``DICM``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_headers(paths, what, parsed=None):
    """Pydicom headers (no pixel data) of ``paths``; a file that is not DICOM is an error naming it.

    ``parsed``: ``{path: dataset}`` of headers a caller already read with ``pydicom.dcmread(path,
    stop_before_pixels=True)`` (the PACS paths plan a study from its headers first); they are not read again.
    """
    import pydicom

    headers = []
    for path in paths:
        try:
            ds = (parsed or {}).get(path)
            if ds is None:
                ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            for _ in ds.iterall():  # pydicom parses elements lazily: make garbled bytes fail here
                pass
        except Exception:  # noqa: BLE001 - pydicom raises a dozen kinds on garbled bytes; all mean "unreadable"
            raise ImageReadError(
                f"cannot read {what}: {Path(path).name} is not a readable DICOM file"
            ) from None
        if "SeriesInstanceUID" not in ds or "SOPClassUID" not in ds:
            raise ImageReadError(
                f"cannot read {what}: {Path(path).name} has no SeriesInstanceUID/SOPClassUID (not a DICOM instance)"
            )
        headers.append(ds)
    return headers


def list_files(folder):
    """The files of a series folder, sorted by name (hidden files and a DICOMDIR index are not instances)."""
    return sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )


def sop_kind(ds):
    """What a non-image instance is ("DICOM SEG", "RTSTRUCT", ...), or None for an image."""
    kind = NON_IMAGE_SOP_CLASSES.get(str(ds.SOPClassUID))
    if kind is None and ("Rows" not in ds or "Columns" not in ds):
        kind = f"a non-image object (SOP class {ds.SOPClassUID})"
    return kind


def describe_series(headers):
    """One line per series: UID, modality, description and instance count (for choosing one)."""
    groups = {}
    for ds in headers:
        groups.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    lines = []
    for uid, members in groups.items():
        first = members[0]
        frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for ds in members)
        description = str(first.get("SeriesDescription", "") or "").strip() or "no description"
        lines.append(
            f"{uid} ({first.get('Modality', '?')}, {description!r}, {len(members)} instance(s), {frames} slice(s))"
        )
    return lines


def read_series(source, what="image", series_uid=None, check_size=None, parsed=None):
    """Read one DICOM image series: a folder, or a list of instance files.

    Parameters
    ----------
    source : str, pathlib.Path or list of paths
        A folder holding the series (only its files, not subfolders) or the instance files.
    what : str
        How messages name the volume ("image", "mask").
    series_uid : str or None
        The SeriesInstanceUID to read when the files hold several series.
    check_size : callable or None
        Called with the (x, y, z) size before any pixel is decoded (the service's voxel limit).
    parsed : dict or None
        Headers already read, ``{path: pydicom dataset read with stop_before_pixels=True}``.

    Returns
    -------
    DicomSeries
    """
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
        where = f"{what}"
    else:
        folder = Path(source)
        paths = list_files(folder)
        where = f"{what} {folder}"
        if not paths:
            raise ImageReadError(f"cannot read {where}: the folder holds no DICOM series (no files)")
    headers = read_headers(paths, where, parsed)
    try:
        series = _read_headers_checked(paths, headers, where, series_uid, check_size)
        # The models' applicability check reads the modality from the image (spinerad.models.applicability).
        modality = str(series.first.get("Modality", "") or "").strip()
        if modality:
            series.image.SetMetaData("0008|0060", modality)
        return series
    except (
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        NotImplementedError,
        OverflowError,
        RuntimeError,
        struct.error,
    ) as exc:
        # a garbled header value (pydicom decodes elements when they are first used)
        raise ImageReadError(
            f"cannot read {where}: a DICOM header value is malformed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:120] if str(exc) else ''})"
        ) from None


def _read_headers_checked(paths, headers, where, series_uid, check_size):
    uids = {str(ds.SeriesInstanceUID) for ds in headers}
    if series_uid is not None:
        if series_uid not in uids:
            raise ImageReadError(
                f"cannot read {where}: no series {series_uid}; it holds: "
                + "; ".join(describe_series(headers))
            )
        chosen = [
            (p, ds) for p, ds in zip(paths, headers, strict=True) if str(ds.SeriesInstanceUID) == series_uid
        ]
    elif len(uids) > 1:
        raise ImageReadError(
            f"cannot read {where}: the files hold {len(uids)} DICOM series (mixed SeriesInstanceUID); choose one "
            "with --series UID (API: series=): " + "; ".join(describe_series(headers))
        )
    else:
        chosen = list(zip(paths, headers, strict=True))
    for path, ds in chosen:
        kind = sop_kind(ds)
        if kind is not None:
            raise ImageReadError(
                f"cannot read {where}: {path.name} is {kind if kind.startswith('a ') else 'a ' + kind}, not an "
                "image instance; give the image series without it"
            )
    multiframe = [ds for _, ds in chosen if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multiframe:
        if len(chosen) > 1:
            raise InvalidInput(
                f"cannot read {where}: a series of {len(chosen)} instances of which {len(multiframe)} are "
                "multi-frame is not supported; give one enhanced (multi-frame) instance or single-frame slices"
            )
        return _read_multiframe(chosen[0][0], chosen[0][1], where, check_size)
    return _read_single_frames(chosen, where, check_size)


def _floats(ds, keyword, count, where, path):
    value = ds.get(keyword)
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ImageReadError(f"cannot read {where}: {path.name} has no valid {keyword}")
    return np.array(values)


def _read_single_frames(chosen, where, check_size):
    first_path, first = chosen[0]
    rows, columns = int(first.Rows), int(first.Columns)
    if len(chosen) == 1:
        if check_size is not None:
            check_size((columns, rows, 1))
        image = _decode([first_path], where)
        return DicomSeries(image, [first], [first_path])
    orientation = _floats(first, "ImageOrientationPatient", 6, where, first_path)
    spacing = _floats(first, "PixelSpacing", 2, where, first_path)
    normal = np.cross(orientation[:3], orientation[3:])
    placed = []
    for path, ds in chosen:
        if (int(ds.Rows), int(ds.Columns)) != (rows, columns):
            raise ImageReadError(
                f"cannot read {where}: mixed image sizes: {first_path.name} is {columns}x{rows} but {path.name} is "
                f"{int(ds.Columns)}x{int(ds.Rows)} (columns x rows)"
            )
        own = _floats(ds, "ImageOrientationPatient", 6, where, path)
        if np.abs(own - orientation).max() > ORIENTATION_TOLERANCE:
            raise ImageReadError(
                f"cannot read {where}: mixed orientation: {path.name} has ImageOrientationPatient "
                f"{tuple(np.round(own, 4))} but {first_path.name} has {tuple(np.round(orientation, 4))}"
            )
        own_spacing = _floats(ds, "PixelSpacing", 2, where, path)
        if np.abs(own_spacing - spacing).max() > 1e-4 * max(spacing.max(), 1.0):
            raise ImageReadError(
                f"cannot read {where}: mixed pixel spacing: {path.name} has {tuple(own_spacing)} but "
                f"{first_path.name} has {tuple(spacing)}"
            )
        position = _floats(ds, "ImagePositionPatient", 3, where, path)
        placed.append((float(normal @ position), path, ds))
    placed.sort(key=lambda item: item[0])
    along = np.array([p for p, _, _ in placed])
    steps = np.diff(along)
    k = int(np.argmin(steps))
    if steps[k] < DUPLICATE_TOLERANCE_MM:
        raise ImageReadError(
            f"cannot read {where}: {placed[k][1].name} and {placed[k + 1][1].name} share the slice position "
            f"{along[k]:.3f} mm along the normal (duplicate slice)"
        )
    step = float(steps.min())
    worst = int(np.argmax(steps))
    if steps[worst] > 1.5 * step:
        missing = round(steps[worst] / step) - 1
        raise ImageReadError(
            f"cannot read {where}: the series has a gap: {steps[worst]:.3f} mm between slice {worst + 1} "
            f"({placed[worst][1].name}, at {along[worst]:.3f} mm) and slice {worst + 2} ({placed[worst + 1][1].name}, "
            f"at {along[worst + 1]:.3f} mm) where the slice spacing is {step:.3f} mm: about {missing} slice(s) "
            "missing"
        )
    if abs(steps[worst] - step) > max(1e-3, 0.01 * step):
        raise ImageReadError(
            f"cannot read {where}: the slice spacing varies from {steps.min():.3f} to {steps.max():.3f} mm "
            f"(at slice {worst + 1}); resample it first"
        )
    if check_size is not None:
        check_size((columns, rows, len(placed)))
    paths = [path for _, path, _ in placed]
    image = _decode(paths, where)
    if image.GetSize() != (columns, rows, len(paths)):
        raise ImageReadError(
            f"cannot read {where}: the decoded series has size {image.GetSize()}, not "
            f"{(columns, rows, len(paths))}"
        )
    # GDCM takes the spacing from the first two positions; set the one these checks measured on all of them.
    image.SetSpacing((float(spacing[1]), float(spacing[0]), step))
    return DicomSeries(image, [ds for _, _, ds in placed], paths)


def _decode(paths, where):
    """Decode the pixels of already sorted and checked files with SimpleITK (GDCM: rescale, compression)."""
    reader = sitk.ImageSeriesReader() if len(paths) > 1 else sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    if len(paths) > 1:
        reader.SetFileNames([str(p) for p in paths])
    else:
        reader.SetFileName(str(paths[0]))
    try:
        image = reader.Execute()
    except RuntimeError:
        raise ImageReadError(f"cannot read {where}: the DICOM pixel data could not be decoded") from None
    if image.GetDimension() == 3 and image.GetSize()[2] == 1 and len(paths) == 1:
        image = image[:, :, 0]  # one single-frame instance: a 2-D image
    return image


def _read_multiframe(path, header, where, check_size):
    """One enhanced (multi-frame) instance, placed by its per-frame positions (highdicom)."""
    import highdicom as hd

    frames = int(header.NumberOfFrames)
    if check_size is not None:
        check_size((int(header.Columns), int(header.Rows), frames))
    try:
        instance = hd.imread(str(path))
        volume = instance.get_volume(apply_voi_transform=False)
    except (ValueError, RuntimeError, AttributeError, KeyError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"cannot read {where}: the multi-frame instance {path.name} ({frames} frames) does not form one regular "
            f"volume: {reason}"
        ) from None
    if volume.number_of_channel_dimensions:
        raise InvalidInput(
            f"cannot read {where}: the multi-frame instance {path.name} holds several channels (e.g. echoes or "
            "b-values per position); give one"
        )
    array, affine = np.asarray(volume.array), np.array(volume.affine, dtype=np.float64)
    # highdicom may order the slices either way; ours (as GDCM's) ascend along row x column cosines
    if np.dot(affine[:3, 0], np.cross(affine[:3, 2], affine[:3, 1])) < 0:
        affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (array.shape[0] - 1)
        affine[:3, 0] = -affine[:3, 0]
        array = array[::-1]
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    set_affine(image, affine)
    return DicomSeries(image, [header], [path])


def affine_of(image):
    """The 4x4 affine from (z, y, x) array indices to patient (LPS) millimetres of a 3-D SimpleITK image."""
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    scaled = direction * np.array(image.GetSpacing())  # columns: x, y, z axes
    affine = np.eye(4)
    affine[:3, :3] = scaled[:, ::-1]
    affine[:3, 3] = image.GetOrigin()
    return affine


def set_affine(image, affine):
    """Set spacing, direction and origin of a 3-D SimpleITK image from a (z, y, x)-index affine."""
    columns = np.asarray(affine, dtype=np.float64)[:3, :3][:, ::-1]  # x, y, z axes
    spacing = np.linalg.norm(columns, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (columns / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in np.asarray(affine)[:3, 3]))

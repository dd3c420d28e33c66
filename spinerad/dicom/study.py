"""Load a study (image + mask) from any input spinerad accepts, DICOM objects included.

The image is a file SimpleITK reads, a DICOM file or series folder (read by :mod:`spinerad.dicom.series`, the
one series reader), or an image object. The mask is a label-map file or folder, or a DICOM SEG or RTSTRUCT
(a file, or a folder holding only it), whose chosen ROI becomes a label map on the image grid.
"""

from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from ..errors import ImageReadError, InvalidInput
from .masks import DEFAULT_SEG_THRESHOLD, RoiObject, find_roi_object, read_rtstruct, read_seg
from .series import DicomSeries, is_dicom_file, read_series


@dataclass
class Study:
    """Image and label map as the pipeline uses them, with the DICOM objects they came from (if any)."""

    image: sitk.Image
    mask: sitk.Image
    #: the image's DICOM series, or None when the image was not DICOM
    source: DicomSeries = None
    #: the SEG/RTSTRUCT the mask came from and the ROI chosen in it, or None for a label map
    roi: RoiObject = None


def read_volume(source, what="image", series_uid=None):
    """An image or label map as (sitk.Image, DicomSeries or None); DICOM goes through the one series reader."""
    if isinstance(source, sitk.Image):
        return source, None
    if isinstance(source, DicomSeries):
        return source.image, source
    path = Path(source)
    if not path.exists():
        raise ImageReadError(f"{what} not found: {path}")
    if path.is_dir():
        series = read_series(path, what, series_uid)
        return series.image, series
    if is_dicom_file(path):
        series = read_series([path], f"{what} {path}", series_uid)
        return series.image, series
    if series_uid is not None:
        raise InvalidInput(f"--series chooses a series of a DICOM folder; the {what} {path} is not DICOM")
    try:
        return sitk.ReadImage(str(path)), None
    except RuntimeError:
        raise ImageReadError(f"cannot read {what} {path}: not a readable image file") from None


def load_study(
    image, mask, series=None, segment=None, roi=None, label=1, seg_threshold=DEFAULT_SEG_THRESHOLD
):
    """Read image and mask; a SEG/RTSTRUCT mask is turned into a label map holding ``label`` in the ROI.

    Parameters
    ----------
    image, mask : str, pathlib.Path, SimpleITK.Image (or DicomSeries for the image)
    series : str or None
        SeriesInstanceUID to read when the image folder holds several series.
    segment : int or None
        SEG segment number.
    roi : str or None
        RTSTRUCT ROI name or SEG segment label.
    label : int
        The label the ROI gets in the label map made from a SEG/RTSTRUCT (the extraction's label).
    seg_threshold : float
        FRACTIONAL SEG: a voxel is in the ROI when its value is >= this (0 < t <= 1).
    """
    image_volume, source = read_volume(image, "image", series)
    found = None if isinstance(mask, sitk.Image) else find_roi_object(mask)
    if found is None:
        if segment is not None or roi is not None:
            raise InvalidInput(
                "--segment/--roi choose a ROI of a DICOM SEG or RTSTRUCT mask; this mask is a label map (use --label)"
            )
        mask_volume, _ = read_volume(mask, "mask")
        return Study(image_volume, mask_volume, source, None)
    kind, path = found
    if kind == "seg":
        mask_volume, chosen = read_seg(path, image_volume, source, segment, roi, label, seg_threshold)
    else:
        if segment is not None:
            raise InvalidInput(
                "--segment chooses a SEG segment; an RTSTRUCT ROI is chosen by name with --roi"
            )
        mask_volume, chosen = read_rtstruct(path, image_volume, source, roi, label)
    return Study(image_volume, mask_volume, source, chosen)

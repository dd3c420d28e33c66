"""Image intake: read image and mask (any SimpleITK format, a DICOM series, SEG or RTSTRUCT) and validate them.

Validation follows PyRadiomics: the mask grid must match the image (size, spacing, origin and direction
within a tolerance), the label must be present, and the ROI must span enough dimensions and voxels. Every
failure is a typed error whose one-line message names the mismatch.
"""

import numpy as np
import SimpleITK as sitk

from .errors import GeometryMismatch, InvalidInput, LabelNotFound, RoiTooSmall

# ITK's own default coordinate and direction tolerance (used when geometryTolerance is not set).
DEFAULT_GEOMETRY_TOLERANCE = 1e-6


def read_image(source, what="image", series_uid=None):
    """Read ``source`` (a file SimpleITK reads, a DICOM file or series folder, or an ``sitk.Image``).

    DICOM is read by the one series reader (:func:`spinerad.dicom.read_series`), which refuses gaps, duplicate
    slices, mixed series/orientation/size and non-image objects; ``series_uid`` chooses one series of a folder
    holding several. A SEG or RTSTRUCT mask needs its image: see :func:`spinerad.dicom.load_study`.
    """
    from .dicom.study import read_volume

    return read_volume(source, what, series_uid)[0]


def select_mask_channel(mask, label_channel):
    """A segmentation stored as a vector image: take one channel, as PyRadiomics' ``label_channel``."""
    if mask.GetNumberOfComponentsPerPixel() == 1:
        return mask
    n = mask.GetNumberOfComponentsPerPixel()
    if label_channel >= n:
        raise InvalidInput(f"label_channel {label_channel} requested but the mask has only {n} channels")
    return sitk.VectorIndexSelectionCast(mask, label_channel)


def check_geometry(image, mask, tolerance=None):
    """Raise :class:`GeometryMismatch` naming the first property in which the grids differ."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInput(
            f"image has {image.GetNumberOfComponentsPerPixel()} components per voxel; expected a scalar image"
        )
    if image.GetDimension() not in (2, 3):
        raise InvalidInput(f"image is {image.GetDimension()}-D; expected a 2-D or 3-D image")
    if mask.GetDimension() != image.GetDimension():
        raise GeometryMismatch(f"mask is {mask.GetDimension()}-D but image is {image.GetDimension()}-D")
    if mask.GetSize() != image.GetSize():
        raise GeometryMismatch(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}")
    tol = DEFAULT_GEOMETRY_TOLERANCE if tolerance is None else tolerance
    coordinate_tol = abs(tol * image.GetSpacing()[0])
    checks = (
        ("spacing", image.GetSpacing(), mask.GetSpacing(), coordinate_tol),
        ("origin", image.GetOrigin(), mask.GetOrigin(), coordinate_tol),
        ("direction", image.GetDirection(), mask.GetDirection(), tol),
    )
    for name, a, b, limit in checks:
        if np.any(np.abs(np.subtract(a, b)) > limit):
            fa = tuple(round(v, 6) for v in a)
            fb = tuple(round(v, 6) for v in b)
            raise GeometryMismatch(
                f"mask {name} {fb} differs from image {name} {fa} (tolerance {limit:g}; see geometryTolerance)"
            )


def as_zyx(image):
    """A read-only 3-D (z, y, x) NumPy view of a SimpleITK image (2-D images get a z axis of 1)."""
    array = sitk.GetArrayViewFromImage(image)
    return array[None] if array.ndim == 2 else array


def spacing_zyx(image):
    """Voxel spacing in array order (2-D images get a z spacing of 1)."""
    spacing = image.GetSpacing()[::-1]
    return (1.0,) + tuple(spacing) if len(spacing) == 2 else tuple(spacing)


#: SimpleITK's integer pixel types: a mask of one of these is used as it is (others are cast).
INTEGER_PIXEL_IDS = (
    sitk.sitkUInt8,
    sitk.sitkInt8,
    sitk.sitkUInt16,
    sitk.sitkInt16,
    sitk.sitkUInt32,
    sitk.sitkInt32,
    sitk.sitkUInt64,
    sitk.sitkInt64,
)


def is_integer_image(image):
    """Whether a SimpleITK image holds integer voxels (labels need no cast)."""
    return image.GetPixelID() in INTEGER_PIXEL_IDS


def locate_roi(mask_array, label, minimum_dimensions=2, minimum_size=None, require_background=False):
    """Find the ROI of ``label``: its voxel count and tight (z, y, x) bounding box, PyRadiomics' checks applied."""
    from .kernels import label_bounding_box

    count, box, any_label = label_bounding_box(mask_array, label)
    if count == 0:
        if not any_label:
            raise LabelNotFound("the mask is empty: no voxel carries a label")
        present = np.unique(mask_array)
        present = ", ".join(str(v) for v in present[present != 0][:20])
        raise LabelNotFound(f"label {label} is not present in the mask (labels present: {present})")
    if require_background and count == mask_array.size:
        # PyRadiomics refuses a label map holding one value only ("nothing is segmented"), even the label.
        raise LabelNotFound(
            f"every voxel of the mask carries label {label}: nothing is segmented from a background"
        )
    check_roi_size(count, box, label, minimum_dimensions, minimum_size)
    return count, box


def check_roi_size(count, box, label, minimum_dimensions=2, minimum_size=None):
    """PyRadiomics' ROI checks: not a single voxel, enough dimensions, more than ``minimumROISize`` voxels."""
    extent = [s.stop - s.start for s in box]
    n_dims = sum(e > 1 for e in extent)
    if n_dims == 0:
        raise RoiTooSmall(f"the ROI of label {label} is a single voxel; features need at least 2")
    if n_dims < minimum_dimensions:
        raise RoiTooSmall(
            f"the ROI of label {label} spans {n_dims} dimension(s); minimumROIDimensions is {minimum_dimensions}"
        )
    if minimum_size is not None and count <= minimum_size:
        raise RoiTooSmall(f"the ROI of label {label} has {count} voxels; minimumROISize is {minimum_size}")

"""Feature maps as DICOM Parametric Map objects (highdicom), referencing the source image series.

One Parametric Map per feature: the map's voxels on its own grid (the ROI box grown by the kernel radius,
or the resampled grid) as 64-bit float frames, placed in the source series' frame of reference, with a
Real World Value Mapping naming the feature. PACS viewers overlay it on the series it references.
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import InvalidInput
from .series import read_series

#: LUT Label (SH, 16 characters) of every map's Real World Value Mapping; the feature is in the explanation.
LUT_LABEL = "SPINERAD_MAP"


def read_source_series(folder):
    """Read the headers (pydicom, no pixels) of the image series in ``folder``, the series the maps reference.

    Read by :func:`spinerad.dicom.series.read_series`, the one DICOM series reader (one series, sorted,
    gaps and mixed geometry refused), as the image the maps were computed from is.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"DICOM parametric maps need the image as a DICOM series folder, got {folder}")
    return read_series(folder).datasets


def _volume(feature_map, frame_of_reference_uid):
    """The map as a highdicom Volume in the source series' frame of reference, one frame per source slice.

    The map's grid shares the source series' direction (it is the ROI box of the image read from that
    series, or its resampled grid), so its (z, y, x) array is indexed (slice, row, column) as the source is:
    frames are stored parallel to the source slices, with the source's row and column directions, which is
    what viewers need to overlay a map on the series it references. (``Volume.from_simpleitk`` takes the
    array in (x, y, z) order and would store sagittal frames over an axial series.)
    """
    import highdicom as hd

    from .series import affine_of

    array = sitk.GetArrayFromImage(sitk.Cast(feature_map, sitk.sitkFloat64))
    return hd.Volume(array, affine_of(feature_map), "PATIENT", frame_of_reference_uid)


def parametric_map(feature_map, feature_name, source_images, series_number=901, instance_number=1):
    """A highdicom ``ParametricMap`` of one feature map referencing ``source_images``.

    Parameters
    ----------
    feature_map : SimpleITK.Image
        float64 map (from :func:`spinerad.voxel.iter_feature_maps`) in the source series' patient space.
    feature_name : str
        PyRadiomics' name of the feature (``original_glcm_Contrast``).
    source_images : list of pydicom.Dataset
        The image series the map was computed from.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    values = sitk.GetArrayFromImage(feature_map)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if high == low:
        high = low + 1.0
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=LUT_LABEL,
        lut_explanation=feature_name[:64],
        unit=codes.UCUM.NoUnits,
        value_range=(low, high),
        slope=1,
        intercept=0,
    )
    volume = _volume(feature_map, source_images[0].FrameOfReferenceUID)
    result = hd.pm.ParametricMap(
        source_images=source_images,
        pixel_array=volume,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=instance_number,
        manufacturer="spinerad",
        manufacturer_model_name="spinerad feature maps",
        software_versions=__version__,
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        content_description=feature_name[:64],
        content_label="FEATURE_MAP",
        voi_lut_transformations=[
            hd.VOILUTTransformation(window_center=(low + high) / 2, window_width=high - low)
        ],
    )
    # General Series Laterality is Type 2C; dciodvfy asks for it (empty: a map of no paired organ)
    result.Laterality = ""
    return result


def read_parametric_map(path, like=None):
    """``(feature name, SimpleITK.Image)`` of a Parametric Map, read with highdicom.

    The image is indexed (frame, row, column) as stored: highdicom may store the frames in the other order
    along the slice normal than the source series. ``like``: a SimpleITK image whose axis order and signs the
    result takes (e.g. the NRRD map); the voxel values and physical positions are unchanged.
    """
    import highdicom as hd
    from highdicom.pm.sop import pmread

    from .series import affine_of, set_affine

    pm = pmread(str(path))
    volume = pm.get_volume(apply_real_world_transform=False)
    if like is not None:
        volume = volume.match_orientation(hd.VolumeGeometry(affine_of(like), like.GetSize()[::-1], "PATIENT"))
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    set_affine(image, volume.affine)
    return str(pm.ContentDescription), image


__all__ = ["parametric_map", "read_parametric_map", "read_source_series"]

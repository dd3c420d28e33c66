"""The extraction pipeline: intake -> preprocess -> discretise -> matrices -> features.

Plain Python that knows nothing of the CLI or gRPC; both are thin faces over :func:`extract`.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from . import intake, jit, preprocess
from .errors import DeviceUnavailable, GeometryMismatch, InvalidInput, NonFiniteImage, NotSupported
from .features import FEATURE_CLASSES, RoiContext
from .imagetypes import IMAGE_TYPES, NEEDS_ROI
from .settings import ExtractionParams, load_params


class StageTimer:
    """Wall time per pipeline stage in milliseconds (stages in execution order, plus ``total``)."""

    def __init__(self):
        self.ms = {}

    @contextmanager
    def stage(self, name):
        """Time one stage (repeated stages add up)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1e3

    def as_dict(self):
        """The stage times and their sum as ``total``."""
        return {**self.ms, "total": sum(self.ms.values())}


def _resolve_params(params):
    if isinstance(params, ExtractionParams):
        return params
    return load_params(params)


def _check_device(device):
    if device == "cpu":
        return
    if device != "cuda":
        raise InvalidInput(f"unknown device {device!r}; choose cpu or cuda")
    from .kernels._cuda import cuda_unavailable_reason

    reason = cuda_unavailable_reason()
    if reason:
        raise DeviceUnavailable(f"device 'cuda' requested but {reason}")


@dataclass
class PreparedRoi:
    """The validated, preprocessed ROI every feature computation starts from."""

    image: sitk.Image
    box: tuple
    in_roi: np.ndarray
    shape_mask: np.ndarray
    values: np.ndarray
    settings: object
    #: the ROI before re-segmentation and its box (IBSI's morphological mask)
    morph_box: tuple = None
    morph_mask: np.ndarray = None


def _prepare(image, mask, settings, timer, ibsi_options=None, diagnostics=None):
    """Validate, normalise, resample/pre-crop and re-segment, as PyRadiomics' ``execute`` does.

    With ``ibsi_options`` (IBSI mode), resampling follows IBSI 1 instead (see :func:`preprocess.resample_ibsi`)
    and IBSI outlier filtering may follow the range re-segmentation.
    """
    with timer.stage("validate"):
        mask = intake.select_mask_channel(mask, settings.label_channel)
        if not intake.is_integer_image(mask):
            mask = sitk.Cast(mask, sitk.sitkUInt32)  # PyRadiomics' cast: truncates fractional labels
        try:
            intake.check_geometry(image, mask, settings.geometry_tolerance)
        except GeometryMismatch:
            if not settings.correct_mask:
                raise
            _, own_box = intake.locate_roi(intake.as_zyx(mask), settings.label, 0)
            mask = preprocess.correct_mask(image, mask, own_box)
        mask_array = intake.as_zyx(mask)
        count, box = intake.locate_roi(mask_array, settings.label, 0, require_background=True)
    if diagnostics is not None:  # IBSI mode: the values after each processing step (spinerad.ibsi_morph)
        _diagnose(diagnostics, "init", image, mask_array, box, settings.label)
    with timer.stage("preprocess"):
        if settings.normalize:
            image = preprocess.normalize_image(image, settings.normalize_scale, settings.remove_outliers)
        if settings.resampled_pixel_spacing is not None and ibsi_options is not None:
            image, mask = preprocess.resample_ibsi(
                image, mask, settings.label, settings.resampled_pixel_spacing, settings.interpolator, ibsi_options
            )
        elif settings.resampled_pixel_spacing is not None:
            image, mask = preprocess.resample(image, mask, box, settings)
        elif settings.pre_crop:
            image, mask = preprocess.crop(image, mask, box, settings.pad_distance)
        if settings.resampled_pixel_spacing is not None or settings.pre_crop:
            mask_array = intake.as_zyx(mask)
            count, box = intake.locate_roi(mask_array, settings.label, 0)
        # (otherwise the mask is unchanged: no second scan of a possibly huge volume)
        intake.check_roi_size(count, box, settings.label, settings.minimum_roi_dimensions, settings.minimum_roi_size)
        if diagnostics is not None:
            _diagnose(diagnostics, "interp", image, mask_array, box, settings.label)
        image_array = intake.as_zyx(image)
        if np.issubdtype(image_array.dtype, np.complexfloating):
            raise InvalidInput("image has complex voxel values; expected real intensities")
        in_roi = mask_array[box] == settings.label
        shape_mask = in_roi
        morph_box, morph_mask = box, in_roi
        outliers = ibsi_options.outlier_sigma if ibsi_options is not None else None
        if settings.resegment_range is not None or outliers is not None:
            if settings.resegment_range is not None:
                in_roi = preprocess.resegment(image_array[box], in_roi, settings)
            if outliers is not None:
                in_roi = preprocess.resegment(
                    image_array[box], in_roi, replace(settings, resegment_range=(-outliers, outliers), resegment_mode="sigma")
                )
            _, sub_box = intake.locate_roi(in_roi.view(np.uint8), 1, settings.minimum_roi_dimensions)
            in_roi = in_roi[sub_box]
            # PyRadiomics describes the shape of the original mask (cropped to the re-segmented box) unless
            # resegmentShape is set.
            shape_mask = in_roi if settings.resegment_shape else shape_mask[sub_box]
            box = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, sub_box))
        roi_values = image_array[box][in_roi]
        if diagnostics is not None:
            from .ibsi_morph import mask_diagnostics

            diagnostics.update(
                mask_diagnostics("reseg", image_array.shape, box, in_roi, morph_box, morph_mask, roi_values)
            )
        if np.issubdtype(roi_values.dtype, np.floating) and not np.all(np.isfinite(roi_values)):
            bad = int(np.count_nonzero(~np.isfinite(roi_values)))
            raise NonFiniteImage(f"the image has {bad} NaN or infinite voxel value(s) inside the ROI")
    return PreparedRoi(image, box, in_roi, shape_mask, roi_values, settings, morph_box, morph_mask)


def _diagnose(diagnostics, stage, image, mask_array, box, label):
    from .ibsi_morph import image_diagnostics, mask_diagnostics

    diagnostics.update(image_diagnostics(stage, image))
    roi = mask_array[box] == label
    values = intake.as_zyx(image)[box][roi]
    diagnostics.update(mask_diagnostics(stage, mask_array.shape, box, roi, box, roi, values))


def _extract_ibsi(roi, params, timer):
    from . import ibsi

    if [name for name, _ in params.image_types] != ["Original"]:
        raise NotSupported("IBSI mode computes the Original image only")
    s = roi.settings
    with timer.stage("discretise"):
        lower = None
        if s.resegment_range is not None and s.resegment_mode == "absolute":
            lower = sorted(s.resegment_range)[0]
        levels, n_levels = ibsi.discretise(roi.values, s.bin_width, s.bin_count, lower)
        # Work on the box of the morphological (pre-re-segmentation) mask: GLDZM distances are measured to
        # its border, not to holes that re-segmentation cut into the intensity mask.
        inner = tuple(slice(b.start - m.start, b.stop - m.start) for b, m in zip(roi.box, roi.morph_box))
        volume = np.zeros(roi.morph_mask.shape, dtype=np.int64)
        volume[inner][roi.in_roi] = levels
    options = params.ibsi
    bounds = sorted(s.resegment_range) if s.resegment_range is not None and len(s.resegment_range) == 2 else None
    ivh = {"bin_width": options.ivh_bin_width, "bin_count": options.ivh_bin_count, "bounds": bounds}
    with timer.stage("ibsi"):
        features = ibsi.ibsi_features(roi.values, volume, n_levels, ivh, roi.morph_mask)
    from . import ibsi_morph

    image_array = intake.as_zyx(roi.image)
    spacing = intake.spacing_zyx(roi.image)
    int_mask = volume > 0
    with timer.stage("morphology"):
        features.update(
            ibsi_morph.morphology_features(roi.morph_mask, int_mask, image_array[roi.morph_box], spacing)
        )
    with timer.stage("local_intensity"):
        offset = [b.start for b in roi.morph_box]
        features.update(ibsi_morph.local_intensity_features(image_array, int_mask, offset, spacing))
    return features


def extract(image, mask, params=None, label=None, device="cpu", timer=None, ibsi=False, series=None, segment=None,
            roi=None, seg_threshold=0.5):
    """Compute radiomics features of one ROI, PyRadiomics-exact.

    Parameters
    ----------
    image, mask : str, pathlib.Path or SimpleITK.Image
        The image and its label map: any file SimpleITK reads, a DICOM series folder, or an image object.
    params : str, pathlib.Path, dict, ExtractionParams or None
        A PyRadiomics-format parameter file (YAML/JSON) or mapping; None for PyRadiomics' defaults
        (Original image, firstorder + glcm + glrlm, binWidth 25).
    label : int or None
        ROI label; overrides the ``label`` setting.
    device : {"cpu", "cuda"}
        Where the texture-matrix kernels run.
    timer : StageTimer or None
        Receives per-stage wall times (file loading is not timed; ``compile``: compiling or loading the
        kernels, the first extraction of a process only).
    ibsi : bool
        IBSI mode: the IBSI 1 families and aggregations named by IBSI tags (``cm_joint_max_3D_comb``, ...)
        instead of PyRadiomics' classes; see :mod:`spinerad.ibsi`.
    series, segment, roi, seg_threshold
        DICOM input (see :func:`spinerad.dicom.load_study`): the SeriesInstanceUID of an image folder holding
        several series; the SEG segment number or RTSTRUCT ROI name (or SEG segment label) of a DICOM mask;
        the threshold of a FRACTIONAL SEG.

    Returns
    -------
    dict
        ``{feature name: float}`` with PyRadiomics names (``original_glcm_Contrast``, ...), or IBSI tags.

    Raises
    ------
    spinerad.errors.InvalidInput
        Unreadable files, geometry mismatch, absent label, too small ROI, non-finite voxels, bad settings.
    spinerad.errors.DeviceUnavailable
        ``device="cuda"`` on a machine without a usable GPU.
    """
    params = _resolve_params(params)
    _check_device(device)
    settings = params.settings if label is None else params.settings.with_overrides(label=label)
    image, mask = read_study(image, mask, series, segment, roi, settings.label, seg_threshold)
    timer = timer or StageTimer()
    with timer.stage("compile"):  # compiling (first time) or loading the kernels, once per process
        jit.ensure_compiled(params, device, mask, ibsi)
    diagnostics = {} if ibsi else None
    roi = _prepare(image, mask, settings, timer, params.ibsi if ibsi else None, diagnostics)
    if ibsi:
        return {**diagnostics, **_extract_ibsi(roi, params, timer)}
    image, box, in_roi, shape_mask, roi_values = roi.image, roi.box, roi.in_roi, roi.shape_mask, roi.values
    spacing = intake.spacing_zyx(image)
    features = {}
    shape_done = False
    for image_type, custom in params.image_types:
        type_settings = settings.with_overrides(**dict(custom)) if custom else settings
        if image_type in NEEDS_ROI:
            derived = IMAGE_TYPES[image_type](image, type_settings, roi=(box, in_roi))
        else:
            derived = IMAGE_TYPES[image_type](image, type_settings)
        while True:
            with timer.stage("filter"):
                item = next(derived, None)
            if item is None:
                break
            prefix, filtered = item
            with timer.stage("discretise"):
                values = filtered[box][in_roi] if image_type != "Original" else roi_values
                _, grey_levels, compact, counts = preprocess.discretise(
                    values, type_settings.bin_width, type_settings.bin_count
                )
                levels = np.full(in_roi.shape, -1, dtype=np.int32)
                levels[in_roi] = compact
                ctx = RoiContext(
                    values=values.astype(np.float64),
                    levels=levels,
                    grey_levels=grey_levels,
                    level_counts=counts,
                    spacing_zyx=spacing,
                    shape_mask=shape_mask,
                    settings=type_settings,
                    device=device,
                )
            for class_name, requested in params.feature_classes:
                feature_class = FEATURE_CLASSES[class_name]
                if not feature_class.per_image_type:
                    if shape_done:
                        continue
                class_prefix = prefix if feature_class.per_image_type else "original"
                names = feature_class.resolve(requested)
                with timer.stage(class_name):
                    values_by_name = feature_class.compute(ctx, names)
                for name, value in values_by_name.items():
                    features[f"{class_prefix}_{class_name}_{name}"] = float(value)
            shape_done = True
    return features


def read_study(image_path, mask_path, series=None, segment=None, roi=None, label=1, seg_threshold=0.5):
    """Load image and mask into memory (the part of an extraction the timings exclude).

    A DICOM SEG/RTSTRUCT mask becomes a label map holding ``label`` in the chosen ROI (see
    :func:`spinerad.dicom.load_study`, which also returns the DICOM objects).
    """
    from .dicom.study import load_study

    study = load_study(image_path, mask_path, series, segment, roi, label, seg_threshold)
    return study.image, study.mask


__all__ = ["PreparedRoi", "StageTimer", "extract", "read_study"]

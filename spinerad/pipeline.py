"""The extraction pipeline: intake -> preprocess -> discretise -> matrices -> features.

Plain Python that knows nothing of the CLI or gRPC; both are thin faces over :func:`extract`.

Over 500 lines on purpose: the two schedules of one extraction (classes on the worker pool of
:mod:`spinerad.workers`, and :func:`_extract_spread` for filtered profiles) share its private steps
(discretisation, class tasks, PyRadiomics' output order); apart they would pass those across modules.
"""

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from . import intake, jit, preprocess, workers
from .cropping import FilterSource, Normaliser
from .errors import DeviceUnavailable, GeometryMismatch, InvalidInput, NonFiniteImage, NotSupported
from .features import FEATURE_CLASSES, SHARED_FOLLOWER, RoiContext, shared_work
from .imagetypes import IMAGE_TYPES, NEEDS_ROI
from .settings import ExtractionParams, load_params


class StageTimer:
    """Wall time per pipeline stage in milliseconds (stages in execution order, plus ``total``).

    Stages that run side by side in worker threads each count their own wall time, so ``total`` (their sum)
    can exceed the extraction's wall time.
    """

    def __init__(self):
        self.ms = {}
        self._lock = threading.Lock()  # stages of one extraction run in several threads

    @contextmanager
    def stage(self, name):
        """Time one stage (repeated stages add up, also when they run in parallel threads)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1e3
            with self._lock:
                self.ms[name] = self.ms.get(name, 0.0) + elapsed

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
    #: what the image types filter: the (normalised) image around the ROI box (spinerad.cropping)
    source: FilterSource = None


def _prepare(image, mask, settings, timer, ibsi_options=None, diagnostics=None):
    """Validate, normalise, resample/pre-crop and re-segment, as PyRadiomics' ``execute`` does.

    With ``ibsi_options`` (IBSI mode), resampling follows IBSI 1 instead (see :func:`preprocess.resample_ibsi`)
    and IBSI outlier filtering may follow the range re-segmentation.
    """
    submit = workers.submitter()
    # The whole image's statistics (normalisation) need nothing the validation finds: a worker takes them
    # while this thread scans the mask (an error of either is raised in the old order, validation's first).
    statistics = None
    if settings.normalize and ibsi_options is None:
        statistics = submit(Normaliser, image, settings.normalize_scale, settings.remove_outliers)
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
        # Crop before preprocessing (spinerad.cropping): normalisation's statistics are the whole image's, but
        # it is applied, and resampling and the filters run, only on the ROI's box plus each step's margin.
        normaliser = None
        if statistics is not None:
            normaliser = statistics.result()
        elif settings.normalize:
            image = preprocess.normalize_image(image, settings.normalize_scale, settings.remove_outliers)
        croppable = False
        grid_image = None  # IBSI mode with interpolation: the whole new grid's image (diagnostics)
        if settings.resampled_pixel_spacing is not None and ibsi_options is not None:
            from .ibsi_morph import PEAK_RADIUS  # (the crop: the ROI plus the local-intensity sphere)

            image, mask, grid_image = preprocess.resample_ibsi_around(
                image,
                mask,
                settings.label,
                settings.resampled_pixel_spacing,
                settings.interpolator,
                ibsi_options,
                box,
                PEAK_RADIUS,
            )
        elif settings.resampled_pixel_spacing is not None:
            image, mask = preprocess.resample(image, mask, box, settings, normaliser, submit)
        elif settings.pre_crop:
            image, mask = preprocess.crop(image, mask, box, settings.pad_distance)
            if normaliser is not None:
                image = normaliser.image(image)
        else:
            croppable = True  # the filters' domain is the whole image: hand out crops of it
        if settings.resampled_pixel_spacing is not None or settings.pre_crop:
            mask_array = intake.as_zyx(mask)
            count, box = intake.locate_roi(mask_array, settings.label, 0)
        # (otherwise the mask is unchanged: no second scan of a possibly huge volume)
        intake.check_roi_size(
            count, box, settings.label, settings.minimum_roi_dimensions, settings.minimum_roi_size
        )
        if diagnostics is not None:
            rounded = grid_image is not None and ibsi_options.round_intensities
            _diagnose(diagnostics, "interp", image, mask_array, box, settings.label, grid_image, rounded)
        source = FilterSource(image, box, normaliser if croppable else None, croppable)
        box_values = source.box_array()
        if np.issubdtype(box_values.dtype, np.complexfloating):
            raise InvalidInput("image has complex voxel values; expected real intensities")
        in_roi = mask_array[box] == settings.label
        shape_mask = in_roi
        morph_box, morph_mask = box, in_roi
        outliers = ibsi_options.outlier_sigma if ibsi_options is not None else None
        if settings.resegment_range is not None or outliers is not None:
            if settings.resegment_range is not None:
                in_roi = preprocess.resegment(box_values, in_roi, settings)
            if outliers is not None:
                in_roi = preprocess.resegment(
                    box_values,
                    in_roi,
                    replace(settings, resegment_range=(-outliers, outliers), resegment_mode="sigma"),
                )
            _, sub_box = intake.locate_roi(in_roi.view(np.uint8), 1, settings.minimum_roi_dimensions)
            in_roi = in_roi[sub_box]
            # PyRadiomics describes the shape of the original mask (cropped to the re-segmented box) unless
            # resegmentShape is set.
            shape_mask = in_roi if settings.resegment_shape else shape_mask[sub_box]
            box = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, sub_box, strict=True))
            box_values = box_values[sub_box]
            source.box = box
        roi_values = box_values[in_roi]
        if diagnostics is not None:
            from .ibsi_morph import mask_diagnostics

            grid_shape = mask_array.shape if grid_image is None else grid_image.GetSize()[::-1]
            diagnostics.update(
                mask_diagnostics("reseg", grid_shape, box, in_roi, morph_box, morph_mask, roi_values)
            )
        if np.issubdtype(roi_values.dtype, np.floating) and not np.all(np.isfinite(roi_values)):
            bad = int(np.count_nonzero(~np.isfinite(roi_values)))
            raise NonFiniteImage(f"the image has {bad} NaN or infinite voxel value(s) inside the ROI")
    return PreparedRoi(image, box, in_roi, shape_mask, roi_values, settings, morph_box, morph_mask, source)


def _diagnose(diagnostics, stage, image, mask_array, box, label, grid_image=None, rounded=False):
    """IBSI diagnostics of a step (``grid_image``: the whole grid of crop ``image``, ``rounded`` as it is)."""
    from .ibsi_morph import image_diagnostics, mask_diagnostics

    whole = image if grid_image is None else grid_image
    diagnostics.update(image_diagnostics(stage, whole, rounded))
    roi = mask_array[box] == label
    values = intake.as_zyx(image)[box][roi]
    grid_shape = whole.GetSize()[::-1]
    diagnostics.update(mask_diagnostics(stage, grid_shape, box, roi, box, roi, values))


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
        inner = tuple(
            slice(b.start - m.start, b.stop - m.start) for b, m in zip(roi.box, roi.morph_box, strict=True)
        )
        volume = np.zeros(roi.morph_mask.shape, dtype=np.int64)
        volume[inner][roi.in_roi] = levels
    options = params.ibsi
    bounds = (
        sorted(s.resegment_range) if s.resegment_range is not None and len(s.resegment_range) == 2 else None
    )
    ivh = {"bin_width": options.ivh_bin_width, "bin_count": options.ivh_bin_count, "bounds": bounds}
    from . import ibsi_morph

    image_array = intake.as_zyx(roi.image)
    spacing = intake.spacing_zyx(roi.image)
    int_mask = volume > 0

    def autocorrelation():
        with timer.stage("morphology"):
            return ibsi_morph.spatial_autocorrelation(int_mask, image_array[roi.morph_box], spacing)

    def morphology(autocorrelation):
        with timer.stage("morphology"):
            return ibsi_morph.morphology_features(
                roi.morph_mask, int_mask, image_array[roi.morph_box], spacing, autocorrelation
            )

    # Two workers beside the texture families and local intensity: Moran's I / Geary's C (FFTs) and the rest
    # of morphology, which takes the first's result at its end (submitted after it: never waits on queued work)
    submit = workers.submitter()
    morphology = submit(morphology, submit(autocorrelation))
    with timer.stage("ibsi"):
        features = ibsi.ibsi_features(roi.values, volume, n_levels, ivh, roi.morph_mask, options.aggregations)
    with timer.stage("local_intensity"):
        offset = [b.start for b in roi.morph_box]
        features.update(ibsi_morph.local_intensity_features(image_array, int_mask, offset, spacing))
    features.update(morphology.result())
    return features


def extract(
    image,
    mask,
    params=None,
    label=None,
    device="cpu",
    timer=None,
    ibsi=False,
    series=None,
    segment=None,
    roi=None,
    seg_threshold=0.5,
):
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
    in_roi, shape_mask = roi.in_roi, roi.shape_mask
    spacing = intake.spacing_zyx(roi.image)
    spread = _image_type_submitter(params, device)
    if spread is not None:  # profiles with filtered image types: see _extract_spread
        return _extract_spread(roi, params, settings, spacing, device, timer, spread)
    # Independent work runs side by side (see _executor): the main thread filters the image types one after
    # the other while workers discretise each derived image and compute its feature classes.
    # (CUDA and small ROIs run in line: see spinerad.workers.class_runner)
    run = workers.class_runner(roi, device)
    # (derived image number or -1 for the mask's classes, name prefix, class name, future of {feature: value}),
    # submitted longest first
    results = []
    derived_count = 0
    shape_done = False
    class_names = {name for name, _ in params.feature_classes}
    for image_type, custom in params.image_types:
        type_settings = settings.with_overrides(**dict(custom)) if custom else settings
        for prefix, values in _derived_images(image_type, type_settings, roi, timer):
            classes = [(FEATURE_CLASSES[name], requested) for name, requested in params.feature_classes]
            if not shape_done:
                # The mask's own classes (shape) need no discretised image: they start at once.
                results += _mask_classes(-1, classes, spacing, shape_mask, type_settings, device, timer, run)
            # classes of this image that share a pass over it (spinerad.features.shared_work)
            share = shared_work(class_names, type_settings, device)
            context = run(
                _discretise,
                values,
                image_type != "Original",
                in_roi,
                shape_mask,
                spacing,
                type_settings,
                device,
                timer,
                share,
            )
            followers = {SHARED_FOLLOWER[key] for key in share}
            for feature_class, requested in _by_cost(classes, per_image_type=True, last=followers):
                names = feature_class.resolve(requested)
                results.append(
                    (
                        derived_count,
                        prefix,
                        feature_class.name,
                        run(_compute_class, feature_class, context, names, timer),
                    )
                )
            shape_done = True
            derived_count += 1
    if not shape_done:  # no derived image at all (every LoG sigma too large): PyRadiomics still has shape
        classes = [(FEATURE_CLASSES[name], requested) for name, requested in params.feature_classes]
        results += _mask_classes(-1, classes, spacing, shape_mask, settings, device, timer, run)
    # Output in PyRadiomics' order: the mask's classes (it computes shape before any image type), then per
    # derived image the classes as the parameter file lists them.
    return _collect(results, params)


def _mask_classes(key, classes, spacing, shape_mask, settings, device, timer, run):
    """``[(key, "original", class name, future)]`` of the mask's own classes (shape) among ``classes``."""
    mask_context = _done(RoiContext(None, None, None, None, spacing, shape_mask, settings, device))
    results = []
    for feature_class, requested in _by_cost(classes, per_image_type=False):
        names = feature_class.resolve(requested)
        future = run(_compute_class, feature_class, mask_context, names, timer)
        results.append((key, "original", feature_class.name, future))
    return results


def _collect(results, params):
    """``{feature name: value}`` from ``(order key, prefix, class, future)`` items, in PyRadiomics' order.

    The key orders the derived images (the mask's classes first); within one, the classes as listed.
    """
    order = {name: rank for rank, (name, _) in enumerate(params.feature_classes)}
    results.sort(key=lambda item: (item[0], order[item[2]]))
    features = {}
    for _, class_prefix, class_name, future in results:
        for name, value in future.result().items():
            features[f"{class_prefix}_{class_name}_{name}"] = float(value)
    return features


#: Submission order of the feature classes: the longest first, so that the last class to start is a short one
#: and the workers finish together (measured single-threaded on the CT phantom, ms: shape 5.9, glcm 5.7
#: (9.2 with GLRLM's share of the run pass), glrlm 4.3, glszm 3.7, gldm 2.6 (2.8 with NGTDM's share of the
#: neighbour scan), firstorder 1.0, ngtdm 2.6; brain1 and lung2 rank alike). A class that reads another's
#: shared pass (spinerad.features.SHARED_FOLLOWER: 0.5 ms for GLRLM, 0.1 for NGTDM) goes last.
_COST_RANK = {
    "shape": 0,
    "glcm": 1,
    "glrlm": 2,
    "glszm": 3,
    "gldm": 4,
    "firstorder": 5,
    "ngtdm": 6,
    "shape2D": 7,
}


def _by_cost(classes, per_image_type, last=()):
    """The (class, requested names) pairs of one kind, longest-running first, the classes in ``last`` last."""
    chosen = [item for item in classes if item[0].per_image_type == per_image_type]
    return sorted(
        chosen, key=lambda item: (item[0].name in last, _COST_RANK.get(item[0].name, len(_COST_RANK)))
    )


def _done(value):
    future = Future()
    future.set_result(value)
    return future


def _discretise(values, filtered, in_roi, shape_mask, spacing, settings, device, timer, share=frozenset()):
    """The :class:`RoiContext` of one derived image (``filtered``: ``values`` is its whole ROI box)."""
    with timer.stage("discretise"):
        if filtered:
            values = values[in_roi]
        _, grey_levels, compact, counts = preprocess.discretise(
            values, settings.bin_width, settings.bin_count
        )
        levels = np.full(in_roi.shape, -1, dtype=np.int32)
        levels[in_roi] = compact
        return RoiContext(
            # (a filtered image's ROI values are a fresh array already: no second copy)
            values=values.astype(np.float64, copy=not filtered),
            levels=levels,
            grey_levels=grey_levels,
            level_counts=counts,
            spacing_zyx=spacing,
            shape_mask=shape_mask,
            settings=settings,
            device=device,
            share=share,
        )


def _compute_class(feature_class, context, names, timer):
    # ``context`` is the future of _discretise, submitted before this task: with first-in-first-out workers it
    # has started (or finished) by the time this task waits for it, so waiting cannot deadlock.
    context = context.result()
    with timer.stage(feature_class.name):
        return feature_class.compute(context, names)


#: Filters the spread schedule runs first: the wavelet yields 8 derived images from one task.
_FILTER_RANK = {"Wavelet": 0, "LBP3D": 1, "LoG": 2}


def _image_type_submitter(params, device):
    """``submit`` of the worker pool when :func:`_extract_spread` applies to ``params``, else None.

    It applies on the CPU with more than one worker and at least one filtered image type: then there is
    enough independent work (every derived image's classes, every filter) to keep all workers busy with
    their single-threaded kernels (:mod:`spinerad.workers`). Filter tasks only queue class tasks, never wait
    on them, so sharing the pool with the classes (and other extractions) cannot deadlock.
    """
    if device != "cpu" or all(name == "Original" for name, _ in params.image_types):
        return None
    submit = workers.submitter()
    return None if submit is workers.run_inline else submit


def _filter_parts(image_type, settings):
    """The independent filter tasks of one image type: one per LoG sigma, else the image type as a whole."""
    if image_type == "LoG" and len(settings.sigma) > 1:
        return [replace(settings, sigma=(sigma,)) for sigma in settings.sigma]
    return [settings]


def _extract_spread(roi, params, settings, spacing, device, timer, submit):
    """:func:`extract` for profiles with filtered image types: every filter and every class is a task.

    PyRadiomics' exampleMR/exampleCT profiles derive 13+ images (Original, LoG per sigma, 8 wavelet bands) of
    6 classes each: ~80 independent tasks. The shared schedule (main thread filtering, workers running
    parallel kernels) left cores idle or oversubscribed on them (brain1: no gain from a second core): here
    each worker runs its tasks with single-threaded kernels, and each filter task (one LoG sigma, the wavelet)
    discretises its images and queues their classes, longest first. Results are the same values in the same
    order (PyRadiomics': the mask's classes, then per image type and derived image the classes as listed).
    """
    classes = [(FEATURE_CLASSES[name], requested) for name, requested in params.feature_classes]
    # (order key, name prefix, class name, future of {feature: value}); appended by workers
    results = _mask_classes((-1,), classes, spacing, roi.shape_mask, settings, device, timer, submit)
    tasks = []
    for position, (image_type, custom) in enumerate(params.image_types):
        type_settings = settings.with_overrides(**dict(custom)) if custom else settings
        for part, part_settings in enumerate(_filter_parts(image_type, type_settings)):
            tasks.append(((position, part), image_type, part_settings))
    tasks.sort(key=lambda task: _FILTER_RANK.get(task[1], len(_FILTER_RANK)))
    filtering = {}
    for key, image_type, part_settings in tasks:
        arguments = (key, image_type, part_settings, classes, roi, spacing, device, timer, submit, results)
        filtering[key] = submit(_filter_task, *arguments)
    for key in sorted(filtering):  # a filter's error first, in image-type order (as filtering in line)
        filtering[key].result()
    return _collect(results, params)


def _derived_images(image_type, settings, roi, timer):
    """``(name prefix, values)`` of each image ``image_type`` derives, filtering timed as "filter".

    ``values``: the ROI's values for Original, else the filtered ROI box.
    """
    if image_type in NEEDS_ROI:  # LBP3D samples around the ROI's own voxels
        derived = IMAGE_TYPES[image_type](roi.source, settings, roi=roi.in_roi)
    else:
        derived = IMAGE_TYPES[image_type](roi.source, settings)
    while True:
        with timer.stage("filter"):
            item = next(derived, None)
        if item is None:
            return
        prefix, box = item
        yield prefix, (roi.values if image_type == "Original" else box)


def _filter_task(key, image_type, settings, classes, roi, spacing, device, timer, submit, results):
    """Filter one part of an image type; discretise each derived image and queue its ``classes``."""
    for index, (prefix, values) in enumerate(_derived_images(image_type, settings, roi, timer)):
        share = shared_work({feature_class.name for feature_class, _ in classes}, settings, device)
        filtered = image_type != "Original"
        context = _done(
            _discretise(values, filtered, roi.in_roi, roi.shape_mask, spacing, settings, device, timer, share)
        )
        followers = {SHARED_FOLLOWER[k] for k in share}
        for feature_class, requested in _by_cost(classes, per_image_type=True, last=followers):
            names = feature_class.resolve(requested)
            future = submit(_compute_class, feature_class, context, names, timer)
            results.append(((*key, index), prefix, feature_class.name, future))


def read_study(image_path, mask_path, series=None, segment=None, roi=None, label=1, seg_threshold=0.5):
    """Load image and mask into memory (the part of an extraction the timings exclude).

    A DICOM SEG/RTSTRUCT mask becomes a label map holding ``label`` in the chosen ROI (see
    :func:`spinerad.dicom.load_study`, which also returns the DICOM objects).
    """
    from .dicom.study import load_study

    study = load_study(image_path, mask_path, series, segment, roi, label, seg_threshold)
    return study.image, study.mask


__all__ = ["PreparedRoi", "StageTimer", "extract", "read_study"]

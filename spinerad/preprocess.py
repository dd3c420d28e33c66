"""Preprocessing before the kernels: normalisation, re-segmentation and grey-level discretisation.

Each step reproduces PyRadiomics 3.0.1 arithmetic exactly (same NumPy/SimpleITK calls in the same order),
because a value that moves across a bin edge changes every texture feature.
"""

import numpy as np
import SimpleITK as sitk

from .errors import RoiTooSmall
from .kernels.discretise import digitize


def normalize_image(image, scale=1, remove_outliers=None):
    """``normalize``: z-score over the whole image (SimpleITK), clip at ±removeOutliers, times normalizeScale."""
    image = sitk.Normalize(image)
    if remove_outliers is not None:
        array = sitk.GetArrayFromImage(image)
        array[array > remove_outliers] = remove_outliers
        array[array < -remove_outliers] = -remove_outliers
        clipped = sitk.GetImageFromArray(array)
        clipped.CopyInformation(image)
        image = clipped
    return image * scale


def resegment(values, in_roi, settings):
    """``resegmentRange``: drop ROI voxels outside the range. Returns the new boolean ROI.

    Parameters
    ----------
    values : numpy.ndarray
        Image intensities (same shape as ``in_roi``).
    in_roi : numpy.ndarray
        Boolean ROI.
    settings : spinerad.settings.Settings
    """
    bounds = sorted(settings.resegment_range)
    roi_values = values[in_roi]
    mode = settings.resegment_mode
    if mode == "relative":
        top = np.max(roi_values)
        bounds = [top * b for b in bounds]
    elif mode == "sigma":
        mean, sd = np.mean(roi_values), np.std(roi_values)
        bounds = [mean + sd * b for b in bounds]
    keep = in_roi.copy()
    keep[keep] = roi_values >= bounds[0]
    if len(bounds) == 2:
        keep[keep] = values[keep] <= bounds[1]
    kept = int(keep.sum())
    if kept <= 1:
        raise RoiTooSmall(
            f"resegmentRange {list(settings.resegment_range)} ({mode}) keeps {kept} voxel(s) of the ROI; "
            "need at least 2"
        )
    return keep


def bin_edges(roi_values, bin_width=25, bin_count=None):
    """PyRadiomics' bin edges: fixed width anchored at ``min - min % width``, or ``bin_count`` equal bins."""
    if bin_count is not None:
        edges = np.histogram(roi_values, bin_count)[1]
        edges[-1] += 1  # the maximum falls in the top bin under numpy.digitize
        return edges
    # PyRadiomics uses the builtins min()/max(), which yield NumPy scalars of the array's dtype; so do these,
    # and that dtype drives the edge arithmetic below (float32 stays float32: its rounding is PyRadiomics').
    minimum = roi_values.min()
    maximum = roi_values.max()
    if (
        roi_values.dtype.kind in "iu"
        and roi_values.dtype.itemsize <= 4
        and isinstance(bin_width, (int, np.integer))
    ):
        # Integer arithmetic in int64, not in the image's own (int16, uint16...) type, where min - min % width
        # and max + 2 * width can wrap around near the type's limits. Without a wrap the values are the same.
        # PyRadiomics computes in the image type: where its upper bound wraps, numpy.arange still returns the
        # same edges (its length comes from the wrapped difference); where its lower bound wraps (a signed ROI
        # minimum within one bin width of the type's minimum, e.g. int16 -32768), its edges are not monotonic
        # and bin the ROI into nonsense; spinerad bins it as PyRadiomics does with a float binWidth.
        minimum, maximum, bin_width = np.int64(minimum), np.int64(maximum), np.int64(bin_width)
    low = minimum - (minimum % bin_width)
    high = maximum + 2 * bin_width
    edges = np.arange(low, high, bin_width)
    if len(edges) == 1:  # flat region: one bin
        edges = [edges[0] - 0.5, edges[0] + 0.5]
    return edges


def discretise(roi_values, bin_width=25, bin_count=None):
    """Discretise ROI intensities to bin numbers 1..N (PyRadiomics ``binImage``).

    Returns
    -------
    bins : numpy.ndarray
        int64 bin number per ROI voxel.
    grey_levels : numpy.ndarray
        float64 sorted bin numbers present in the ROI.
    compact : numpy.ndarray
        int32 index of each voxel's bin within ``grey_levels``.
    level_counts : numpy.ndarray
        Voxels per present bin.
    """
    edges = bin_edges(roi_values, bin_width, bin_count)
    bins = digitize(roi_values, edges)  # == numpy.digitize, as PyRadiomics calls it
    counts = np.bincount(bins)
    present = np.flatnonzero(counts)
    lookup = np.full(counts.shape[0], -1, dtype=np.int32)
    lookup[present] = np.arange(present.shape[0], dtype=np.int32)
    return bins, present.astype(np.float64), lookup[bins], counts[present]


def _index_box(box_zyx):
    """(z, y, x) slices -> SimpleITK-style (index xyz, size xyz)."""
    index = [s.start for s in box_zyx][::-1]
    size = [s.stop - s.start for s in box_zyx][::-1]
    return np.array(index), np.array(size)


def check_roi_inside_image(image, mask, box_zyx):
    """The ROI's physical extent must lie within the image (PyRadiomics ``_checkROI``, tolerance 1e-3 voxel)."""
    index, size = _index_box(box_zyx)
    lower = mask.TransformContinuousIndexToPhysicalPoint((index - 0.5).tolist())
    upper = mask.TransformContinuousIndexToPhysicalPoint((index + size - 0.5).tolist())
    bounds = np.array(
        [
            image.TransformPhysicalPointToContinuousIndex(lower),
            image.TransformPhysicalPointToContinuousIndex(upper),
        ]
    )
    tolerance = 0.001
    if np.any(bounds.min(axis=0) < -0.5 - tolerance) or np.any(
        bounds.max(axis=0) > np.array(image.GetSize()) - 0.5 + tolerance
    ):
        from .errors import GeometryMismatch

        raise GeometryMismatch("the ROI of the mask extends beyond the image's physical space")


def correct_mask(image, mask, box_zyx):
    """``correctMask``: resample the mask onto the image grid (nearest neighbour) when the grids differ."""
    check_roi_inside_image(image, mask, box_zyx)
    rif = sitk.ResampleImageFilter()
    rif.SetReferenceImage(image)
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    return rif.Execute(mask)


def crop(image, mask, box_zyx, pad):
    """Crop image and mask to the ROI box grown by ``pad`` voxels (clipped to the image), as SimpleITK images."""
    index, size = _index_box(box_zyx)
    full = np.array(mask.GetSize())
    lower = np.maximum(index - pad, 0)
    upper = np.maximum(full - (index + size - 1) - pad - 1, 0)
    cif = sitk.CropImageFilter()
    cif.SetLowerBoundaryCropSize(lower.tolist())
    cif.SetUpperBoundaryCropSize(upper.tolist())
    return cif.Execute(image), cif.Execute(mask)


def resample(image, mask, box_zyx, settings, normaliser=None, submit=None):
    """``resampledPixelSpacing``: resample image and mask to the new spacing around the ROI (PyRadiomics).

    The output grid covers the ROI box grown by ``padDistance`` new voxels; a spacing of 0 keeps the mask's
    spacing on that axis, and an axis along which the ROI is one voxel thick is not resampled. The image is
    interpolated with ``interpolator`` and keeps its pixel type; the mask uses nearest neighbour.

    Only the part of the image the interpolator reads is normalised and resampled (see
    :mod:`spinerad.cropping` for the margins); ``normaliser`` (whole-image statistics) stands for PyRadiomics'
    normalisation of the whole image before resampling. ``submit(fn, *args) -> Future`` (a worker pool's)
    resamples the mask (ITK, nearest neighbour) while this thread interpolates the image.
    """
    from .cropping import input_region, is_integer_pixel, truncate_like_itk

    index, size = _index_box(box_zyx)
    n_dims = mask.GetDimension()
    index, size = index[-n_dims:], size[-n_dims:]
    mask_spacing = np.array(mask.GetSpacing())
    image_spacing = np.array(image.GetSpacing())
    target = np.array(settings.resampled_pixel_spacing, dtype=np.float64)
    if len(target) != n_dims:
        from .errors import SettingsError

        raise SettingsError(f"resampledPixelSpacing has {len(target)} values; the image is {n_dims}-D")
    target = np.where(target == 0, mask_spacing, target)
    check_roi_inside_image(image, mask, box_zyx)
    target = np.where(size != 1, target, mask_spacing)
    pad = settings.pad_distance
    if np.allclose(image_spacing, target):
        if not _same_grid(image, mask):
            rif = sitk.ResampleImageFilter()
            rif.SetReferenceImage(image)
            rif.SetInterpolator(sitk.sitkNearestNeighbor)
            mask = rif.Execute(mask)
        from .intake import as_zyx
        from .kernels import label_bounding_box

        _, box_zyx, _ = label_bounding_box(as_zyx(mask), settings.label)
        if box_zyx is None:
            from .errors import LabelNotFound

            raise LabelNotFound(f"label {settings.label} vanished when the mask was put on the image grid")
        image, mask = crop(image, mask, box_zyx, pad)
        return (normaliser.image(image) if normaliser is not None else image), mask
    ratio = mask_spacing / target
    new_lower = np.floor((index - 0.5) * ratio - pad)
    new_upper = np.ceil((index + size - 0.5) * ratio + pad)
    max_upper = np.ceil(np.array(mask.GetSize()) * ratio) - 1
    new_lower = np.where(new_lower < 0, 0, new_lower)
    new_upper = np.where(new_upper > max_upper, max_upper, new_upper)
    new_size = np.array(new_upper - new_lower + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (target - mask_spacing) / mask_spacing) + new_lower / ratio
    new_origin = mask.TransformContinuousIndexToPhysicalPoint(origin_index)
    direction = np.array(mask.GetDirection())

    def run(source, pixel_id, interpolator):
        rif = sitk.ResampleImageFilter()
        rif.SetOutputSpacing(target)
        rif.SetOutputDirection(direction)
        rif.SetSize(new_size)
        rif.SetOutputOrigin(new_origin)
        rif.SetOutputPixelType(pixel_id)
        rif.SetInterpolator(interpolator)
        return rif.Execute(source)

    # the mask's grid does not depend on the image's values: resampled beside the image's interpolation
    mask_resampled = submit(run, mask, mask.GetPixelID(), sitk.sitkNearestNeighbor) if submit else None
    interpolator = getattr(sitk, settings.interpolator)
    region = input_region(image, new_size, new_origin, target, direction, settings.interpolator)
    resampled = None
    if region is not None:
        # Only the crop the interpolator reads is normalised and prefiltered (spinerad.cropping); the spline
        # itself is spinerad.kernels.bspline, which follows ITK's arithmetic in whole-image index space.
        from .cropping import spline_reads
        from .kernels.bspline import bspline_coefficients, bspline_resample

        pixel_id = sitk.sitkFloat64 if normaliser is not None else image.GetPixelID()
        crop_zyx = tuple(slice(lo, lo + n) for lo, n in zip(region[0], region[1], strict=True))[::-1]
        voxels = sitk.GetArrayViewFromImage(image)[crop_zyx]  # a view: the spline copies it to float64
        reads = spline_reads(image, new_size, new_origin, target, direction, region)
        # the normalisation is applied in the spline's first pass (the same float64 operations)
        arithmetic = normaliser.arithmetic() if normaliser is not None else None
        coefficients = bspline_coefficients(voxels, reads, normaliser=arithmetic)
        values = bspline_resample(
            coefficients,
            region[0],
            image.GetSize(),
            new_size,
            new_origin,
            target,
            direction,
            image.GetOrigin(),
            image.GetSpacing(),
            image.GetDirection(),
        )
        if values is None:
            pass  # a point on the image's edge: ITK decides inside/outside by its own rounding (below)
        elif is_integer_pixel(pixel_id):
            # ITK truncates the interpolated float64 to the integer type: check no value sits so close to an
            # integer that the crop's index rounding could truncate it differently.
            intensity_range = float(np.max(np.abs(voxels))) if voxels.size else 0.0
            values = truncate_like_itk(values, pixel_id, intensity_range)
        elif pixel_id == sitk.sitkFloat32:
            values = values.astype(np.float32)
        elif pixel_id != sitk.sitkFloat64:
            values = None  # other pixel types: ITK on the whole image
        if values is not None:
            resampled = sitk.GetImageFromArray(values)
            resampled.SetOrigin(new_origin)
            resampled.SetSpacing(target.tolist())
            resampled.SetDirection(direction.tolist())
    if resampled is None:  # the whole image, as PyRadiomics
        source = normaliser.image(image) if normaliser is not None else image
        resampled = run(source, source.GetPixelID(), interpolator)
    if mask_resampled is not None:
        return resampled, mask_resampled.result()
    return resampled, run(mask, mask.GetPixelID(), sitk.sitkNearestNeighbor)


def _same_grid(image, mask):
    """Identical size, origin, spacing and direction: nearest-neighbour resampling would be the identity."""
    return (
        image.GetSize() == mask.GetSize()
        and image.GetOrigin() == mask.GetOrigin()
        and image.GetSpacing() == mask.GetSpacing()
        and image.GetDirection() == mask.GetDirection()
    )


#: A cropped mask's interpolated fraction this close to the threshold is re-done on the whole grid.
_TIE_MARGIN = 1e-9


def _index_to_point(origin, matrix, index):
    """ITK's ``TransformIndexToPhysicalPoint`` in its float64 order: ``origin[i] + sum_j matrix[i, j] index[j]``.

    ``index``: (..., 3) indices (x, y, z); ``matrix``: direction times spacing, ``matrix[i, j] = D[i, j] s_j``.
    """
    index = np.asarray(index, dtype=np.float64)
    point = np.broadcast_to(np.asarray(origin, dtype=np.float64), index.shape).copy()
    for j in range(3):
        point += matrix[:, j] * index[..., j : j + 1]
    return point


def _whole_grid_rows(crop_from_zero, grid, start, stop, run):
    """Whole x-lines of the new grid, rows ``start..stop`` in y and z, equal to the whole grid's bit for bit.

    ITK's linear resampler maps each output scan line's first voxel and the voxel one past its last through
    ``TransformIndexToPhysicalPoint`` and interpolates the continuous index between them, so a grid of whole
    x-lines whose origin lands every line's two end points on the same float64 values reproduces the whole
    grid's lines exactly (``crop_from_zero``: an input crop starting at index 0, the same origin as the
    input). That holds when ``origin + matrix @ start`` is exact, the usual case for an axis-aligned grid;
    it is checked for every line (in ITK's order of operations); otherwise None.
    """
    new_size, new_origin, spacing, direction = grid
    matrix = direction * spacing[None, :]
    first = np.array([0, start[1], start[2]])
    origin = _index_to_point(new_origin, matrix, first)
    y, z = np.meshgrid(np.arange(start[1], stop[1]), np.arange(start[2], stop[2]), indexing="ij")
    for x in (0, new_size[0]):
        rows = np.stack([np.full(y.shape, x), y, z], axis=-1)
        whole = _index_to_point(new_origin, matrix, rows)
        own = _index_to_point(origin, matrix, rows - first)
        if not np.array_equal(whole, own):
            return None
    size = np.array([new_size[0], stop[1] - start[1], stop[2] - start[2]])
    return sitk.GetArrayFromImage(run(crop_from_zero, sitk.sitkLinear, size=size, origin=origin))


def _interpolated_roi(mask, label, box, threshold, grid, run):
    """The thresholded linear interpolation of ``mask == label``, resampled around the ROI only.

    Linear interpolation of the 0/1 mask is exactly 0 farther than one input voxel from the ROI, so the
    input is cropped to the ROI box plus two zero voxels and the output computed on the sub-grid that covers
    it. The sub-grid's origin differs from the whole grid's in the last bits, and so may the fractions
    (~1e-16): where one lies within :data:`_TIE_MARGIN` of the threshold (e.g. the exact 0.5 of a grid
    that halves the spacing) the sub-grid's rows are re-done as whole x-lines the way the whole grid
    computes them (:func:`_whole_grid_rows`; straight away, without the sub-grid, where whole lines are at
    most twice as many voxels), or, when that cannot be shown exact, this returns None and the caller
    resamples the whole grid, so the result is always the whole grid's. ``grid``: (size, origin,
    spacing, direction matrix) of the new grid; ``run`` resamples onto it. Returns ``(region, labels)``:
    (z, y, x) slices of the new grid holding every ROI voxel and the new mask on them (uint32, ``label``
    inside, 0 outside).
    """
    if box is None:
        return None
    new_size, new_origin, spacing, direction = grid
    old_size = np.array(mask.GetSize())
    lo = np.maximum([b.start - 2 for b in box[::-1]], 0)
    hi = np.minimum([b.stop + 2 for b in box[::-1]], old_size)
    crop = sitk.RegionOfInterest(mask, (hi - lo).tolist(), lo.tolist()) == label
    span = np.array(np.meshgrid(*[[-1.0, float(n)] for n in hi - lo])).reshape(3, -1).T
    corners = np.array([crop.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in span])
    index = (corners - new_origin) @ direction / spacing  # continuous indices (x, y, z) on the new grid
    start = np.clip(np.floor(index.min(axis=0)).astype(int) - 1, 0, new_size)
    stop = np.clip(np.ceil(index.max(axis=0)).astype(int) + 2, 0, new_size)
    if not np.all(stop > start):
        return tuple(slice(0, 0) for _ in range(3)), np.zeros((0, 0, 0), dtype=np.uint32)

    def whole_lines():
        from_zero = sitk.RegionOfInterest(mask, hi.tolist(), [0, 0, 0]) == label
        return _whole_grid_rows(from_zero, grid, start, stop, run)

    # Whole x-lines at most twice the sub-grid's size: straight away (exact, they need no tie check)
    tried = new_size[0] <= 2 * (stop[0] - start[0])
    part = whole_lines() if tried else None
    if part is None:
        part = sitk.GetArrayFromImage(run(crop, sitk.sitkLinear, start, stop - start))
        if np.any(np.abs(part - threshold) < _TIE_MARGIN):
            part = None if tried else whole_lines()
            if part is None:
                return None
    if part.shape[2] == new_size[0]:  # whole lines (or a sub-grid as wide as the grid: the same slices)
        start[0], stop[0] = 0, new_size[0]
    region = tuple(slice(a, b) for a, b in zip(start[::-1], stop[::-1], strict=True))
    return region, (part >= threshold) * np.uint32(label)


def _ibsi_grid(image, spacing, interpolator):
    """IBSI 1's centre-aligned grid of ``spacing`` and a function resampling onto it: ``(grid, run)``.

    ``grid``: (size, origin, spacing, direction matrix); ``run(source, method, start, size, origin)``
    resamples in float64 onto the grid or a sub-grid of it.
    """
    old_spacing = np.array(image.GetSpacing())
    old_size = np.array(image.GetSize())
    new_spacing = np.where(np.array(spacing, dtype=np.float64) == 0, old_spacing, spacing)
    new_size = np.ceil(old_size * old_spacing / new_spacing).astype(int)
    shift = (old_spacing * (old_size - 1) - new_spacing * (new_size - 1)) / 2
    direction = np.array(image.GetDirection()).reshape(len(old_size), len(old_size))
    new_origin = np.array(image.GetOrigin()) + direction @ shift
    method = getattr(sitk, interpolator)

    def run(source, method=method, start=None, size=None, origin=None):
        """Resample ``source`` onto the new grid, or a sub-grid from index ``start`` (x, y, z) or ``origin``."""
        rif = sitk.ResampleImageFilter()
        rif.SetOutputSpacing(new_spacing.tolist())
        rif.SetSize((new_size if size is None else size).tolist())
        if origin is None:
            shift = 0.0 if start is None else direction @ (np.asarray(start) * new_spacing)
            origin = new_origin + shift
        rif.SetOutputOrigin(np.asarray(origin).tolist())
        rif.SetOutputDirection(image.GetDirection())
        rif.SetOutputPixelType(sitk.sitkFloat64)
        rif.SetInterpolator(method)
        return rif.Execute(source)

    return (new_size, new_origin, new_spacing, direction), run


def _resampled_roi(mask, label, box, threshold, grid, run):
    """:func:`_interpolated_roi`, or the whole grid's thresholded interpolation where it returns None."""
    found = _interpolated_roi(mask, label, box, threshold, grid, run)
    if found is not None:
        return found
    inside = sitk.BinaryThreshold(run(mask == label, sitk.sitkLinear), threshold, np.inf, 1, 0)
    labels = sitk.GetArrayFromImage(sitk.Cast(inside, sitk.sitkUInt32) * int(label))
    return tuple(slice(0, n) for n in labels.shape), labels


def _label_image(labels, grid, origin=None):
    """A uint32 label array (z, y, x) as an image on the new grid (or on a box of it at ``origin``)."""
    _, new_origin, new_spacing, direction = grid
    out = sitk.GetImageFromArray(labels)
    out.SetSpacing(new_spacing.tolist())
    out.SetOrigin((new_origin if origin is None else origin).tolist())
    out.SetDirection(direction.ravel().tolist())
    return out


def resample_ibsi(image, mask, label, spacing, interpolator, options, box=None):
    """IBSI 1 interpolation: centre-aligned grid, mask interpolated linearly and thresholded.

    The image is resampled whole (the diagnostics describe it), the mask around ``box`` (the ROI's
    bounding box, z, y, x slices of the input grid; None: the whole mask), see :func:`_interpolated_roi`;
    both from their own pixel type: ITK interpolates in double precision anyway, so casting the inputs
    first gives the same arrays.

    Parameters
    ----------
    image, mask : SimpleITK.Image
    label : int
    spacing : sequence of float
        New spacing (x, y, z); 0 keeps the original spacing on that axis.
    interpolator : str
        SimpleITK interpolator name (``sitkLinear``, ``sitkBSpline``, ``sitkNearestNeighbor``).
    options : spinerad.settings.IbsiOptions
    """
    grid, run = _ibsi_grid(image, spacing, interpolator)
    new_image = run(image)
    if options.round_intensities:
        rounded = sitk.GetImageFromArray(np.round(sitk.GetArrayViewFromImage(new_image)))
        rounded.CopyInformation(new_image)
        new_image = rounded
    # IBSI interpolates the ROI mask linearly whatever the image interpolator, then thresholds it.
    region, labels = _resampled_roi(mask, label, box, float(options.mask_threshold), grid, run)
    whole = np.zeros(grid[0][::-1], dtype=np.uint32)
    whole[region] = labels
    return new_image, _label_image(whole, grid)


def resample_ibsi_around(image, mask, label, spacing, interpolator, options, box, margin):
    """:func:`resample_ibsi` cropped to the new ROI's box plus ``margin`` mm (and the whole new image).

    Only the crop is rounded and copied; the whole resampled image (not rounded) comes back as the third
    value for the diagnostics, which describe the whole grid (``image_diagnostics`` in
    :mod:`spinerad.ibsi_morph`). Every crop voxel equals the whole grid's (:func:`resample_ibsi`): the
    whole image is resampled and cut, the mask is the same thresholded interpolation. The crop holds every
    voxel within ``margin`` of the ROI (clipped at the grid's faces). Returns ``(image crop, mask crop,
    whole image)``; with no ROI voxel left, :func:`resample_ibsi`'s whole images instead of the crops.
    """
    grid, run = _ibsi_grid(image, spacing, interpolator)
    new_size, _, new_spacing, _ = grid
    region, labels = _resampled_roi(mask, label, box, float(options.mask_threshold), grid, run)
    new_image = run(image)
    found = np.nonzero(labels.any(axis=(1, 2)))[0], np.nonzero(labels.any(axis=(0, 2)))[0]
    found += (np.nonzero(labels.any(axis=(0, 1)))[0],)
    if any(len(f) == 0 for f in found):  # no ROI voxel left: the whole grid (the caller reports it)
        return (*resample_ibsi(image, mask, label, spacing, interpolator, options, box), new_image)
    reach = (np.floor(margin / new_spacing).astype(int) + 1)[::-1]  # z, y, x
    roi_box = [(r.start + f[0], r.start + f[-1] + 1) for r, f in zip(region, found, strict=True)]
    crop = tuple(
        slice(max(a - m, 0), min(b + m, n))
        for (a, b), m, n in zip(roi_box, reach, new_size[::-1], strict=True)
    )
    values = sitk.GetArrayViewFromImage(new_image)[crop]
    values = np.round(values) if options.round_intensities else np.array(values)
    origin = np.array(new_image.TransformIndexToPhysicalPoint([int(c.start) for c in crop[::-1]]))
    image_crop = sitk.GetImageFromArray(values)
    image_crop.SetSpacing(new_image.GetSpacing())
    image_crop.SetOrigin(origin.tolist())
    image_crop.SetDirection(new_image.GetDirection())
    mask_crop = np.zeros(values.shape, dtype=np.uint32)
    inner = tuple(slice(a - c.start, b - c.start) for (a, b), c in zip(roi_box, crop, strict=True))
    own = tuple(slice(a - r.start, b - r.start) for (a, b), r in zip(roi_box, region, strict=True))
    mask_crop[inner] = labels[own]
    return image_crop, _label_image(mask_crop, grid, origin=origin), new_image

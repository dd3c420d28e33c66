"""Preprocessing before the kernels: normalisation, re-segmentation and grey-level discretisation.

Each step reproduces PyRadiomics 3.0.1 arithmetic exactly (same NumPy/SimpleITK calls in the same order),
because a value that moves across a bin edge changes every texture feature.
"""

import numpy as np
import SimpleITK as sitk

from .errors import RoiTooSmall


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
            f"resegmentRange {list(settings.resegment_range)} ({mode}) keeps {kept} voxel(s) of the ROI; need at least 2"
        )
    return keep


def bin_edges(roi_values, bin_width=25, bin_count=None):
    """PyRadiomics' bin edges: fixed width anchored at ``min - min % width``, or ``bin_count`` equal bins."""
    if bin_count is not None:
        edges = np.histogram(roi_values, bin_count)[1]
        edges[-1] += 1  # the maximum falls in the top bin under numpy.digitize
        return edges
    # PyRadiomics uses the builtins min()/max(), which yield NumPy scalars of the array's dtype; so do these,
    # and that dtype drives the edge arithmetic below.
    minimum = roi_values.min()
    maximum = roi_values.max()
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
    bins = np.digitize(roi_values, edges)
    counts = np.bincount(bins)
    present = np.flatnonzero(counts)
    lookup = np.full(counts.shape[0], -1, dtype=np.int32)
    lookup[present] = np.arange(present.shape[0], dtype=np.int32)
    return bins, present.astype(np.float64), lookup[bins], counts[present]

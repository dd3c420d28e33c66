"""Whole-image statistics for normalisation: exact integer sums in one parallel pass.

``sitk.Normalize`` divides by ITK's ``StatisticsImageFilter`` sigma, computed from a compensated sum of the
voxels and of their squares. For an image of integer values (an integer type, or a float type holding only
whole numbers, as CT in HU often is) whose sum of squares stays below 2**53, every partial sum is an exact
integer in float64, so ITK's sums are exact and equal the int64 sums here, whatever the order; the mean and
sigma then follow ITK's formulas bit for bit (tested against ``StatisticsImageFilter``). This pass reads the
voxels once, in parallel over slices, instead of ITK's compensated float64 loop.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL

#: Largest integer every float64 holds exactly.
EXACT_LIMIT = 2**53
#: Voxel magnitudes the int64 sums take (their squares stay far from int64 overflow).
VALUE_LIMIT = 2**31
#: Pixel types the exact path reads (wider integers could exceed the limits anyway: ITK decides).
TYPES = (np.int8, np.uint8, np.int16, np.uint16, np.float32, np.float64)


@njit(**JIT_PARALLEL)
def _integer_sums_kernel(volume, per_slice, floating):
    """Per z-slice: [sum, sum of squares, minimum, maximum, whole] (int64 arithmetic).

    ``floating``: check each voxel; ``whole`` is then 0 when one is not a whole number below ``VALUE_LIMIT``
    in magnitude (or not finite). Integer volumes skip the check. Each row is one branch-free loop (a voxel
    that fails the check counts as 0), which the compiler vectorises.
    """
    n_z, n_y, n_x = volume.shape
    for z in prange(n_z):
        total = np.int64(0)
        squares = np.int64(0)
        low = np.int64(VALUE_LIMIT)
        high = -low
        whole = True
        for y in range(n_y):
            if floating:
                for x in range(n_x):
                    value = np.float64(volume[z, y, x])
                    inside = abs(value) < VALUE_LIMIT  # False for NaN and infinities too
                    v = np.int64(value if inside else 0.0)
                    whole &= inside & (np.float64(v) == value)
                    total += v
                    squares += v * v
                    low = min(low, v)
                    high = max(high, v)
            else:
                for x in range(n_x):
                    v = np.int64(volume[z, y, x])
                    total += v
                    squares += v * v
                    low = min(low, v)
                    high = max(high, v)
        per_slice[z, 0] = total
        per_slice[z, 1] = squares
        per_slice[z, 2] = low
        per_slice[z, 3] = high
        per_slice[z, 4] = whole


def integer_statistics(volume):
    """Mean, sigma (n - 1), minimum and maximum exactly as ITK's ``StatisticsImageFilter``, or None.

    Parameters
    ----------
    volume : numpy.ndarray
        3-D array of 8- or 16-bit integers, or of float32/float64 whole numbers.

    Returns
    -------
    tuple of float or None
        ``(mean, sigma, minimum, maximum)``; None when the sum of squares could exceed 2**53 (ITK's float64
        sums would round: use ITK), a value is not a whole number, or the type is not one of ``TYPES``.
    """
    if volume.dtype not in TYPES or volume.ndim != 3 or volume.size < 2:
        return None
    per_slice = np.empty((volume.shape[0], 5), dtype=np.int64)
    _integer_sums_kernel(np.ascontiguousarray(volume), per_slice, volume.dtype.kind == "f")
    if not per_slice[:, 4].all():
        return None
    total = int(per_slice[:, 0].sum())
    squares = int(per_slice[:, 1].sum())
    if squares >= EXACT_LIMIT or abs(total) >= EXACT_LIMIT:
        return None
    count = float(volume.size)
    total, squares = float(total), float(squares)
    mean = total / count
    variance = (squares - (total * total / count)) / (count - 1)
    return mean, float(np.sqrt(variance)), float(per_slice[:, 2].min()), float(per_slice[:, 3].max())


@njit(**JIT_PARALLEL)
def _normalise_kernel(volume, shift, inverse_sigma, outliers, clip, scale, out):
    """Compute clip((x + shift) * inverse_sigma, +-outliers) * scale in float64: the NumPy steps fused."""
    n_z, n_y, n_x = volume.shape
    for z in prange(n_z):
        for y in range(n_y):
            for x in range(n_x):
                value = (np.float64(volume[z, y, x]) + shift) * inverse_sigma
                if clip:
                    if value > outliers:
                        value = outliers
                    if value < -outliers:
                        value = -outliers
                out[z, y, x] = value * scale


def normalise(volume, shift, inverse_sigma, outliers, scale):
    """PyRadiomics' normalisation arithmetic on a 3-D array in one parallel pass (float64 result).

    Bit-identical to ``((x.astype(float64) + shift) * inverse_sigma)``, clipped at +-``outliers`` (None: no
    clipping), times ``scale``: the same float64 operations in the same order, no fused multiply-add.
    """
    out = np.empty(volume.shape, dtype=np.float64)
    clip = outliers is not None
    # One compiled specialisation whatever the pixel type and layout: the kernel's first step is this exact cast.
    volume = np.ascontiguousarray(volume, dtype=np.float64)
    _normalise_kernel(
        volume, float(shift), float(inverse_sigma), float(outliers) if clip else 0.0, clip, float(scale), out
    )
    return out


@njit(**JIT_PARALLEL)
def _rounded_sums_kernel(volume, per_slice):
    """Per z-slice of ``np.rint(volume)``: [sum, minimum, maximum] in float64.

    The sum is exact while the absolute sum stays below 2**53 (every partial sum is then a whole number);
    a NaN or infinity shows in it.
    """
    n_z, n_y, n_x = volume.shape
    for z in prange(n_z):
        total = 0.0
        low = np.inf
        high = -np.inf
        for y in range(n_y):
            for x in range(n_x):
                rounded = np.rint(volume[z, y, x])
                total += rounded
                low = min(low, rounded)
                high = max(high, rounded)
        per_slice[z, 0] = total
        per_slice[z, 1] = low
        per_slice[z, 2] = high


def rounded_statistics(volume):
    """Mean, minimum and maximum of ``np.round(volume)`` as NumPy computes them on it, or None.

    Without writing the rounded array: the rounded values are whole numbers, so while their absolute sum
    stays below 2**53 every partial sum, NumPy's pairwise ones included, is an exact integer and the mean
    is the same float64. None when a value is not finite or that bound could be passed.

    Parameters
    ----------
    volume : numpy.ndarray
        3-D float64 array.
    """
    if volume.dtype != np.float64 or volume.ndim != 3 or volume.size == 0:
        return None
    per_slice = np.empty((volume.shape[0], 3))
    _rounded_sums_kernel(np.ascontiguousarray(volume), per_slice)
    total, low, high = per_slice[:, 0].sum(), per_slice[:, 1].min(), per_slice[:, 2].max()
    if not np.isfinite([total, low, high]).all() or volume.size * max(-low, high) >= EXACT_LIMIT:
        return None
    return float(total) / float(volume.size), float(low), float(high)

"""One level of the stationary wavelet transform along several axes, as PyWavelets' ``swtn(level=1)``.

PyRadiomics' Wavelet image type calls ``pywt.swtn(data, wavelet, level=1, start_level=0, axes)`` once per
decomposition level. This reproduces its arithmetic bit for bit (tested against PyWavelets for every
family PyRadiomics accepts, float32 and float64 data, short and long axes):

- each axis in turn splits every band so far into approximation (``dec_lo``) and detail (``dec_hi``),
  band names growing ``'a'``/``'d'`` per axis in ``axes`` order, as ``swtn`` names them;
- along a line of length N, output ``o`` is the periodic convolution ``sum_j f[j] * x[(o + F/2 - j) mod N]``
  accumulated from 0 in PyWavelets' order of terms (wrapped terms first where the filter passes the line's
  end, then the in-line terms, then terms wrapped past its start: :func:`_schedule`), in the data's own
  precision (float32 data with float32 filters, as PyWavelets' float routines; integers as float64).

Why hand-written: ``swtn`` copies every line into a buffer and back for every band and axis (14 line passes
for a 3-D level); here each pass reads whole planes, many lines at once (so the compiler vectorises across
lines; each line keeps its own order of operations), in parallel over line blocks.
"""

from functools import lru_cache

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL

#: Lines filtered together by one task.
BLOCK = 512


def _schedule(n, f):
    """Return (filter index, input index) of each term of each output, in PyWavelets' order: (N, F, 2).

    The enumeration is pure Python (~0.1 ms per axis, seven axes per wavelet level): one answer per (N, F) is
    kept, and every caller gets its own copy.
    """
    return _cached_schedule(int(n), int(f)).copy()


@lru_cache(maxsize=64)
def _cached_schedule(n, f):
    order = np.empty((n, f, 2), dtype=np.int64)
    for o in range(n):
        i = o + f // 2
        terms = []
        j = 0
        while i - j >= n:  # the filter reaches past the line's end: wrapped terms, filter index descending
            terms.append((i - n - j, j % n))
            j += 1
        while j <= i and j < f:
            terms.append((j, i - j))
            j += 1
        while j < f:  # past the line's start
            terms.append((j, (i - j) % n))
            j += 1
        order[o] = terms
    return order


@njit(**JIT_PARALLEL)
def _swt_lines_kernel(src, low, high, order, out_low, out_high, block):
    """Split along axis 1 of ``src`` (before, length, after) into approximation and detail, in ``order``.

    Lines are ``src[a, :, b]``; tasks are (a, block of b), so the innermost loop runs over neighbouring lines
    (accumulated in task-local rows, which the compiler knows alias nothing, so it vectorises them).
    """
    n_before, n, n_after = src.shape
    f = order.shape[1]
    blocks = (n_after + block - 1) // block
    for task in prange(n_before * blocks):
        a = task // blocks
        lo = (task % blocks) * block
        width = min(block, n_after - lo)
        sum_low = np.empty(width, dtype=src.dtype)
        sum_high = np.empty(width, dtype=src.dtype)
        for o in range(n):
            sum_low[:] = 0
            sum_high[:] = 0
            for t in range(f):
                row = src[a, order[o, t, 1], lo : lo + width]
                k_low = low[order[o, t, 0]]
                k_high = high[order[o, t, 0]]
                for j in range(width):
                    sum_low[j] += k_low * row[j]
                    sum_high[j] += k_high * row[j]
            out_low[a, o, lo : lo + width] = sum_low
            out_high[a, o, lo : lo + width] = sum_high


@njit(**JIT_PARALLEL)
def _swt_rows_kernel(src, low, high, order, out_low, out_high):
    """Split along the last axis of ``src`` (lines, length): rows, vectorised across outputs instead.

    Outputs whose filter lies within the line (``F/2 + F <= i + F/2 < N + F/2``) take their terms in filter
    order, so each filter tap is one shifted multiply-add over all of them; the others follow ``order``.
    """
    n_lines, n = src.shape
    f = order.shape[1]
    half = f // 2
    first, stop = max(f - half, 0), n - half  # outputs o with f <= o + half < n
    for line in prange(n_lines):
        x = src[line]
        sum_low = np.zeros(n, dtype=src.dtype)
        sum_high = np.zeros(n, dtype=src.dtype)
        for o in range(n):
            if first <= o < stop:
                continue
            for t in range(f):
                sum_low[o] += low[order[o, t, 0]] * x[order[o, t, 1]]
                sum_high[o] += high[order[o, t, 0]] * x[order[o, t, 1]]
        for t in range(f):
            for o in range(first, stop):
                sum_low[o] += low[t] * x[o + half - t]
                sum_high[o] += high[t] * x[o + half - t]
        out_low[line] = sum_low
        out_high[line] = sum_high


def _split_axis(data, axis, low, high):
    """Approximation and detail of a C-ordered array along ``axis`` (C-ordered, same shape)."""
    shape = data.shape
    order = _schedule(shape[axis], low.shape[0])
    if axis == data.ndim - 1:
        lines = data.reshape(-1, shape[axis])
        out_low, out_high = np.empty_like(lines), np.empty_like(lines)
        _swt_rows_kernel(lines, low, high, order, out_low, out_high)
        return out_low.reshape(shape), out_high.reshape(shape)
    lines = data.reshape(int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1 :])))
    out_low, out_high = np.empty_like(lines), np.empty_like(lines)
    _swt_lines_kernel(lines, low, high, order, out_low, out_high, BLOCK)
    return out_low.reshape(shape), out_high.reshape(shape)


def swtn_level(data, dec_lo, dec_hi, axes, box=None, keep_approximation=True):
    """``pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]``: ``{band name: array}``.

    ``data`` of an integer type is filtered in float64, float32 stays float32 (PyWavelets' dtype rules);
    ``dec_lo``/``dec_hi`` are the filter taps in that precision, exactly as PyWavelets holds them (its float32
    taps of some families are computed in float32, not rounded from the float64 ones: see
    :func:`spinerad.imagetypes` for how they are read). Every axis in ``axes`` must have an even length, as
    PyWavelets requires for one level.

    ``box``: (z, y, x) slices; the detail bands (and the approximation too unless ``keep_approximation``)
    are then returned as their ``[box]`` part only. A line along one axis is independent of the others, so
    once a band that ends there has been split along an axis, only its lines inside the box along that axis
    are split further; the values in the box are the same bits.
    """
    data = np.asarray(data)
    dtype = np.float32 if data.dtype == np.float32 else np.float64
    data = np.ascontiguousarray(data, dtype=dtype)
    low = np.asarray(dec_lo, dtype=dtype)
    high = np.asarray(dec_hi, dtype=dtype)
    # (name, array, axes along which the array is already cut to the box)
    bands = [("", data, ())]
    done = []
    for axis in axes:
        done.append(axis)
        split = []
        for name, band, cut in bands:
            approximation, detail = _split_axis(band, axis, low, high)
            for part_name, part in ((name + "a", approximation), (name + "d", detail)):
                part_cut = cut
                if box is not None and ("d" in part_name or not keep_approximation):
                    part, part_cut = _cut(part, box, done, cut)
                split.append((part_name, part, part_cut))
        bands = split
    if box is None:
        return {name: band for name, band, _ in bands}
    out = {}
    for name, band, cut in bands:
        if "d" in name or not keep_approximation:
            band, _ = _cut(band, box, range(data.ndim), cut)
        out[name] = band
    return out


def _cut(band, box, axes, cut):
    """``band`` cut to ``box`` along ``axes`` (those in ``cut`` already are), C-ordered; and the new ``cut``."""
    todo = [axis for axis in axes if axis not in cut]
    if not todo:
        return band, cut
    index = tuple(box[axis] if axis in todo else slice(None) for axis in range(band.ndim))
    return np.ascontiguousarray(band[index]), tuple(cut) + tuple(todo)

"""First-order feature maps: the first-order features of every voxel's kernel, PyRadiomics-exact.

PyRadiomics' voxel mode gathers each kernel into a row of ``Nk`` values (NaN where the neighbour is off the
grid or not valid) in the order of its kernel offsets and reduces the rows with ``numpy.nan*``. The means
here are NumPy's pairwise sums over the same row layout (NaN counted as 0), so a flat kernel gives exactly
zero central moments as it does in PyRadiomics; percentiles use NumPy's linear interpolation. The third
and fourth powers of the deviations are products (NumPy's ``power`` calls ``pow``, which cost a third of
the kernel): at most 2 ulp a term, Skewness and Kurtosis within 2e-12 relative of the ``pow`` values on
lung2. The histogram features (Entropy, Uniformity) run over the grey levels present in the whole ROI, as
PyRadiomics' do.
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .firstorder import FEATURE_NAMES
from .voxel_common import insertion_sort

EPS = np.spacing(1)
LOG2_EPS = math.log2(EPS)


def pairwise_block_body(a, lo, n):
    """NumPy's pairwise_sum leaf (n <= 128): 8 accumulators, then the remainder."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    end = n - n % 8
    while i < end:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


def pairwise_sum_body(a, lo, n, stack, left):
    """NumPy's pairwise summation of ``a[lo:lo + n]`` (what ``ndarray.sum`` does along a contiguous axis).

    NumPy recurses on halves above 128 elements; the recursion is unrolled onto an explicit stack here (a
    recursive Numba function called from a parallel region crashed, and a CUDA thread has no recursion):
    ``stack`` int (3, 64) rows start, size, phase and ``left`` float (64) are the caller's scratch.
    """
    if n <= 128:
        return pairwise_block(a, lo, n)
    top = 0
    stack[0, 0] = lo
    stack[1, 0] = n
    stack[2, 0] = 0
    while True:
        m = stack[1, top]
        if m > 128:
            stack[2, top] = 1
            half = m // 2
            half -= half % 8
            top += 1
            stack[0, top] = stack[0, top - 1]
            stack[1, top] = half
            stack[2, top] = 0
            continue
        ret = pairwise_block(a, stack[0, top], m)
        top -= 1
        while top >= 0:
            if stack[2, top] == 1:
                left[top] = ret
                stack[2, top] = 2
                half = stack[1, top] // 2
                half -= half % 8
                top += 1
                stack[0, top] = stack[0, top - 1] + half
                stack[1, top] = stack[1, top - 1] - half
                stack[2, top] = 0
                break
            ret = left[top] + ret
            top -= 1
        if top < 0:
            return ret


def percentile_body(s, n, q):
    """NumPy's linear-interpolation percentile of the sorted ``s[:n]``; ``q`` in [0, 1]."""
    index = (n - 1) * q
    prev = math.floor(index)
    gamma = index - prev
    i = int(prev)
    j = min(i + 1, n - 1)
    diff = s[j] - s[i]
    if gamma >= 0.5:
        return s[j] - diff * (1 - gamma)
    return s[i] + diff * gamma


def histogram_features_body(counts, n_counts, n, terms, stack, left):
    """(Entropy, Uniformity) of a kernel's grey-level histogram ``counts[:n_counts]`` over ``n`` voxels.

    ``terms`` (at least ``n_counts`` long) is scratch; the sums are NumPy's pairwise ones, as PyRadiomics'.
    """
    for g in range(n_counts):
        p = counts[g] / n
        # most of the ROI's levels are absent from one kernel: their term is 0 * log2(eps), no logarithm
        terms[g] = p * math.log2(p + EPS) if p != 0.0 else p * LOG2_EPS
    entropy = -1.0 * pairwise_sum(terms, 0, n_counts, stack, left)
    for g in range(n_counts):
        p = counts[g] / n
        terms[g] = p * p
    return entropy, pairwise_sum(terms, 0, n_counts, stack, left)


def intensity_features_body(
    x, valid, nk, s, n, shift, voxel_volume, entropy, uniformity, lo, hi, work, stack, left, row
):
    """Write the 19 first-order features of one kernel into ``row`` (FEATURE_NAMES order).

    ``x[:nk]``: the kernel's values in offset order, 0 where ``valid`` is false; ``s[:n]``: the ``n`` valid
    values sorted; ``lo``/``hi``: their extremes; ``work`` (at least Nk), ``stack``, ``left``: scratch.
    """
    mean = pairwise_sum(x, 0, nk, stack, left) / n
    for k in range(nk):
        work[k] = (x[k] + shift) ** 2 if valid[k] else 0.0
    energy = pairwise_sum(work, 0, nk, stack, left)
    for k in range(nk):
        work[k] = abs(x[k] - mean) if valid[k] else 0.0
    mad = pairwise_sum(work, 0, nk, stack, left) / n
    for k in range(nk):
        d = x[k] - mean
        work[k] = d * d if valid[k] else 0.0
    m2 = pairwise_sum(work, 0, nk, stack, left) / n
    for k in range(nk):
        d = x[k] - mean
        work[k] = d * d * d if valid[k] else 0.0
    m3 = pairwise_sum(work, 0, nk, stack, left) / n
    for k in range(nk):
        d = x[k] - mean
        d2 = d * d
        work[k] = d2 * d2 if valid[k] else 0.0
    m4 = pairwise_sum(work, 0, nk, stack, left) / n
    p10 = percentile(s, n, 0.1)
    p25 = percentile(s, n, 0.25)
    p75 = percentile(s, n, 0.75)
    p90 = percentile(s, n, 0.9)
    half = n // 2
    median = s[half] if n % 2 == 1 else (s[half - 1] + s[half]) / 2.0
    # robust MAD: the voxels between the 10th and 90th percentile
    n_r = 0
    for k in range(nk):
        if valid[k] and not (x[k] - p10 < 0 or x[k] - p90 > 0):
            work[k] = x[k]
            n_r += 1
        else:
            work[k] = 0.0
    r_mean = pairwise_sum(work, 0, nk, stack, left) / n_r
    for k in range(nk):
        if valid[k] and not (x[k] - p10 < 0 or x[k] - p90 > 0):
            work[k] = abs(x[k] - r_mean)
    r_mad = pairwise_sum(work, 0, nk, stack, left) / n_r
    std = math.sqrt(m2)
    if m2 == 0:
        skew = m3
        kurt = m4
    else:
        skew = m3 / m2**1.5
        kurt = m4 / m2**2.0
    row[0] = energy
    row[1] = energy * voxel_volume
    row[2] = entropy
    row[3] = lo
    row[4] = p10
    row[5] = p90
    row[6] = hi
    row[7] = mean
    row[8] = median
    row[9] = p75 - p25
    row[10] = hi - lo
    row[11] = mad
    row[12] = r_mad
    row[13] = math.sqrt(energy / n)
    row[14] = std
    row[15] = skew
    row[16] = kurt
    row[17] = std**2
    row[18] = uniformity


pairwise_block = njit(**JIT)(pairwise_block_body)
pairwise_sum = njit(**JIT)(pairwise_sum_body)
percentile = njit(**JIT)(percentile_body)
histogram_features = njit(**JIT)(histogram_features_body)
intensity_features = njit(**JIT)(intensity_features_body)

#: The bodies shared with the CUDA twin, by the names the compiled functions carry, callees first.
BODIES = (
    ("pairwise_block", pairwise_block_body),
    ("pairwise_sum", pairwise_sum_body),
    ("percentile", percentile_body),
    ("histogram_features", histogram_features_body),
    ("intensity_features", intensity_features_body),
)


@njit(**JIT)
def slide_offsets(offsets):
    """(leaving, entering): the offsets a kernel loses and gains when its centre moves by +1 along x.

    With ``O`` the offsets and ``e = (0, 0, 1)``: the kernel at ``c`` loses the voxels ``c - e + o`` with
    ``o - e`` not in ``O`` and gains ``c + o`` with ``o + e`` not in ``O`` (int64 index arrays into
    ``offsets``). Any offset set works, clipped or ``force2D`` kernels included.
    """
    nk = offsets.shape[0]
    leaving = np.empty(nk, dtype=np.int64)
    entering = np.empty(nk, dtype=np.int64)
    n_leaving = 0
    n_entering = 0
    for k in range(nk):
        has_before = False
        has_after = False
        for q in range(nk):
            if offsets[q, 0] == offsets[k, 0] and offsets[q, 1] == offsets[k, 1]:
                has_before |= offsets[q, 2] == offsets[k, 2] - 1
                has_after |= offsets[q, 2] == offsets[k, 2] + 1
        if not has_before:
            leaving[n_leaving] = k
            n_leaving += 1
        if not has_after:
            entering[n_entering] = k
            n_entering += 1
    return leaving[:n_leaving], entering[:n_entering]


@njit(**JIT)
def plane_values(values, levels, cz, cy, cx, offsets, which, buffer):
    """The valid values at ``(cz, cy, cx) + offsets[which]`` into ``buffer``, sorted; returns their number."""
    nz, ny, nx = levels.shape
    m = 0
    for t in range(which.shape[0]):
        k = which[t]
        z = cz + offsets[k, 0]
        y = cy + offsets[k, 1]
        x = cx + offsets[k, 2]
        if 0 <= z < nz and 0 <= y < ny and 0 <= x < nx and levels[z, y, x] >= 0:
            buffer[m] = values[z, y, x]
            m += 1
    insertion_sort(buffer, m)
    return m


@njit(**JIT)
def slide_sorted(old, n_old, gone, n_gone, new, n_new, out):
    """``old[:n_old]`` (sorted) without the values ``gone[:n_gone]`` and with ``new[:n_new]`` (both sorted).

    One merge into ``out``; returns the number of values written, or -1 when a value of ``gone`` is not in
    ``old`` (never, for the planes of :func:`slide_offsets`; the caller then sorts afresh).
    """
    j = 0
    k = 0
    w = 0
    for i in range(n_old):
        v = old[i]
        if j < n_gone and v == gone[j]:
            j += 1
            continue
        while k < n_new and new[k] < v:
            out[w] = new[k]
            w += 1
            k += 1
        out[w] = v
        w += 1
    while k < n_new:
        out[w] = new[k]
        w += 1
        k += 1
    return w if j == n_gone else -1


@njit(**JIT_PARALLEL)
def firstorder_maps(values, levels, coords, offsets, n_levels, shift, voxel_volume, blocks, out):
    """First-order features of each voxel's kernel.

    Parameters
    ----------
    values : float64 (z, y, x) intensities on the map grid (any value where ``levels`` < 0).
    levels : int32 (z, y, x) global compact grey level of a valid voxel, -1 elsewhere.
    coords : int64 (n_voxels, 3) kernel centres.
    offsets : int64 (Nk, 3) kernel offsets in PyRadiomics' order (centre last).
    n_levels : number of grey levels present in the ROI.
    shift : ``voxelArrayShift``.
    voxel_volume : product of the spacing (TotalEnergy).
    out : float64 (n_voxels, 19) in :data:`spinerad.kernels.firstorder.FEATURE_NAMES` order.

    The percentiles need the kernel's values sorted, which was two thirds of the time when each kernel
    was sorted afresh. A voxel whose predecessor (same block) is its neighbour along x, as most are in C
    order, takes the predecessor's sorted values and merges out the plane the kernel leaves and in the
    plane it enters (:func:`slide_offsets`): the same multiset, so the same sorted values.
    """
    nz, ny, nx = levels.shape
    n_vox = coords.shape[0]
    nk = offsets.shape[0]
    leaving, entering = slide_offsets(offsets)
    for blk in prange(blocks):
        x = np.empty(nk)
        valid = np.empty(nk, dtype=np.bool_)
        work = np.empty(nk)
        srt = np.empty(nk)
        merged = np.empty(nk)
        gone = np.empty(nk)
        new = np.empty(nk)
        counts = np.zeros(n_levels)
        terms = np.empty(n_levels)
        stack = np.empty((3, 64), dtype=np.int64)
        left = np.empty(64)
        first = blk * n_vox // blocks
        n_prev = 0
        for v in range(first, (blk + 1) * n_vox // blocks):
            cz, cy, cx = coords[v, 0], coords[v, 1], coords[v, 2]
            n = 0
            lo = np.inf
            hi = -np.inf
            for k in range(nk):
                z = cz + offsets[k, 0]
                y = cy + offsets[k, 1]
                xx = cx + offsets[k, 2]
                ok = False
                if 0 <= z < nz and 0 <= y < ny and 0 <= xx < nx:
                    g = levels[z, y, xx]
                    if g >= 0:
                        ok = True
                        val = values[z, y, xx]
                        x[k] = val
                        n += 1
                        counts[g] += 1.0
                        if val < lo:
                            lo = val
                        if val > hi:
                            hi = val
                valid[k] = ok
                if not ok:
                    x[k] = 0.0
            entropy, uniformity = histogram_features(counts, n_levels, n, terms, stack, left)
            for g in range(n_levels):
                counts[g] = 0.0
            n_sorted = -1
            if v > first and cz == coords[v - 1, 0] and cy == coords[v - 1, 1] and cx == coords[v - 1, 2] + 1:
                n_gone = plane_values(values, levels, cz, cy, cx - 1, offsets, leaving, gone)
                n_new = plane_values(values, levels, cz, cy, cx, offsets, entering, new)
                n_sorted = slide_sorted(srt, n_prev, gone, n_gone, new, n_new, merged)
            if n_sorted == n:
                srt, merged = merged, srt
            else:
                m = 0
                for k in range(nk):
                    if valid[k]:
                        srt[m] = x[k]
                        m += 1
                srt[:n].sort()  # in place: no allocation per voxel
            n_prev = n
            s = srt[:n]
            intensity_features(
                x,
                valid,
                nk,
                s,
                n,
                shift,
                voxel_volume,
                entropy,
                uniformity,
                lo,
                hi,
                work,
                stack,
                left,
                out[v],
            )


__all__ = ["BODIES", "FEATURE_NAMES", "firstorder_maps", "pairwise_sum", "percentile"]

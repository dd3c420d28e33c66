"""Laplacian of Gaussian on a 3-D volume, as SimpleITK's ``LaplacianRecursiveGaussianImageFilter`` does it.

PyRadiomics' LoG image type is ITK's recursive (Deriche, 4th order) LoG with ``NormalizeAcrossScale`` on;
this module reproduces its arithmetic so the float32 result is bit-identical (tested against SimpleITK on
random volumes, every pixel type PyRadiomics feeds it, and the reference cases at their LoG sigmas):

- the filter coefficients of ``RecursiveGaussianImageFilter::SetUp`` (second order scaled by sigma^2 for
  the derivative, zero order for the smoothing), in float64 with the same libm calls and operation order;
- for each ITK direction d (x, y, z): the second derivative along d, then smoothing along the two other
  directions in increasing ITK order; each pass reads a line in float64, runs the causal and anti-causal
  recursions with ITK's constant-continuation borders, adds them and stores float32 (ITK's internal image);
- the accumulation ``float32(acc + term * (1 / spacing_d^2))`` over d = x, y, z in float64.

Why hand-written: ITK runs nine whole-volume passes plus image copies through its pipeline for every sigma
(~250 ns per voxel and sigma here). The same recursions here run over many lines at once (neighbouring lines
side by side, so the compiler vectorises across lines; each line's own arithmetic is unchanged), read where
they lie in the volume (no transposed copy per pass), in parallel over line blocks; each pass stores only
the box's part of its lines, and a line along axis a is independent of the others, so every later pass
filters only the lines inside the box along the axes already filtered.

Arrays are (z, y, x); ``spacing_zyx`` in mm, ``sigma`` in mm.
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL

#: Deriche's 4th-order fit of the Gaussian (order 0) and its second derivative (order 2), ITK's constants.
_A1 = (1.3530, -0.6724, -1.3563)
_B1 = (1.8151, -3.4327, 5.2318)
_A2 = (-0.3531, 0.6724, 0.3446)
_B2 = (0.0902, 0.6100, -2.2355)
_W1, _L1, _W2, _L2 = 0.6681, -1.3932, 2.0787, -1.3732
#: Lines filtered together by one task: wide enough to vectorise, small enough for the cache.
BLOCK = 256
#: The same for lines along x, which are gathered across rows.
X_BLOCK = 32


def _n_coefficients(sigmad, order, cos1, cos2, exp1, exp2):
    a1, b1, a2, b2 = _A1[order], _B1[order], _A2[order], _B2[order]
    sin1 = math.sin(_W1 / sigmad)
    sin2 = math.sin(_W2 / sigmad)
    n0 = a1 + a2
    n1 = exp2 * (b2 * sin2 - (a2 + 2 * a1) * cos2)
    n1 += exp1 * (b1 * sin1 - (a1 + 2 * a2) * cos1)
    n2 = (a1 + a2) * cos2 * cos1
    n2 -= b1 * cos2 * sin1 + b2 * cos1 * sin2
    n2 *= 2 * exp1 * exp2
    n2 += a2 * exp1 * exp1 + a1 * exp2 * exp2
    n3 = exp2 * exp1 * exp1 * (b2 * sin2 - a2 * cos2)
    n3 += exp1 * exp2 * exp2 * (b1 * sin1 - a1 * cos1)
    sn = n0 + n1 + n2 + n3
    dn = n1 + 2 * n2 + 3 * n3
    en = n1 + 4 * n2 + 9 * n3
    return [n0, n1, n2, n3], sn, dn, en


def recursive_coefficients(sigma, spacing, second_order):
    """ITK's recursive-Gaussian coefficients (N0-3, D1-4, M1-4, BN1-4, BM1-4) for one direction.

    ``second_order``: the second derivative normalised across scale (times sigma^2); else the Gaussian.
    """
    sigmad = sigma / abs(spacing)
    cos1 = math.cos(_W1 / sigmad)
    cos2 = math.cos(_W2 / sigmad)
    exp1 = math.exp(_L1 / sigmad)
    exp2 = math.exp(_L2 / sigmad)
    d4 = exp1 * exp1 * exp2 * exp2
    d3 = -2 * cos1 * exp1 * exp2 * exp2
    d3 += -2 * cos2 * exp2 * exp1 * exp1
    d2 = 4 * cos2 * cos1 * exp1 * exp2
    d2 += exp1 * exp1 + exp2 * exp2
    d1 = -2 * (exp2 * cos2 + exp1 * cos1)
    sd = 1.0 + d1 + d2 + d3 + d4
    dd = d1 + 2 * d2 + 3 * d3 + 4 * d4
    ed = d1 + 4 * d2 + 9 * d3 + 16 * d4
    if second_order:
        n_0, sn0, dn0, en0 = _n_coefficients(sigmad, 0, cos1, cos2, exp1, exp2)
        n_2, sn2, dn2, en2 = _n_coefficients(sigmad, 2, cos1, cos2, exp1, exp2)
        beta = -(2 * sn2 - sd * n_2[0]) / (2 * sn0 - sd * n_0[0])
        n = [n_2[k] + beta * n_0[k] for k in range(4)]
        sn = sn2 + beta * sn0
        dn = dn2 + beta * dn0
        en = en2 + beta * en0
        alpha = en * sd * sd - ed * sn * sd - 2 * dn * dd * sd + 2 * dd * dd * sn
        alpha /= sd * sd * sd
        factor = (sigma * sigma) / alpha
    else:
        n, sn, _, _ = _n_coefficients(sigmad, 0, cos1, cos2, exp1, exp2)
        factor = 1.0 / (2 * sn / sd - n[0])
    n = [value * factor for value in n]
    d = [d1, d2, d3, d4]
    m = [n[1] - d1 * n[0], n[2] - d2 * n[0], n[3] - d3 * n[0], -d4 * n[0]]
    sn = n[0] + n[1] + n[2] + n[3]
    sm = m[0] + m[1] + m[2] + m[3]
    sd = 1.0 + d1 + d2 + d3 + d4
    bn = [dk * sn / sd for dk in d]
    bm = [dk * sm / sd for dk in d]
    return np.array(n + d + m + bn + bm, dtype=np.float64)


@njit(**JIT_PARALLEL)
def _deriche_kernel(src, axis, keep_lo, dst, c, block):
    """Filter every line of ``src`` (z, y, x) along ``axis`` into ``dst`` (float32): ITK's ``FilterDataArray``.

    The lines are read where they lie (no transposed copy): ``block`` of them side by side, neighbours along x
    (along y for x lines). ``dst`` has ``src``'s shape except along ``axis``, where it keeps the samples
    ``keep_lo .. keep_lo + dst.shape[axis]`` of each filtered line.
    """
    n0, n1, n2, n3 = c[0], c[1], c[2], c[3]
    d1, d2, d3, d4 = c[4], c[5], c[6], c[7]
    m1, m2, m3, m4 = c[8], c[9], c[10], c[11]
    bn1, bn2, bn3, bn4 = c[12], c[13], c[14], c[15]
    bm1, bm2, bm3, bm4 = c[16], c[17], c[18], c[19]
    n_z, n_y, n_x = src.shape
    if axis == 0:
        ln, n_outer, n_lines = n_z, n_y, n_x
    elif axis == 1:
        ln, n_outer, n_lines = n_y, n_z, n_x
    else:
        ln, n_outer, n_lines = n_x, n_z, n_y
    kept = dst.shape[axis]
    n_blocks = (n_lines + block - 1) // block
    for task in prange(n_outer * n_blocks):
        o = task // n_blocks
        lo = (task % n_blocks) * block
        w = min(block, n_lines - lo)
        x = np.empty((ln, w))
        s1 = np.empty((ln, w))
        s2 = np.empty((ln, w))
        if axis == 0:
            for i in range(ln):
                for j in range(w):
                    x[i, j] = src[i, o, lo + j]
        elif axis == 1:
            for i in range(ln):
                for j in range(w):
                    x[i, j] = src[o, i, lo + j]
        else:
            for j in range(w):
                for i in range(ln):
                    x[i, j] = src[o, lo + j, i]
        e = ln - 1
        for j in range(w):
            v = x[0, j]
            s1[0, j] = v * n0 + v * n1 + v * n2 + v * n3
            s1[1, j] = x[1, j] * n0 + v * n1 + v * n2 + v * n3
            s1[2, j] = x[2, j] * n0 + x[1, j] * n1 + v * n2 + v * n3
            s1[3, j] = x[3, j] * n0 + x[2, j] * n1 + x[1, j] * n2 + v * n3
            s1[0, j] -= v * bn1 + v * bn2 + v * bn3 + v * bn4
            s1[1, j] -= s1[0, j] * d1 + v * bn2 + v * bn3 + v * bn4
            s1[2, j] -= s1[1, j] * d1 + s1[0, j] * d2 + v * bn3 + v * bn4
            s1[3, j] -= s1[2, j] * d1 + s1[1, j] * d2 + s1[0, j] * d3 + v * bn4
            u = x[e, j]
            s2[e, j] = u * m1 + u * m2 + u * m3 + u * m4
            s2[e - 1, j] = x[e, j] * m1 + u * m2 + u * m3 + u * m4
            s2[e - 2, j] = x[e - 1, j] * m1 + x[e, j] * m2 + u * m3 + u * m4
            s2[e - 3, j] = x[e - 2, j] * m1 + x[e - 1, j] * m2 + x[e, j] * m3 + u * m4
            s2[e, j] -= u * bm1 + u * bm2 + u * bm3 + u * bm4
            s2[e - 1, j] -= s2[e, j] * d1 + u * bm2 + u * bm3 + u * bm4
            s2[e - 2, j] -= s2[e - 1, j] * d1 + s2[e, j] * d2 + u * bm3 + u * bm4
            s2[e - 3, j] -= s2[e - 2, j] * d1 + s2[e - 1, j] * d2 + s2[e, j] * d3 + u * bm4
        for i in range(4, ln):
            for j in range(w):
                t = x[i, j] * n0 + x[i - 1, j] * n1 + x[i - 2, j] * n2 + x[i - 3, j] * n3
                s1[i, j] = t - (s1[i - 1, j] * d1 + s1[i - 2, j] * d2 + s1[i - 3, j] * d3 + s1[i - 4, j] * d4)
        for i in range(ln - 4, 0, -1):
            for j in range(w):
                t = x[i, j] * m1 + x[i + 1, j] * m2 + x[i + 2, j] * m3 + x[i + 3, j] * m4
                s2[i - 1, j] = t - (s2[i, j] * d1 + s2[i + 1, j] * d2 + s2[i + 2, j] * d3 + s2[i + 3, j] * d4)
        if axis == 0:
            for i in range(kept):
                for j in range(w):
                    dst[i, o, lo + j] = np.float32(s1[keep_lo + i, j] + s2[keep_lo + i, j])
        elif axis == 1:
            for i in range(kept):
                for j in range(w):
                    dst[o, i, lo + j] = np.float32(s1[keep_lo + i, j] + s2[keep_lo + i, j])
        else:
            for j in range(w):
                for i in range(kept):
                    dst[o, lo + j, i] = np.float32(s1[keep_lo + i, j] + s2[keep_lo + i, j])


def _filter_axis(volume, axis, coefficients, keep):
    """One recursive pass along ``axis`` of a C-ordered 3-D array; float32, cut to ``keep`` along ``axis``."""
    shape = list(volume.shape)
    shape[axis] = keep.stop - keep.start
    out = np.empty(shape, dtype=np.float32)
    # x lines are gathered across rows (strided): fewer side by side keeps that gather within the cache
    block = BLOCK if axis != 2 else X_BLOCK
    _deriche_kernel(volume, axis, keep.start, out, coefficients, block)
    return out


def laplacian_of_gaussian(volume, spacing_zyx, sigma, box=None):
    """ITK's normalised recursive LoG of ``volume`` (z, y, x), float32, returned on ``box`` (default: all).

    Every axis must be at least 4 voxels long (ITK's own requirement); ``volume`` is read in float64, as
    ITK casts any pixel type to its real type before filtering.
    """
    volume = np.ascontiguousarray(volume, dtype=np.float64)
    if box is None:
        box = tuple(slice(0, n) for n in volume.shape)
    box = tuple(slice(*b.indices(n)[:2]) for b, n in zip(box, volume.shape, strict=True))  # as NumPy clips
    total = None
    for direction in range(3):  # ITK's x, y, z
        axis = 2 - direction
        coefficients = recursive_coefficients(sigma, spacing_zyx[axis], True)
        term = _filter_axis(volume, axis, coefficients, box[axis])
        for other in range(3):
            if other != direction:
                smooth_axis = 2 - other
                coefficients = recursive_coefficients(sigma, spacing_zyx[smooth_axis], False)
                term = _filter_axis(term, smooth_axis, coefficients, box[smooth_axis])
        scaled = term.astype(np.float64) * (1.0 / (spacing_zyx[axis] * spacing_zyx[axis]))
        total = (
            scaled.astype(np.float32)
            if total is None
            else (total.astype(np.float64) + scaled).astype(np.float32)
        )
    return total

r"""The features of a (grey level x size) count matrix, shared by GLRLM, GLSZM and GLDM.

The three classes count something per grey level :math:`i` and "size" :math:`j` (a run length, a zone
size, a dependence + 1) and then take the same sixteen sums over that matrix: short/long emphasis, grey
level and size non-uniformity, percentage, the two variances, entropy and the six grey-level emphases
(PyRadiomics writes them three times; here they are written once). :math:`P(i,j)` counts, :math:`N` its
total (runs, zones, voxels), :math:`N_p=\sum_j p_s(j)\,j`, :math:`p_g(i)=\sum_j P(i,j)`,
:math:`p_s(j)=\sum_i P(i,j)`, :math:`p(i,j)=P(i,j)/N`, :math:`\mu_i=\sum_i p_g(i)\,i/N`,
:math:`\mu_j=\sum_j p_s(j)\,j/N`; each class's module lists its names, IBSI tags and formulas.
"""

import math

import numpy as np
from numba import njit

from ._config import JIT

EPS = np.spacing(1)

#: Column of each sum in :func:`level_size_features`' output (GLRLM's and GLSZM's feature order).
SUMS = (
    "SmallEmphasis",
    "LargeEmphasis",
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "SizeNonUniformity",
    "SizeNonUniformityNormalized",
    "Percentage",
    "GrayLevelVariance",
    "SizeVariance",
    "Entropy",
    "LowGrayLevelEmphasis",
    "HighGrayLevelEmphasis",
    "SmallLowGrayLevelEmphasis",
    "SmallHighGrayLevelEmphasis",
    "LargeLowGrayLevelEmphasis",
    "LargeHighGrayLevelEmphasis",
)


def level_size_sums_body(p, n_levels, n_sizes, g, sizes, n_total, pg, ps, out):
    r"""Write the sixteen sums of ``p[:n_levels, :n_sizes]`` into ``out`` (16), in :data:`SUMS` order.

    ``g``: real grey level of each row; ``sizes``: the size :math:`j` of each column; ``n_total``:
    :math:`N` (NaN propagates, as for an empty GLRLM angle); ``pg`` (>= n_levels) and ``ps`` (>= n_sizes):
    scratch. E.g. SmallEmphasis :math:`=\frac{1}{N}\sum_j p_s(j)/j^2`, Percentage :math:`=N/N_p` (a zero
    :math:`N_p` counts as 1, PyRadiomics' GLSZM rule; GLRLM and GLDM never have one).

    Plain Python over arrays (no allocation), so the one source compiles for the CPU
    (:func:`level_size_sums`: per ROI and per voxel) and as a CUDA device function (the GPU feature maps,
    through :data:`BODIES`). A zero count is skipped where every one of its terms is exactly 0 (a finite,
    non-zero :math:`N` and a finite, non-zero level): the sums are bit-identical, without a logarithm
    per empty cell.
    """
    for i in range(n_levels):
        pg[i] = 0.0
    for s in range(n_sizes):
        ps[s] = 0.0
    sparse = n_total != 0 and not math.isnan(n_total) and not math.isinf(n_total)
    entropy = 0.0
    small_low = 0.0
    small_high = 0.0
    large_low = 0.0
    large_high = 0.0
    for i in range(n_levels):
        g2 = g[i] ** 2
        skip_zero = sparse and g2 > 0 and not math.isinf(g2)
        for s in range(n_sizes):
            v = p[i, s]
            if v == 0 and skip_zero:
                continue
            j2 = sizes[s] ** 2
            ps[s] += v
            pg[i] += v
            pn = v / n_total
            entropy -= pn * math.log2(pn + EPS)
            small_low += v / (g2 * j2)
            small_high += v * g2 / j2
            large_low += v * j2 / g2
            large_high += v * (j2 * g2)
    small = 0.0
    large = 0.0
    size_nu = 0.0
    n_p = 0.0
    u_j = 0.0
    for s in range(n_sizes):
        j = sizes[s]
        small += ps[s] / j**2
        large += ps[s] * j**2
        size_nu += ps[s] ** 2
        n_p += ps[s] * j
        u_j += ps[s] / n_total * j
    size_var = 0.0
    for s in range(n_sizes):
        size_var += ps[s] / n_total * (sizes[s] - u_j) ** 2
    level_nu = 0.0
    low = 0.0
    high = 0.0
    u_i = 0.0
    for i in range(n_levels):
        level_nu += pg[i] ** 2
        low += pg[i] / g[i] ** 2
        high += pg[i] * g[i] ** 2
        u_i += pg[i] / n_total * g[i]
    level_var = 0.0
    for i in range(n_levels):
        level_var += pg[i] / n_total * (g[i] - u_i) ** 2
    if n_p == 0:
        n_p = 1.0
    out[0] = small / n_total
    out[1] = large / n_total
    out[2] = level_nu / n_total
    out[3] = level_nu / n_total**2
    out[4] = size_nu / n_total
    out[5] = size_nu / n_total**2
    out[6] = n_total / n_p
    out[7] = level_var
    out[8] = size_var
    out[9] = entropy
    out[10] = low / n_total
    out[11] = high / n_total
    out[12] = small_low / n_total
    out[13] = small_high / n_total
    out[14] = large_low / n_total
    out[15] = large_high / n_total


level_size_sums = njit(**JIT)(level_size_sums_body)

#: The bodies shared with the CUDA twins (:func:`spinerad.kernels.voxel_common.retarget`), callees first.
BODIES = (("level_size_sums", level_size_sums_body),)


@njit(**JIT)
def level_size_features(p, g, sizes, n_total, pg, ps, out):
    """:func:`level_size_sums` of the whole matrix ``p`` (Ng, Ns); ``pg`` (Ng) and ``ps`` (Ns) scratch."""
    level_size_sums(p, p.shape[0], p.shape[1], g, sizes, n_total, pg, ps, out)

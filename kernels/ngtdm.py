r"""Neighbouring Grey Tone Difference Matrix (NGTDM): matrix kernel and feature formulas, PyRadiomics-exact.

For every ROI voxel of real grey level :math:`i`, :math:`\bar A` is the mean real grey level of its ROI
neighbours (offsets of the ``distances`` setting, both directions, inside the cropped box). Per grey
level, the matrix holds the voxel count :math:`n_i` and :math:`s_i=\sum|i-\bar A|`. As in PyRadiomics a
voxel without ROI neighbours is still counted, with :math:`|i-\bar A|=0`.

Axis order: ``ngtdm[b, i, c]`` = batch (ROI), compact grey-level index, column c (0: :math:`n_i`,
1: :math:`s_i`); the real levels are passed separately as ``grey_levels``. Image convention as in
:mod:`spinerad.kernels.glcm`.
"""

import numpy as np
from numba import njit

from ._config import JIT
from .neighbours import neighbour_scan

#: Coarseness of a ROI whose neighbourhood differences are all zero (PyRadiomics' convention).
COARSENESS_FLAT = 1e6

#: Feature names (PyRadiomics spelling) in the column order of :func:`ngtdm_features`.
FEATURE_NAMES = ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")

#: name -> (IBSI tag, formula, meaning). :math:`p_i=n_i/N_{v,p}`, :math:`N_{v,p}=\sum_i n_i`,
#: :math:`N_{g,p}` the number of levels with :math:`p_i>0`; sums over pairs skip :math:`p_i=0` or
#: :math:`p_j=0`.
FORMULAS = {
    "Coarseness": ("QCDE", r"\frac{1}{\sum_i p_i s_i}\ (10^6\text{ if }0)", "spatial rate of change"),
    "Contrast": (
        "65HE",
        r"\frac{\sum_{i,j}p_ip_j(i-j)^2}{N_{g,p}(N_{g,p}-1)}\frac{\sum_i s_i}{N_{v,p}}"
        r"\ (0\text{ if }N_{g,p}=1)",
        "dynamic range and spatial frequency",
    ),
    "Busyness": (
        "NQ30",
        r"\frac{\sum_i p_i s_i}{\sum_{i,j}|ip_i-jp_j|}\ (0\text{ if the divisor is }0)",
        "rapid changes between neighbours",
    ),
    "Complexity": (
        "HDEZ",
        r"\frac{1}{N_{v,p}}\sum_{i,j}|i-j|\frac{p_is_i+p_js_j}{p_i+p_j}",
        "non-uniformity and rapid changes",
    ),
    "Strength": (
        "1X9X",
        r"\frac{\sum_{i,j}(p_i+p_j)(i-j)^2}{\sum_i s_i}\ (0\text{ if }\sum_i s_i=0)",
        "large, distinct primitives",
    ),
}


def ngtdm_matrix(levels, angles, grey_levels):
    """Voxel count and summed neighbourhood difference per grey level.

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) neighbour offsets holding *both* directions, i.e.
        ``generate_angles(shape, distances, force2D, force2Ddimension, bidirectional=True)``.
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices (the neighbourhood mean is of real levels).

    Returns
    -------
    numpy.ndarray
        float64 (Ng, 2): column 0 the voxel count :math:`n_i`, column 1 :math:`s_i`.
    """
    _, differences = neighbour_scan(levels, angles, grey_levels, differences=True)
    return differences


def table_features_body(count, diff, g, n, row):
    """The five NGTDM features of one table (``count`` n_i, ``diff`` s_i per level ``g``) into ``row``.

    Plain Python over arrays (no allocation), so the one source compiles for the CPU
    (:func:`table_features`, per ROI and per voxel) and as a CUDA device function
    (:mod:`spinerad.kernels.gpu_voxel_ngtdm`, through :data:`BODIES`).
    """
    n_vp = 0.0
    sum_s = 0.0
    for i in range(n):
        n_vp += count[i]
        sum_s += diff[i]
    coarse = 0.0
    n_gp = 0
    for i in range(n):
        p = count[i] / n_vp
        if p > 0:
            n_gp += 1
        coarse += p * diff[i]
    contrast = 0.0
    absdiff = 0.0
    complexity = 0.0
    strength = 0.0
    for i in range(n):
        pi = count[i] / n_vp
        for j in range(n):
            pj = count[j] / n_vp
            d = g[i] - g[j]
            contrast += pi * pj * d**2
            if pi == 0 or pj == 0:
                continue
            absdiff += abs(g[i] * pi - g[j] * pj)
            complexity += abs(d) * (pi * diff[i] + pj * diff[j]) / (pi + pj)
            strength += (pi + pj) * d**2
    row[0] = 1.0 / coarse if coarse != 0 else COARSENESS_FLAT
    div = n_gp * (n_gp - 1)
    row[1] = contrast * sum_s / n_vp / div if div != 0 else 0.0
    row[2] = coarse / absdiff if absdiff != 0 else 0.0
    row[3] = complexity / n_vp
    row[4] = strength / sum_s if sum_s != 0 else 0.0


table_features = njit(**JIT)(table_features_body)

#: The bodies shared with the CUDA twin (:func:`spinerad.kernels.voxel_common.retarget`), callees first.
BODIES = (("table_features", table_features_body),)


@njit(**JIT)
def _ngtdm_feature_kernel(m_all, grey_levels, out):
    n_levels = m_all.shape[1]
    for b in range(m_all.shape[0]):
        table_features(m_all[b, :, 0], m_all[b, :, 1], grey_levels, n_levels, out[b])


def ngtdm_features(m, grey_levels):
    r"""All NGTDM features per ROI.

    Parameters
    ----------
    m : numpy.ndarray
        (n_batch, Ng, 2) counts and difference sums (a batch of :func:`ngtdm_matrix` results).
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices.

    Returns
    -------
    numpy.ndarray
        (n_batch, len(FEATURE_NAMES)).

    Notes
    -----
    E.g. Coarseness :math:`=1/\sum_i p_i s_i` (IBSI QCDE), :math:`10^6` when every difference is 0;
    every formula with its IBSI tag is in :data:`FORMULAS`.
    """
    out = np.empty((m.shape[0], len(FEATURE_NAMES)), dtype=np.float64)
    _ngtdm_feature_kernel(
        np.ascontiguousarray(m, dtype=np.float64), np.asarray(grey_levels, dtype=np.float64), out
    )
    return out

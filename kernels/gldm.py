r"""Grey Level Dependence Matrix (GLDM): matrix kernel and feature formulas, PyRadiomics-exact.

For every ROI voxel, its *dependence* is the number of ROI neighbours whose real grey level differs from
its own by at most ``alpha`` (the ``gldm_a`` setting); neighbours are the voxels at every offset of the
``distances`` setting, in both directions, inside the cropped box.

Axis order: ``gldm[b, i, k]`` = batch (ROI), compact grey-level index, dependence k (PyRadiomics' size
:math:`j = k + 1`). Image convention as in :mod:`spinerad.kernels.glcm`. PyRadiomics drops empty grey
levels and empty dependence columns; empty columns add nothing to any sum here, so they are kept.

PyRadiomics also knows ``GrayLevelNonUniformityNormalized`` (equal to first-order Uniformity) and
``DependencePercentage`` (always 1): both are deprecated there and raise instead of returning a value, so
they are listed in :data:`DEPRECATED_NO_VALUE` and never computed.
"""

import numpy as np
from numba import njit

from ._config import JIT
from .level_size import level_size_features
from .neighbours import neighbour_scan

#: Feature names (PyRadiomics spelling) in the column order of :func:`gldm_features`.
FEATURE_NAMES = (
    "SmallDependenceEmphasis",
    "LargeDependenceEmphasis",
    "GrayLevelNonUniformity",
    "DependenceNonUniformity",
    "DependenceNonUniformityNormalized",
    "GrayLevelVariance",
    "DependenceVariance",
    "DependenceEntropy",
    "LowGrayLevelEmphasis",
    "HighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis",
    "SmallDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis",
    "LargeDependenceHighGrayLevelEmphasis",
)

#: Names PyRadiomics accepts but answers with a DeprecationWarning and no value.
DEPRECATED_NO_VALUE = {
    "GrayLevelNonUniformityNormalized": "equals firstorder Uniformity (deprecated in PyRadiomics, no value)",
    "DependencePercentage": "always 1 (deprecated in PyRadiomics, no value)",
}

#: name -> (IBSI tag of the NGLDM feature, formula, meaning). :math:`N_z=\sum_{i,j}P(i,j)` voxels,
#: :math:`p_g(i)=\sum_j P(i,j)`, :math:`p_d(j)=\sum_i P(i,j)`, :math:`p(i,j)=P(i,j)/N_z`.
FORMULAS = {
    "SmallDependenceEmphasis": (
        "SODN",
        r"\frac{1}{N_z}\sum_j \frac{p_d(j)}{j^2}",
        "weight of low dependence",
    ),
    "LargeDependenceEmphasis": ("IMOQ", r"\frac{1}{N_z}\sum_j p_d(j)\,j^2", "weight of high dependence"),
    "GrayLevelNonUniformity": ("FP8K", r"\frac{1}{N_z}\sum_i p_g(i)^2", "voxels spread over grey levels"),
    "DependenceNonUniformity": ("Z87G", r"\frac{1}{N_z}\sum_j p_d(j)^2", "voxels spread over dependences"),
    "DependenceNonUniformityNormalized": ("OKJI", r"\frac{1}{N_z^2}\sum_j p_d(j)^2", "normalised DN"),
    "GrayLevelVariance": ("1PFV", r"\sum_i \frac{p_g(i)}{N_z}(i-\mu_i)^2", "variance of grey levels"),
    "DependenceVariance": ("DNX2", r"\sum_j \frac{p_d(j)}{N_z}(j-\mu_j)^2", "variance of dependences"),
    "DependenceEntropy": (
        "FCBV",
        r"-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)",
        "randomness of (level, dep.)",
    ),
    "LowGrayLevelEmphasis": ("TL9H", r"\frac{1}{N_z}\sum_i \frac{p_g(i)}{i^2}", "weight of dark voxels"),
    "HighGrayLevelEmphasis": ("OAE7", r"\frac{1}{N_z}\sum_i p_g(i)\,i^2", "weight of bright voxels"),
    "SmallDependenceLowGrayLevelEmphasis": (
        "EQ3F",
        r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)}{i^2j^2}",
        "low dep. dark",
    ),
    "SmallDependenceHighGrayLevelEmphasis": (
        "JA6D",
        r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)i^2}{j^2}",
        "low dep. bright",
    ),
    "LargeDependenceLowGrayLevelEmphasis": (
        "NBZI",
        r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)j^2}{i^2}",
        "high dep. dark",
    ),
    "LargeDependenceHighGrayLevelEmphasis": (
        "9QMG",
        r"\frac{1}{N_z}\sum_{i,j}P(i,j)i^2j^2",
        "high dep. bright",
    ),
}


def gldm_matrix(levels, angles, grey_levels, alpha=0):
    """Voxel counts per grey level and dependence.

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) neighbour offsets holding *both* directions, i.e.
        ``generate_angles(shape, distances, force2D, force2Ddimension, bidirectional=True)``.
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices (dependence compares real levels).
    alpha : int
        Largest absolute grey-level difference of a dependent neighbour (``gldm_a``).

    Returns
    -------
    numpy.ndarray
        float64 (Ng, n_angles + 1): element (i, k) counts the voxels of level i with k dependent neighbours.
    """
    dependence, _ = neighbour_scan(levels, angles, grey_levels, alpha, dependence=True)
    return dependence


#: GLDM's features among :data:`spinerad.kernels.level_size.SUMS` (it has no GLNN and no percentage).
_GLDM_SUMS = np.array([0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15])


@njit(**JIT)
def _gldm_feature_kernel(p_all, grey_levels, out):
    n_batch, n_levels, n_dep = p_all.shape
    dependences = np.arange(1.0, n_dep + 1.0)  # j = dependent neighbours + 1
    pg = np.empty(n_levels)
    pd = np.empty(n_dep)
    sums = np.empty(16)
    for b in range(n_batch):
        n_z = p_all[b].sum()
        # PyRadiomics replaces a zero voxel count by 1.
        level_size_features(p_all[b], grey_levels, dependences, n_z if n_z != 0 else 1.0, pg, pd, sums)
        for f in range(_GLDM_SUMS.shape[0]):
            out[b, f] = sums[_GLDM_SUMS[f]]


def gldm_features(p, grey_levels):
    r"""All GLDM features per ROI.

    Parameters
    ----------
    p : numpy.ndarray
        (n_batch, Ng, Nd) dependence counts (a batch of :func:`gldm_matrix` results).
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices.

    Returns
    -------
    numpy.ndarray
        (n_batch, len(FEATURE_NAMES)).

    Notes
    -----
    E.g. Small Dependence Emphasis :math:`=\frac{1}{N_z}\sum_j p_d(j)/j^2` (IBSI SODN) with
    :math:`j` = dependent neighbours + 1; every formula with its IBSI tag is in :data:`FORMULAS`.
    """
    out = np.empty((p.shape[0], len(FEATURE_NAMES)), dtype=np.float64)
    _gldm_feature_kernel(
        np.ascontiguousarray(p, dtype=np.float64), np.asarray(grey_levels, dtype=np.float64), out
    )
    return out

r"""Grey Level Size Zone Matrix (GLSZM): zone-labelling kernel and feature formulas, PyRadiomics-exact.

A *zone* is a connected set of ROI voxels of equal grey level. Connectivity is PyRadiomics': two voxels
touch when their offset is one of the distance-1 angles in either direction (26-connected in 3D,
8-connected in-plane with ``force2D``); the ``distances`` setting is ignored by this class.

Axis order: ``glszm[b, i, s]`` = batch (ROI), compact grey-level index, zone size - 1. Image convention as
in :mod:`spinerad.kernels.glcm` (int32 compact levels, -1 outside the ROI). Like PyRadiomics' C code the
raw matrix has a column per size up to the largest zone; :func:`prepare_glszm` then drops the sizes no zone
has, as PyRadiomics does (a large ROI has a few zones of thousands of voxels and empty sizes in between).

Definitions (PyRadiomics notation; :math:`N_z` zones, :math:`N_p` voxels, :math:`p_g(i)=\sum_j P(i,j)`,
:math:`p_s(j)=\sum_i P(i,j)`, :math:`i` the real grey level, :math:`j` the zone size), with IBSI tags:
see :data:`FORMULAS`.
"""

import numba
import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from ._inputs import matrix_inputs, padded_flat
from .level_size import level_size_features

#: Feature names (PyRadiomics spelling) in the column order of :func:`glszm_features`.
FEATURE_NAMES = (
    "SmallAreaEmphasis",
    "LargeAreaEmphasis",
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "SizeZoneNonUniformity",
    "SizeZoneNonUniformityNormalized",
    "ZonePercentage",
    "GrayLevelVariance",
    "ZoneVariance",
    "ZoneEntropy",
    "LowGrayLevelZoneEmphasis",
    "HighGrayLevelZoneEmphasis",
    "SmallAreaLowGrayLevelEmphasis",
    "SmallAreaHighGrayLevelEmphasis",
    "LargeAreaLowGrayLevelEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
)

#: name -> (IBSI tag, formula, meaning). :math:`p(i,j)=P(i,j)/N_z`,
#: :math:`\mu_i=\sum_i p_g(i)\,i/N_z`, :math:`\mu_j=\sum_j p_s(j)\,j/N_z`.
FORMULAS = {
    "SmallAreaEmphasis": ("5QRC", r"\frac{1}{N_z}\sum_j \frac{p_s(j)}{j^2}", "weight of small zones"),
    "LargeAreaEmphasis": ("48P8", r"\frac{1}{N_z}\sum_j p_s(j)\,j^2", "weight of large zones"),
    "GrayLevelNonUniformity": (
        "JNSA",
        r"\frac{1}{N_z}\sum_i p_g(i)^2",
        "zone counts spread over grey levels",
    ),
    "GrayLevelNonUniformityNormalized": ("Y1RO", r"\frac{1}{N_z^2}\sum_i p_g(i)^2", "normalised GLNU"),
    "SizeZoneNonUniformity": ("4JP3", r"\frac{1}{N_z}\sum_j p_s(j)^2", "zone counts spread over sizes"),
    "SizeZoneNonUniformityNormalized": ("VB3A", r"\frac{1}{N_z^2}\sum_j p_s(j)^2", "normalised SZNU"),
    "ZonePercentage": ("P30P", r"\frac{N_z}{N_p}", "zones per voxel: coarseness"),
    "GrayLevelVariance": ("BYLV", r"\sum_i \frac{p_g(i)}{N_z}(i-\mu_i)^2", "variance of zone grey levels"),
    "ZoneVariance": ("3NSA", r"\sum_j \frac{p_s(j)}{N_z}(j-\mu_j)^2", "variance of zone sizes"),
    "ZoneEntropy": ("GU8N", r"-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)", "randomness of (level, size)"),
    "LowGrayLevelZoneEmphasis": ("XMSY", r"\frac{1}{N_z}\sum_i \frac{p_g(i)}{i^2}", "weight of dark zones"),
    "HighGrayLevelZoneEmphasis": ("5GN9", r"\frac{1}{N_z}\sum_i p_g(i)\,i^2", "weight of bright zones"),
    "SmallAreaLowGrayLevelEmphasis": ("5RAI", r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)}{i^2j^2}", "small dark"),
    "SmallAreaHighGrayLevelEmphasis": (
        "HW1V",
        r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)\,i^2}{j^2}",
        "small bright",
    ),
    "LargeAreaLowGrayLevelEmphasis": (
        "YH51",
        r"\frac{1}{N_z}\sum_{i,j}\frac{P(i,j)\,j^2}{i^2}",
        "large dark",
    ),
    "LargeAreaHighGrayLevelEmphasis": ("J17V", r"\frac{1}{N_z}\sum_{i,j}P(i,j)\,i^2j^2", "large bright"),
}


@njit(**JIT_PARALLEL)
def _glszm_zone_kernel(
    flat, offsets, level_bounds, first_zone, stack, zone_level, zone_size, n_zones, dependence
):
    """Label zones by flood fill over a padded, flattened volume, one range of grey levels per chunk.

    ``flat`` holds the compact level inside the ROI and -1 elsewhere, with a border of -1 at least as wide
    as the largest offset, so a neighbour index never leaves the array and needs no bounds check; it is only
    read. A zone holds one grey level, so chunks of levels label independently: chunk c takes the levels
    ``level_bounds[c]`` to ``level_bounds[c + 1] - 1``, marks visited voxels in its private copy of ``flat``
    and writes its zones (and uses the stack) from ``first_zone[c]`` on, which leaves room for one zone per voxel
    of its levels; ``n_zones[c]`` receives its zone count. ``offsets`` are flat offsets of *both* directions
    of every angle; each voxel is pushed once.

    ``dependence`` (Ng, n_offsets + 1), unless it has no rows: also count each voxel, when it is popped, by
    its neighbours of the same grey level (GLDM's dependence for ``gldm_a`` < 1: see
    :func:`glszm_zones_and_dependence`); a chunk writes only its own levels' rows.
    """
    for c in prange(level_bounds.shape[0] - 1):
        n_zones[c] = _label_levels(
            flat,
            offsets,
            level_bounds[c],
            level_bounds[c + 1],
            first_zone[c],
            stack,
            zone_level,
            zone_size,
            dependence,
        )


@njit(**JIT)
def _label_levels(flat, offsets, low, high, base, stack, zone_level, zone_size, dependence):
    """Flood-fill the zones of levels ``low`` to ``high - 1``; zones and stack from ``base`` on; their count."""
    n_offsets = offsets.shape[0]
    want_dependence = dependence.shape[0] > 0
    own = flat.copy()  # private: visited voxels are overwritten with -2
    count = 0
    for start in range(own.shape[0]):
        level = own[start]
        if level < low or level >= high:
            continue
        own[start] = -2
        stack[base] = start
        top = base + 1
        size = 0
        while top > base:
            top -= 1
            current = stack[top]
            size += 1
            dependent = 0
            for a in range(n_offsets):
                neighbour = np.uint64(current + offsets[a])
                if want_dependence:
                    dependent += flat[neighbour] == level
                if own[neighbour] == level:
                    own[neighbour] = -2
                    stack[top] = neighbour
                    top += 1
            if want_dependence:
                dependence[level, dependent] += 1.0
        zone_level[base + count] = level
        zone_size[base + count] = size
        count += 1
    return count


@njit(**JIT)
def _count_levels(levels, counts):
    for k in range(levels.shape[0]):
        if levels[k] >= 0:
            counts[levels[k]] += 1


def _level_chunks(level_counts, n_chunks):
    """Split the grey levels into at most ``n_chunks`` ranges of about equal voxel counts.

    Returns the range bounds (levels ``bounds[c]`` to ``bounds[c + 1] - 1``) and each range's first voxel
    index in level order (where its zones and stack start).
    """
    n_levels = len(level_counts)
    cumulative = np.zeros(n_levels + 1, dtype=np.int64)
    np.cumsum(level_counts, out=cumulative[1:])
    targets = cumulative[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(cumulative, targets, side="left")
    # the bounds rise (searchsorted of rising targets): dropping repeats is numpy.unique, without its sort
    bounds = [0]
    for bound in np.clip(inner, 0, n_levels).tolist() + [n_levels]:
        if bound != bounds[-1]:
            bounds.append(bound)
    bounds = np.array(bounds, dtype=np.int64)
    return bounds, cumulative[bounds[:-1]]


def glszm_zones(levels, angles, n_levels, n_chunks=None, dependence=None):
    """Grey level and size of every zone (in no particular order).

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) neighbour offsets holding *both* directions, i.e.
        ``generate_angles(shape, (1,), force2D, force2Ddimension, bidirectional=True)``.
    n_levels : int
        Number of grey levels present in the ROI.
    n_chunks : int or None
        Ranges of grey levels labelled side by side; None: one per Numba thread.
    dependence : numpy.ndarray or None
        float64 (n_levels, n_angles + 1) zeros, or None: receives the voxel counts per level and number of
        neighbours of the same level (see :func:`glszm_zones_and_dependence`).

    Returns
    -------
    zone_level, zone_size : numpy.ndarray
        int64 (n_zones,) each. The zones found do not depend on how the levels are split.
    """
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    level_counts = np.zeros(n_levels, dtype=np.int64)
    _count_levels(levels.reshape(-1), level_counts)
    n_roi = int(level_counts.sum())
    if n_roi == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pad = int(np.abs(angles).max()) if angles.size else 0
    flat, strides = padded_flat(levels, pad, -1)
    # One chunk per thread: each works on its own copy of the padded box.
    n_chunks = numba.get_num_threads() if n_chunks is None else n_chunks
    bounds, first_zone = _level_chunks(level_counts, max(1, min(n_chunks, n_levels)))
    stack = np.empty(n_roi, dtype=np.int64)
    zone_level = np.empty(n_roi, dtype=np.int64)
    zone_size = np.empty(n_roi, dtype=np.int64)
    n_zones = np.zeros(len(bounds) - 1, dtype=np.int64)
    if dependence is None:
        dependence = np.zeros((0, 0), dtype=np.float64)
    offsets = angles @ strides
    _glszm_zone_kernel(flat, offsets, bounds, first_zone, stack, zone_level, zone_size, n_zones, dependence)
    if len(n_zones) == 1:
        return zone_level[: n_zones[0]], zone_size[: n_zones[0]]
    found = [slice(f, f + n) for f, n in zip(first_zone.tolist(), n_zones.tolist(), strict=True)]
    return np.concatenate([zone_level[k] for k in found]), np.concatenate([zone_size[k] for k in found])


def glszm_matrix(levels, angles, n_levels):
    """Zone counts per grey level and zone size.

    Parameters
    ----------
    levels, angles, n_levels
        As for :func:`glszm_zones`.

    Returns
    -------
    numpy.ndarray
        float64 (n_levels, largest zone size): element (i, s) counts the zones of level i with s + 1 voxels.
    """
    zone_level, zone_size = glszm_zones(levels, angles, n_levels)
    largest = int(zone_size.max()) if len(zone_size) else 0
    out = np.zeros((int(n_levels), largest), dtype=np.float64)
    _glszm_fill_kernel(zone_level, zone_size - 1, out)
    return out


def glszm_occurring_sizes(levels, angles, n_levels):
    """``prepare_glszm(glszm_matrix(...))`` without the dense matrix (a ROI's largest zone can be huge).

    Returns
    -------
    p : numpy.ndarray
        (1, n_levels, n_sizes) zone counts of the sizes that occur.
    sizes : numpy.ndarray
        float64 (n_sizes,) zone size of each column, increasing.
    """
    return _occurring_sizes(*glszm_zones(levels, angles, n_levels), n_levels)


def glszm_zones_and_dependence(levels, angles, n_levels):
    """:func:`glszm_occurring_sizes` and GLDM's dependence counts for ``gldm_a`` < 1 from one labelling pass.

    Grey levels are bin numbers (whole numbers), so a neighbour is dependent (``|i - j| <= gldm_a`` < 1)
    exactly when it has the same grey level: the flood fill loads those neighbours anyway. ``angles`` must be
    the GLDM neighbourhood too (distance 1, both directions). Returns ``(p, sizes, dependence)``, the last
    equal to :func:`spinerad.kernels.gldm.gldm_matrix`'s (whole-number counts: the same floats).
    """
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    dependence = np.zeros((n_levels, angles.shape[0] + 1), dtype=np.float64)
    zone_level, zone_size = glszm_zones(levels, angles, n_levels, dependence=dependence)
    return (*_occurring_sizes(zone_level, zone_size, n_levels), dependence)


def _occurring_sizes(zone_level, zone_size, n_levels):
    # numpy.unique(zone_size, return_inverse=True) without its sort: the sizes are 1..n_roi, so a table of
    # the sizes present gives them in increasing order and each zone's column is its size's rank there
    present = np.zeros(int(zone_size.max()) + 1 if len(zone_size) else 1, dtype=np.int64)
    present[zone_size] = 1
    sizes = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    out = np.zeros((1, int(n_levels), len(sizes)), dtype=np.float64)
    _glszm_fill_kernel(zone_level, rank[zone_size], out[0])
    return out, sizes.astype(np.float64)


@njit(**JIT)
def _glszm_fill_kernel(zone_level, column, out):
    for z in range(zone_level.shape[0]):
        out[zone_level[z], column[z]] += 1.0


def prepare_glszm(counts):
    """Drop the zone sizes no zone has, as PyRadiomics does (its matrix is sparse in size for large ROIs).

    Parameters
    ----------
    counts : numpy.ndarray
        (Ng, Ns) from :func:`glszm_matrix`, or a batch (n_batch, Ng, Ns).

    Returns
    -------
    p : numpy.ndarray
        (n_batch, Ng, n_sizes) counts of the sizes that occur (in any ROI of the batch).
    sizes : numpy.ndarray
        float64 (n_sizes,) zone size of each column.
    """
    p = counts if counts.ndim == 3 else counts[None]
    keep = np.flatnonzero(p.sum(axis=(0, 1)))
    return p[:, :, keep], keep + 1.0


@njit(**JIT)
def _glszm_feature_kernel(p_all, grey_levels, sizes, out):
    n_batch, n_levels, n_sizes = p_all.shape
    pg = np.empty(n_levels)
    ps = np.empty(n_sizes)
    for b in range(n_batch):
        n_z = p_all[b].sum()
        # PyRadiomics replaces a zero zone count by 1 (an empty ROI then gives 0, not NaN).
        level_size_features(p_all[b], grey_levels, sizes, n_z if n_z != 0 else 1.0, pg, ps, out[b])


def glszm_features(p, grey_levels, sizes=None):
    r"""All GLSZM features per ROI.

    Parameters
    ----------
    p : numpy.ndarray
        (n_batch, Ng, Ns) zone counts (a batch of :func:`glszm_matrix` results zero-padded to one Ns, or
        the compacted counts of :func:`prepare_glszm`).
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices.
    sizes : numpy.ndarray or None
        (Ns,) zone size of each column; None for 1..Ns.

    Returns
    -------
    numpy.ndarray
        (n_batch, len(FEATURE_NAMES)).

    Notes
    -----
    E.g. Small Area Emphasis :math:`=\frac{1}{N_z}\sum_j p_s(j)/j^2` (IBSI 5QRC) and Zone Percentage
    :math:`=N_z/N_p` (IBSI P30P); every formula with its IBSI tag is in :data:`FORMULAS`.
    """
    sizes = np.arange(1.0, p.shape[2] + 1) if sizes is None else np.asarray(sizes, dtype=np.float64)
    out = np.empty((p.shape[0], len(FEATURE_NAMES)), dtype=np.float64)
    _glszm_feature_kernel(
        np.ascontiguousarray(p, dtype=np.float64), np.asarray(grey_levels, dtype=np.float64), sizes, out
    )
    return out

r"""GLCM feature maps: the co-occurrence features of every voxel's kernel, PyRadiomics-exact.

Per voxel (one thread, thread-private scratch): count the pairs of the kernel box per angle over the box's
local grey levels, symmetrise, drop the angles without a pair (PyRadiomics computing this voxel alone),
normalise, then the GLCM formulas of :mod:`spinerad.kernels.glcm_formulas` with the real level values and the
ROI's ``Ng``. Levels absent from an angle's pairs would only add zero rows and columns: every sum skips
them, and the MCC matrix would only get zero rows whose eigenvalues are exactly 0, so each angle's matrix
holds only the levels with a pair at that angle.

MCC (:func:`spinerad.kernels.glcm_formulas.symmetric_mcc`): exact up to rounding; where the true value is 0
(an angle whose matrix has rank one), PyRadiomics' square root of a rounding-level eigenvalue is ~1e-8 or
NaN and this one is ~1e-8 or 0.
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .glcm import FEATURE_NAMES, MCC_NAME
from .glcm_formulas import matrix_features, symmetric_mcc
from .voxel_common import block_scratch, block_voxels, load_window, nanmean_row

N_FEATURES = len(FEATURE_NAMES) + 1  # + MCC, last
_N_FORMULAS = len(FEATURE_NAMES)
_JOINT_AVERAGE = FEATURE_NAMES.index("JointAverage")


def voxel_features_body(
    box,
    n,
    g,
    sz,
    sy,
    sx,
    angles,
    ng_max,
    n_global,
    symmetrical,
    want_mcc,
    scratch,
    counts,
    p,
    s,
    order,
    feats,
    row,
):
    """Compute the GLCM features (+ MCC last) of one kernel box into ``row`` (CPU and GPU per-voxel body).

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles``, ``ng_max``,
    ``n_global``, ``symmetrical``, ``want_mcc`` as :func:`glcm_maps`. Scratch: ``scratch`` float64
    (7, >= n) rows px, py, w, u, q, ga, mcc (the last one >= n_angles); ``counts``, ``p``, ``s`` (>= n, >= n);
    ``order`` int (2, >= n) (MCC search, active levels); ``feats`` (23, >= n_angles); p_sum and p_diff
    marginals are ``scratch[7]`` and ``scratch[8]`` (>= 2 Ng - 1, all zero on entry and on return).
    """
    n_angles = angles.shape[0]
    px = scratch[0]
    py = scratch[1]
    w = scratch[2]
    u = scratch[3]
    q = scratch[4]
    ga = scratch[5]
    mcc = scratch[6]
    p_sum = scratch[7]
    p_diff = scratch[8]
    active = order[1]
    used = w  # during the counting of one angle: 1 for the levels in a pair (MCC reuses the row later)
    # counts is zeroed once per kernel; after each angle only the cells it used are zeroed again
    for i in range(n):
        for j in range(n):
            counts[i, j] = 0.0
    kept = 0
    for a in range(n_angles):
        for i in range(n):
            used[i] = 0.0
        az, ay, ax = angles[a, 0], angles[a, 1], angles[a, 2]
        total = 0.0
        for bz in range(max(0, -az), min(sz, sz - az)):
            for by in range(max(0, -ay), min(sy, sy - ay)):
                for bx in range(max(0, -ax), min(sx, sx - ax)):
                    i = box[(bz * sy + by) * sx + bx]
                    if i >= 0:
                        j = box[((bz + az) * sy + by + ay) * sx + bx + ax]
                        if j >= 0:
                            counts[i, j] += 1.0
                            total += 1.0
                            used[i] = 1.0
                            used[j] = 1.0
        # PyRadiomics drops an angle without any pair (the voxel computed alone)
        if not (total > 0 or n_angles == 1):
            continue
        norm = total * 2.0 if symmetrical else total
        if norm == 0:
            norm = math.nan
        # only the levels with a pair at this angle: the others are zero rows and columns, which add exactly
        # 0 to every feature sum and only zero eigenvalues to Q
        na = 0
        for i in range(n):
            if used[i] != 0.0 or total == 0:
                active[na] = i
                ga[na] = g[i]
                na += 1
        for ii in range(na):
            i = active[ii]
            for jj in range(na):
                j = active[jj]
                c = counts[i, j] + counts[j, i] if symmetrical else counts[i, j]
                p[ii, jj] = c / norm
        for ii in range(na):
            i = active[ii]
            for jj in range(na):
                counts[i, active[jj]] = 0.0
        matrix_features(p, na, ga, ng_max, symmetrical, px, py, p_sum, p_diff, row)
        for f in range(_N_FORMULAS):
            feats[f, kept] = row[f]
        if not want_mcc or not symmetrical:
            mcc[kept] = math.nan
        elif n_global < 2:
            mcc[kept] = 1.0  # PyRadiomics: a single grey level in the whole ROI
        elif total == 0:
            mcc[kept] = math.nan
        elif na < 2:
            mcc[kept] = 0.0  # eigenvalues {1, 0, ...}
        else:
            mcc[kept] = symmetric_mcc(p, na, px, u, q, s, w, order[0])
        kept += 1
    for f in range(_N_FORMULAS):
        if f == _JOINT_AVERAGE:
            # PyRadiomics averages Joint Average with a plain mean (NaN if any angle is NaN)
            total = 0.0
            for a in range(kept):
                total += feats[f, a]
            row[f] = total / kept if kept else math.nan
        else:
            row[f] = nanmean_row(feats[f], kept)
    row[N_FEATURES - 1] = nanmean_row(mcc, kept)


voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel body and its callees by name, callees first (for the GPU twin).
BODIES = (("voxel_features", voxel_features_body),)


@njit(**JIT_PARALLEL)
def glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, blocks, out):
    """GLCM features (+ MCC last) of each voxel's kernel; ``out`` (n_voxels, 24).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, distances, force2D, axis)``.
    ``grey_levels``: float64 real level of each global compact index; its last entry is PyRadiomics' Ng.
    ``symmetrical``: ``symmetricalGLCM`` (MCC is computed for symmetric matrices only; NaN otherwise).
    ``want_mcc``: compute MCC (the costliest feature); NaN when False.
    """
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        lmax = g.shape[0]
        scratch = np.zeros((9, max(lmax, n_angles, 2 * ng_max + 1)))
        counts = np.empty((lmax, lmax))
        p = np.empty((lmax, lmax))
        s = np.empty((lmax, lmax))
        order = np.empty((2, lmax), dtype=np.int64)
        feats = np.empty((_N_FORMULAS, n_angles))
        start, stop = block_voxels(blk, blocks, coords.shape[0])
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            voxel_features(
                box, n, g, sz, sy, sx, angles, ng_max, n_global, symmetrical, want_mcc,
                scratch, counts, p, s, order, feats, out[v],
            )  # fmt: skip


__all__ = ["BODIES", "FEATURE_NAMES", "MCC_NAME", "N_FEATURES", "glcm_maps"]

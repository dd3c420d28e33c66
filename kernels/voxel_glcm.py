r"""GLCM feature maps: the co-occurrence features of every voxel's kernel, PyRadiomics-exact.

Per voxel (one thread, thread-private scratch): count the pairs of the kernel box per angle over the box's
local grey levels, symmetrise, drop the angles without a pair (PyRadiomics computing this voxel alone),
normalise, then the same feature formulas as the per-ROI class (:mod:`spinerad.kernels.glcm`) with the real
level values and the ROI's ``Ng``. Levels absent from the kernel would only add zero rows and columns:
every sum skips them, and the MCC matrix gets zero rows whose eigenvalues are exactly 0.

MCC: for a symmetric GLCM, :math:`Q = D^{-1}PD^{-1}P` is similar to :math:`S^2` with the symmetric
:math:`S = D^{-1/2}PD^{-1/2}`, so its second-largest eigenvalue is the second-largest :math:`s_k^2`
(``eigvalsh``, always real). PyRadiomics takes the general eigenvalues of Q (+ eps in the denominator):
the two agree to rounding except where the true value is 0, where PyRadiomics' square root of a
rounding-level eigenvalue is ~1e-8 or NaN and this one is ~1e-8 or 0.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .glcm import FEATURE_NAMES, MCC_NAME, _glcm_feature_kernel
from .voxel_common import box_bounds, local_box, nanmean_row

N_FEATURES = len(FEATURE_NAMES) + 1  # + MCC, last
_JOINT_AVERAGE = FEATURE_NAMES.index("JointAverage")


@njit(**JIT)
def _mcc(p, n_levels):
    """sqrt of the second-largest eigenvalue of Q for one symmetric normalised matrix ``p`` (L, L)."""
    d = np.zeros(n_levels)
    for i in range(n_levels):
        for j in range(n_levels):
            d[i] += p[i, j]
    s = np.zeros((n_levels, n_levels))
    for i in range(n_levels):
        for j in range(n_levels):
            if d[i] > 0 and d[j] > 0:
                s[i, j] = p[i, j] / np.sqrt(d[i] * d[j])
    w = np.linalg.eigvalsh(s)
    w2 = w * w
    w2.sort()
    return np.sqrt(w2[n_levels - 2])


@njit(**JIT_PARALLEL)
def glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, blocks, out):
    """GLCM features (+ MCC last) of each voxel's kernel; ``out`` (n_voxels, 24).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, distances, force2D, axis)``.
    ``grey_levels``: float64 real level of each global compact index; its last entry is PyRadiomics' Ng.
    ``symmetrical``: ``symmetricalGLCM`` (MCC is computed for symmetric matrices only; NaN otherwise).
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    span = 2 * radius + 1
    kmax = span * span * span
    lmax = min(kmax, n_global)
    shape = levels.shape
    for blk in prange(blocks):
        box = np.empty(kmax, dtype=np.int32)
        marker = np.full(n_global, -1, dtype=np.int32)
        local = np.empty(lmax, dtype=np.int64)
        g = np.empty(lmax)
        counts = np.zeros((n_angles, lmax, lmax))
        sums = np.empty(n_angles)
        agg = np.empty(n_angles)
        for v in range(blk * n_vox // blocks, (blk + 1) * n_vox // blocks):
            z0, y0, x0, sz, sy, sx = box_bounds(shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d)
            n = local_box(levels, z0, y0, x0, sz, sy, sx, box, marker, local)
            for i in range(n):
                g[i] = grey_levels[local[i]]
            for a in range(n_angles):
                for i in range(n):
                    for j in range(n):
                        counts[a, i, j] = 0.0
                az, ay, ax = angles[a, 0], angles[a, 1], angles[a, 2]
                for bz in range(max(0, -az), min(sz, sz - az)):
                    for by in range(max(0, -ay), min(sy, sy - ay)):
                        for bx in range(max(0, -ax), min(sx, sx - ax)):
                            i = box[(bz * sy + by) * sx + bx]
                            if i >= 0:
                                j = box[((bz + az) * sy + by + ay) * sx + bx + ax]
                                if j >= 0:
                                    counts[a, i, j] += 1.0
            kept = 0
            for a in range(n_angles):
                total = 0.0
                for i in range(n):
                    for j in range(n):
                        total += counts[a, i, j]
                sums[a] = total
                if total > 0 or n_angles == 1:
                    kept += 1
            p = np.empty((1, kept, n, n))
            k = 0
            for a in range(n_angles):
                if not (sums[a] > 0 or n_angles == 1):
                    continue
                norm = sums[a] * 2.0 if symmetrical else sums[a]
                if norm == 0:
                    norm = np.nan
                for i in range(n):
                    for j in range(n):
                        c = counts[a, i, j] + counts[a, j, i] if symmetrical else counts[a, i, j]
                        p[0, k, i, j] = c / norm
                k += 1
            feats = np.empty((1, kept, len(FEATURE_NAMES)))
            _glcm_feature_kernel(p, g[:n].copy(), ng_max, feats)
            row = out[v]
            for f in range(len(FEATURE_NAMES)):
                for a in range(kept):
                    agg[a] = feats[0, a, f]
                if f == _JOINT_AVERAGE:
                    # PyRadiomics averages Joint Average with a plain mean (NaN if any angle is NaN)
                    total = 0.0
                    for a in range(kept):
                        total += agg[a]
                    row[f] = total / kept if kept else np.nan
                else:
                    row[f] = nanmean_row(agg, kept)
            # MCC
            if not symmetrical:
                row[N_FEATURES - 1] = np.nan
            elif n_global < 2:
                row[N_FEATURES - 1] = 1.0  # PyRadiomics: a single grey level in the whole ROI
            elif n < 2:
                row[N_FEATURES - 1] = 0.0 if kept else np.nan
            else:
                for a in range(kept):
                    if np.isnan(p[0, a, 0, 0]):
                        agg[a] = np.nan
                    else:
                        agg[a] = _mcc(p[0, a], n)
                row[N_FEATURES - 1] = nanmean_row(agg, kept)


__all__ = ["FEATURE_NAMES", "MCC_NAME", "N_FEATURES", "glcm_maps"]

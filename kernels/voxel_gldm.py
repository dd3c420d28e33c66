"""GLDM feature maps: the dependence features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the number of valid neighbours inside the box whose
level differs by at most ``gldm_a``; then the per-ROI formulas of :mod:`spinerad.kernels.gldm`.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from .gldm import FEATURE_NAMES, _gldm_feature_kernel
from .voxel_common import box_bounds, local_box


@njit(**JIT_PARALLEL)
def gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, blocks, out):
    """GLDM features of each voxel's kernel; ``out`` (n_voxels, 14).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting); ``alpha``: ``gldm_a``.
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    span = 2 * radius + 1
    kmax = span * span * span
    lmax = min(kmax, n_global)
    shape = levels.shape
    n_feat = len(FEATURE_NAMES)
    for blk in prange(blocks):
        box = np.empty(kmax, dtype=np.int32)
        marker = np.full(n_global, -1, dtype=np.int32)
        local = np.empty(lmax, dtype=np.int64)
        g = np.empty(lmax)
        feats = np.empty((1, n_feat))
        for v in range(blk * n_vox // blocks, (blk + 1) * n_vox // blocks):
            z0, y0, x0, sz, sy, sx = box_bounds(
                shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d
            )
            n = local_box(levels, z0, y0, x0, sz, sy, sx, box, marker, local)
            for i in range(n):
                g[i] = grey_levels[local[i]]
            p = np.zeros((1, n, n_angles + 1))
            for bz in range(sz):
                for by in range(sy):
                    for bx in range(sx):
                        i = box[(bz * sy + by) * sx + bx]
                        if i < 0:
                            continue
                        dependent = 0
                        for a in range(n_angles):
                            nz, ny, nx = bz + angles[a, 0], by + angles[a, 1], bx + angles[a, 2]
                            if 0 <= nz < sz and 0 <= ny < sy and 0 <= nx < sx:
                                j = box[(nz * sy + ny) * sx + nx]
                                if j >= 0 and abs(g[i] - g[j]) <= alpha:
                                    dependent += 1
                        p[0, i, dependent] += 1.0
            _gldm_feature_kernel(p, g[:n].copy(), feats)
            for f in range(n_feat):
                out[v, f] = feats[0, f]


__all__ = ["FEATURE_NAMES", "gldm_maps"]

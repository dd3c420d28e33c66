"""GLDM feature maps: the dependence features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the number of valid neighbours inside the box whose
level differs by at most ``gldm_a``; then the per-ROI formulas of :mod:`spinerad.kernels.gldm`.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from .gldm import FEATURE_NAMES, _gldm_feature_kernel
from .voxel_common import block_scratch, block_voxels, load_window, neighbour_sums


@njit(**JIT_PARALLEL)
def gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, blocks, out):
    """GLDM features of each voxel's kernel; ``out`` (n_voxels, 14).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting); ``alpha``: ``gldm_a``.
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    n_feat = len(FEATURE_NAMES)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        feats = np.empty((1, n_feat))
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            p = np.zeros((1, n, n_angles + 1))
            for b in range(sz * sy * sx):
                if box[b] >= 0:
                    _, _, dependent = neighbour_sums(box, sz, sy, sx, b, angles, g, alpha)
                    p[0, box[b], dependent] += 1.0
            _gldm_feature_kernel(p, g[:n].copy(), feats)
            for f in range(n_feat):
                out[v, f] = feats[0, f]


__all__ = ["FEATURE_NAMES", "gldm_maps"]

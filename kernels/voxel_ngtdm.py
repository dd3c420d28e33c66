"""NGTDM feature maps: the neighbourhood grey-tone features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the absolute difference between its level and the mean
level of its valid neighbours inside the box (0 without any); then the per-ROI formulas of
:mod:`spinerad.kernels.ngtdm` over the levels present in the kernel.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from .ngtdm import FEATURE_NAMES, _ngtdm_feature_kernel
from .voxel_common import block_scratch, block_voxels, load_window


@njit(**JIT_PARALLEL)
def ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """NGTDM features of each voxel's kernel; ``out`` (n_voxels, 5).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting).
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
            m = np.zeros((1, n, 2))
            for bz in range(sz):
                for by in range(sy):
                    for bx in range(sx):
                        i = box[(bz * sy + by) * sx + bx]
                        if i < 0:
                            continue
                        count = 0.0
                        total = 0.0
                        for a in range(n_angles):
                            nz, ny, nx = bz + angles[a, 0], by + angles[a, 1], bx + angles[a, 2]
                            if 0 <= nz < sz and 0 <= ny < sy and 0 <= nx < sx:
                                j = box[(nz * sy + ny) * sx + nx]
                                if j >= 0:
                                    count += 1.0
                                    total += g[j]
                        diff = 0.0 if count == 0 else abs(g[i] - total / count)
                        m[0, i, 0] += 1.0
                        m[0, i, 1] += diff
            _ngtdm_feature_kernel(m, g[:n].copy(), feats)
            for f in range(n_feat):
                out[v, f] = feats[0, f]


__all__ = ["FEATURE_NAMES", "ngtdm_maps"]

"""NGTDM feature maps: the neighbourhood grey-tone features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the absolute difference between its level and the mean
level of its valid neighbours inside the box (0 without any); then the per-ROI formulas of
:mod:`spinerad.kernels.ngtdm` over the levels present in the kernel.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .ngtdm import FEATURE_NAMES, _ngtdm_feature_kernel
from .voxel_common import block_scratch, block_voxels, load_window, neighbour_sums, neighbour_sums_body


def ngtdm_table_body(box, sz, sy, sx, angles, g, count, diff):
    """Add one kernel box's NGTDM table into ``count`` and ``diff`` (one entry per local level).

    ``count``: the valid voxels of the level; ``diff``: the sum of their absolute differences to the mean
    level of their valid neighbours in the box (0 without any).
    """
    for b in range(sz * sy * sx):
        i = box[b]
        if i >= 0:
            neighbours, total, _ = neighbour_sums(box, sz, sy, sx, b, angles, g, 0.0)
            count[i] += 1.0
            if neighbours > 0:
                diff[i] += abs(g[i] - total / neighbours)


ngtdm_table = njit(**JIT)(ngtdm_table_body)

#: The bodies shared with the CUDA twin, by the names the compiled functions carry, callees first.
BODIES = (("neighbour_sums", neighbour_sums_body), ("ngtdm_table", ngtdm_table_body))


@njit(**JIT_PARALLEL)
def ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """NGTDM features of each voxel's kernel; ``out`` (n_voxels, 5).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting).
    """
    n_vox = coords.shape[0]
    n_global = grey_levels.shape[0]
    n_feat = len(FEATURE_NAMES)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        feats = np.empty((1, n_feat))
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            m = np.zeros((1, n, 2))
            ngtdm_table(box, sz, sy, sx, angles, g, m[0, :, 0], m[0, :, 1])
            _ngtdm_feature_kernel(m, g[:n].copy(), feats)
            for f in range(n_feat):
                out[v, f] = feats[0, f]


__all__ = ["FEATURE_NAMES", "ngtdm_maps"]

"""NGTDM feature maps: the neighbourhood grey-tone features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the absolute difference between its level and the mean
level of its valid neighbours inside the box (0 without any); then the per-ROI formulas of
:mod:`spinerad.kernels.ngtdm` over the levels present in the kernel.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .ngtdm import FEATURE_NAMES, table_features
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


@njit(**JIT)
def pad_box(box, sz, sy, sx, pad, padded):
    """Copy the flat box into ``padded`` (flat, C order) with a border of ``pad`` non-valid (-1) voxels."""
    psy = sy + 2 * pad
    psx = sx + 2 * pad
    for k in range((sz + 2 * pad) * psy * psx):
        padded[k] = -1
    for bz in range(sz):
        for by in range(sy):
            src = (bz * sy + by) * sx
            dst = ((bz + pad) * psy + by + pad) * psx + pad
            for bx in range(sx):
                padded[dst + bx] = box[src + bx]


@njit(**JIT)
def ngtdm_table_padded(padded, sz, sy, sx, pad, angles, flat, g, count, diff):
    """:func:`ngtdm_table` on the padded box (:func:`pad_box`): the same sums in the same order.

    A neighbour outside the box lands in the border (-1, not valid), so the neighbour loop needs no bounds
    check: one load per angle at the flat offset ``flat[a]`` (filled here for this box's padded shape). The
    CUDA twin keeps :func:`ngtdm_table` (no room for the padded copy in a thread's local memory).
    """
    psy = sy + 2 * pad
    psx = sx + 2 * pad
    for a in range(angles.shape[0]):
        flat[a] = (angles[a, 0] * psy + angles[a, 1]) * psx + angles[a, 2]
    for bz in range(sz):
        for by in range(sy):
            row = ((bz + pad) * psy + by + pad) * psx + pad
            for bx in range(sx):
                i = padded[row + bx]
                if i < 0:
                    continue
                neighbours = 0
                total = 0.0
                for a in range(flat.shape[0]):
                    j = padded[row + bx + flat[a]]
                    if j >= 0:
                        neighbours += 1
                        total += g[j]
                count[i] += 1.0
                if neighbours > 0:
                    diff[i] += abs(g[i] - total / neighbours)


@njit(**JIT_PARALLEL)
def ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """NGTDM features of each voxel's kernel; ``out`` (n_voxels, 5).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting).
    """
    n_vox = coords.shape[0]
    n_global = grey_levels.shape[0]
    pad = 0
    for a in range(angles.shape[0]):
        for d in range(3):
            pad = max(pad, abs(angles[a, d]))
    padded_size = (2 * radius + 1 + 2 * pad) ** 3
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        # the table of one kernel, over its local levels: scratch of the block, not allocated per voxel
        count = np.empty(g.shape[0])
        diff = np.empty(g.shape[0])
        padded = np.empty(padded_size, dtype=np.int32)
        flat = np.empty(angles.shape[0], dtype=np.int64)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            for i in range(n):
                count[i] = 0.0
                diff[i] = 0.0
            pad_box(box, sz, sy, sx, pad, padded)
            ngtdm_table_padded(padded, sz, sy, sx, pad, angles, flat, g, count, diff)
            table_features(count, diff, g, n, out[v])


__all__ = ["FEATURE_NAMES", "ngtdm_maps"]

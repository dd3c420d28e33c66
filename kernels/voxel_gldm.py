"""GLDM feature maps: the dependence features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the number of valid neighbours inside the box whose
level differs by at most ``gldm_a``; then the per-ROI formulas of :mod:`spinerad.kernels.gldm` (the sums of
:mod:`spinerad.kernels.level_size`) over the levels present in the kernel. The neighbours are tested once
per batch (:mod:`spinerad.kernels.voxel_neighbour_bits`): a box voxel's dependence is the number of its
neighbour bits that stay inside the box. The per-voxel body (:func:`voxel_features_body`) allocates
nothing: the CPU kernel gives it one block's scratch, the CUDA twin
(:mod:`spinerad.kernels.gpu_voxel_gldm`) thread-local arrays.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .gldm import _GLDM_SUMS, FEATURE_NAMES
from .level_size import level_size_sums
from .voxel_common import block_scratch, block_voxels, box_bounds, load_window
from .voxel_neighbour_bits import batch_region, box_neighbours, inbox_table, popcount, region_bits


def voxel_features_body(
    box, sz, sy, sx, n, g, n_dep, bits, oz, oy, ox, inbox, counts, dependences, pg, pd, sums, row
):
    """The GLDM features of one kernel box into ``row`` (14), CPU and GPU per-voxel body.

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``n_dep``: neighbour
    offsets + 1; ``bits`` the dependent-neighbour bits of the batch region, the box at (oz, oy, ox) in it;
    ``inbox`` from :func:`spinerad.kernels.voxel_neighbour_bits.inbox_table`. Scratch: ``counts``
    (>= n, >= n_dep); ``dependences`` (>= n_dep) holding 1, 2, ...; ``pg`` (>= n), ``pd`` (>= n_dep),
    ``sums`` (16).
    """
    for i in range(n):
        for k in range(n_dep):
            counts[i, k] = 0.0
    total = 0.0
    b = 0
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                i = box[b]
                b += 1
                if i >= 0:
                    dependent = 0
                    for w in range(bits.shape[3]):
                        dependent += popcount(
                            box_neighbours(bits, oz, oy, ox, inbox, sz, sy, sx, bz, by, bx, w)
                        )
                    counts[i, dependent] += 1.0
                    total += 1.0
    # PyRadiomics replaces a zero voxel count by 1
    level_size_sums(counts, n, n_dep, g, dependences, total if total != 0 else 1.0, pg, pd, sums)
    for f in range(_GLDM_SUMS.shape[0]):
        row[f] = sums[_GLDM_SUMS[f]]


voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel body by name (its callees are voxel_neighbour_bits' and level_size's).
BODIES = (("voxel_features", voxel_features_body),)


@njit(**JIT_PARALLEL)
def gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, blocks, out):
    """GLDM features of each voxel's kernel; ``out`` (n_voxels, 14).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting); ``alpha``: ``gldm_a``.
    """
    n_vox = coords.shape[0]
    if n_vox == 0:
        return
    n_dep = angles.shape[0] + 1
    region = batch_region(levels.shape, coords, radius, axis2d)
    bits = region_bits(levels, region, angles, grey_levels, alpha)
    inbox = inbox_table(angles, radius)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, grey_levels.shape[0])
        counts = np.empty((g.shape[0], n_dep))
        dependences = np.arange(1.0, n_dep + 1.0)  # j = dependent neighbours + 1
        pg = np.empty(g.shape[0])
        pd = np.empty(n_dep)
        sums = np.empty(16)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            z0, y0, x0, _, _, _ = box_bounds(
                levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d
            )
            oz, oy, ox = z0 - region[0], y0 - region[1], x0 - region[2]
            voxel_features(
                box,
                sz,
                sy,
                sx,
                n,
                g,
                n_dep,
                bits,
                oz,
                oy,
                ox,
                inbox,
                counts,
                dependences,
                pg,
                pd,
                sums,
                out[v],
            )


__all__ = ["BODIES", "FEATURE_NAMES", "gldm_maps"]

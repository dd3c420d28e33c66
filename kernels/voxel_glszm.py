"""GLSZM feature maps: the size-zone features of every voxel's kernel, PyRadiomics-exact.

Per voxel: the zones (connected by the neighbour offsets, 26- or 8-connected) of equal level among the
kernel box's valid voxels, connected only inside the box (labelled with a small stack over the same-level
neighbour bits of :mod:`spinerad.kernels.voxel_neighbour_bits`, found once per batch), then the per-ROI
formulas of :mod:`spinerad.kernels.glszm` (the sums of :mod:`spinerad.kernels.level_size`) over the levels
present in the kernel and the zone sizes that occur, in increasing order (PyRadiomics drops the empty size
columns). The per-voxel body (:func:`voxel_features_body`) allocates nothing: the CPU kernel gives it one
block's scratch, the CUDA twin (:mod:`spinerad.kernels.gpu_voxel_glszm`) thread-local arrays.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .glszm import FEATURE_NAMES
from .level_size import level_size_sums
from .voxel_common import block_scratch, block_voxels, box_bounds, load_window
from .voxel_neighbour_bits import WORD, batch_region, box_neighbours, inbox_table, lowest_bit, region_bits


def voxel_features_body(
    box, sz, sy, sx, n, g, angles, bits, oz, oy, ox, inbox, same, step, seen, stack, zone_level, zone_size,
    column, sizes, counts, pg, ps, row,
):  # fmt: skip
    """The GLSZM features of one kernel box into ``row`` (16), CPU and GPU per-voxel body.

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles`` int64 (Na, 3)
    both directions (Na <= 32); ``bits`` the same-level neighbour bits of the batch region, the box at (oz, oy, ox) in
    it; ``inbox`` from :func:`spinerad.kernels.voxel_neighbour_bits.inbox_table`. Scratch, ``K`` = the box
    volume: ``same`` int64 (>= K); ``step`` int (>= Na); ``seen`` uint8 or int8 (>= K); ``stack``,
    ``zone_level``, ``zone_size`` int (>= K); ``column`` int (>= K + 1); ``sizes`` float
    (>= the number of distinct zone sizes: at most m with m (m + 1) / 2 <= K); ``counts`` (>= n,
    >= len(sizes)); ``pg`` (>= n), ``ps`` (>= len(sizes)).
    """
    n_box = sz * sy * sx
    # each box voxel's same-level neighbours inside the box (one word: at most 26 offsets), and the flat
    # step of each offset
    b = 0
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                same[b] = box_neighbours(bits, oz, oy, ox, inbox, sz, sy, sx, bz, by, bx, 0)
                seen[b] = 0
                b += 1
    for a in range(angles.shape[0]):
        step[a] = (angles[a, 0] * sy + angles[a, 1]) * sx + angles[a, 2]
    n_zones = 0
    largest = 0
    for b in range(n_box):
        level = box[b]
        if level < 0 or seen[b] != 0:
            continue
        seen[b] = 1
        stack[0] = b
        top = 1
        size = 0
        while top > 0:
            top -= 1
            c = stack[top]
            size += 1
            m = same[c]
            while m != 0:
                k, m = lowest_bit(m)
                nb = c + step[k]
                if seen[nb] == 0:
                    seen[nb] = 1
                    stack[top] = nb
                    top += 1
        zone_level[n_zones] = level
        zone_size[n_zones] = size
        n_zones += 1
        largest = max(largest, size)
    # the zone sizes that occur, in increasing order, and the column of each
    for size in range(largest + 1):
        column[size] = -1
    for zn in range(n_zones):
        column[zone_size[zn]] = 0
    n_sizes = 0
    for size in range(1, largest + 1):
        if column[size] >= 0:
            column[size] = n_sizes
            sizes[n_sizes] = size
            n_sizes += 1
    for i in range(n):
        for k in range(n_sizes):
            counts[i, k] = 0.0
    for zn in range(n_zones):
        counts[zone_level[zn], column[zone_size[zn]]] += 1.0
    # PyRadiomics replaces a zero zone count by 1
    level_size_sums(counts, n, n_sizes, g, sizes, n_zones if n_zones != 0 else 1.0, pg, ps, row)


voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel body by name (its callee is level_size's).
BODIES = (("voxel_features", voxel_features_body),)


def max_zone_sizes(kmax):
    """The most distinct zone sizes a box of ``kmax`` voxels can hold (1 + 2 + ... + m <= kmax)."""
    m = 0
    while (m + 1) * (m + 2) // 2 <= kmax:
        m += 1
    return m


max_zone_sizes_jit = njit(**JIT)(max_zone_sizes)


@njit(**JIT_PARALLEL)
def glszm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """GLSZM features of each voxel's kernel; ``out`` (n_voxels, 16).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, (1,), force2D, axis, bidirectional=True)``.
    """
    n_vox = coords.shape[0]
    if n_vox == 0:
        return
    if angles.shape[0] > WORD:
        raise ValueError("the GLSZM maps take at most 32 offsets (distance 1)")
    region = batch_region(levels.shape, coords, radius, axis2d)
    bits = region_bits(levels, region, angles, grey_levels, 0.0)
    inbox = inbox_table(angles, radius)
    span = 2 * radius + 1
    kmax = span * span * span
    n_sizes = max_zone_sizes_jit(kmax)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, grey_levels.shape[0])
        same = np.empty(kmax, dtype=np.int64)
        step = np.empty(max(angles.shape[0], 1), dtype=np.int64)
        seen = np.empty(kmax, dtype=np.uint8)
        stack = np.empty(kmax, dtype=np.int64)
        zone_level = np.empty(kmax, dtype=np.int64)
        zone_size = np.empty(kmax, dtype=np.int64)
        column = np.empty(kmax + 1, dtype=np.int64)
        sizes = np.empty(n_sizes)
        counts = np.empty((g.shape[0], n_sizes))
        pg = np.empty(g.shape[0])
        ps = np.empty(n_sizes)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            z0, y0, x0, _, _, _ = box_bounds(
                levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d
            )
            oz, oy, ox = z0 - region[0], y0 - region[1], x0 - region[2]
            voxel_features(
                box, sz, sy, sx, n, g, angles, bits, oz, oy, ox, inbox, same, step, seen, stack, zone_level,
                zone_size, column, sizes, counts, pg, ps, out[v],
            )  # fmt: skip


__all__ = ["BODIES", "FEATURE_NAMES", "glszm_maps", "max_zone_sizes"]

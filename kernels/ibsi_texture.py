"""Numba kernels of IBSI mode's zone and neighbourhood families (GLSZM, GLDZM, NGTDM, NGLDM).

They replace per-grey-level SciPy labelling and 26 shifted-array passes in :mod:`spinerad.ibsi_texture`;
the matrices built from them are unchanged (checked by the IBSI phantom reference values). Each kernel
serves a pair of families in one pass and, with ``two_d``, every slice at once (in-plane neighbours only).
PyRadiomics mode's kernels give the 3D GLSZM (:func:`spinerad.kernels.glszm.glszm_matrix`) and, with
``gldm_a = 0``, the 3D NGLDM (:func:`spinerad.kernels.gldm.gldm_matrix`) too, but neither the border
distances of GLDZM, IBSI's NGTDM (voxels without a neighbour left out) nor per-slice matrices in one call.
Both kernels read the levels with a border of zeros one voxel wide and step to neighbours by flat offsets,
so no neighbour needs a bounds check.
"""

import numba
import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL


def neighbour_offsets(two_d):
    """Return the (z, y, x) offsets of a voxel's neighbours: 26 in 3D, the 8 in-plane ones when ``two_d``."""
    span_z = (0,) if two_d else (-1, 0, 1)
    steps = [(dz, dy, dx) for dz in span_z for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.array([s for s in steps if s != (0, 0, 0)], dtype=np.int64)


def flat_offsets(offsets, shape):
    """Offsets (z, y, x) as steps in the flat index of a C-ordered array of ``shape``."""
    return np.ascontiguousarray(offsets @ np.array([shape[1] * shape[2], shape[2], 1]), dtype=np.int64)


@njit(**JIT)
def group_by_level_kernel(levels, order, level_start):
    """Flat indices of the voxels of level 1..Ng grouped by level (in array order within a level).

    ``levels``: flat int64, 0 outside the ROI; ``order``: int64 (ROI voxels) receives the indices, voxels
    of level g at ``order[level_start[g - 1]:level_start[g]]``; ``level_start``: int64 (Ng + 1), zeroed.
    """
    for i in range(levels.shape[0]):
        if levels[i] > 0:
            level_start[levels[i]] += 1
    for g in range(1, level_start.shape[0]):
        level_start[g] += level_start[g - 1]
    fill = level_start[:-1].copy()
    for i in range(levels.shape[0]):
        g = levels[i]
        if g > 0:
            order[fill[g - 1]] = i
            fill[g - 1] += 1


@njit(**JIT_PARALLEL)
def zones_kernel(
    levels, distance, steps, order, level_start, level_groups, zone_seed, zone_size, zone_distance, zone_count
):
    """Zones of equal grey level (IBSI GLSZM/GLDZM), connected through the flat ``steps`` (flat_offsets).

    ``levels``: flat int64 of an array with a border of zeros (no step leaves it), 0 outside the ROI;
    ``distance``: flat int64 border distance per voxel; ``order``/``level_start``: the ROI voxels grouped
    by level (:func:`group_by_level_kernel`). A flood fill with an explicit stack from each voxel not yet
    reached, in parallel over ``level_groups`` (rows of levels 1..Ng, -1 padded; one row per thread).
    Zones of different levels never touch the same voxels (each thread reads and marks only its own
    levels' voxels in ``visited``): race-free. Writes, per zone of level g in the slots
    ``level_start[g - 1]...``, its first voxel, voxel count and smallest border distance, and the number of
    zones of level g in ``zone_count[g - 1]``.
    Replaces one SciPy labelling per grey level plus per-label reductions.
    """
    visited = np.zeros(levels.shape[0], dtype=np.bool_)
    for row in prange(level_groups.shape[0]):
        for column in range(level_groups.shape[1]):
            level = level_groups[row, column]
            if level < 1:
                continue
            first = level_start[level - 1]
            stop = level_start[level]
            stack = np.empty(stop - first, dtype=np.int64)
            n_zones = 0
            for i in range(first, stop):
                seed = order[i]
                if visited[seed]:
                    continue
                visited[seed] = True
                stack[0] = seed
                top = 1
                size = 0
                nearest = distance[seed]
                while top > 0:
                    top -= 1
                    flat = stack[top]
                    size += 1
                    if distance[flat] < nearest:
                        nearest = distance[flat]
                    for s in range(steps.shape[0]):
                        other = flat + steps[s]
                        if levels[other] == level and not visited[other]:
                            visited[other] = True
                            stack[top] = other
                            top += 1
                zone_seed[first + n_zones] = seed
                zone_size[first + n_zones] = size
                zone_distance[first + n_zones] = nearest
                n_zones += 1
            zone_count[level - 1] = n_zones


def level_groups(counts, n_groups):
    """Levels 1..Ng in ``n_groups`` rows of about equal voxel counts (largest first onto the lightest row).

    Returns an int64 (n_groups, width) array, -1 padded: the rows :func:`zones_kernel` runs in parallel.
    """
    rows = [[] for _ in range(n_groups)]
    load = np.zeros(n_groups)
    for g in np.argsort(-counts, kind="stable"):
        if counts[g] == 0:
            break
        lightest = int(np.argmin(load))
        rows[lightest].append(g + 1)
        load[lightest] += counts[g]
    out = np.full((n_groups, max(1, max(len(r) for r in rows))), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def equal_level_zones(levels, distance, two_d):
    """Zones of equal grey level: (first slice, level, voxel count, smallest border distance) per zone.

    ``levels``: int64 (z, y, x), 1..Ng inside the ROI, 0 outside; ``distance``: int64 border distance
    per voxel; ``two_d``: in-plane (8-connected) zones, else 26-connected. Zones in level order.
    """
    padded = np.pad(levels, 1)  # a border of zeros: no neighbour step leaves the array
    flat = padded.ravel()
    n_voxels = int(np.count_nonzero(flat))
    n_levels = int(flat.max()) if n_voxels else 0
    order = np.empty(n_voxels, dtype=np.int64)
    level_start = np.zeros(n_levels + 1, dtype=np.int64)
    group_by_level_kernel(flat, order, level_start)
    counts = np.diff(level_start)
    groups = level_groups(counts, numba.get_num_threads())
    steps = flat_offsets(neighbour_offsets(two_d), padded.shape)
    zone = np.empty((3, n_voxels), dtype=np.int64)  # first voxel, size, distance
    zone_count = np.zeros(n_levels, dtype=np.int64)
    border = np.pad(distance, 1).ravel()
    zones_kernel(flat, border, steps, order, level_start, groups, zone[0], zone[1], zone[2], zone_count)
    used = np.arange(n_voxels) - np.repeat(level_start[:-1], counts) < np.repeat(zone_count, counts)
    seed, size, nearest = zone[:, used]
    first_slice = seed // (padded.shape[1] * padded.shape[2]) - 1
    return first_slice, np.repeat(np.arange(1, n_levels + 1), zone_count), size, nearest


@njit(**JIT_PARALLEL)
def neighbourhood_kernel(padded, steps, ngtdm, ngldm):
    """IBSI NGTDM and NGLDM counts of each slice's voxels over the neighbours at the flat ``steps``.

    ``padded``: int64 (z, y, x) levels, 1..Ng inside the ROI, 0 outside, with a border of zeros one voxel
    wide (no step leaves the array; ``steps``: :func:`flat_offsets` for its shape); neighbours outside the
    ROI do not count. Adds, per slice ``z`` of the unpadded array (a plane per thread: race-free; sum them
    for the 3D matrices):
    ``ngtdm[z, g - 1]`` += (1, |g - mean neighbour level|) for each voxel of level g with an ROI neighbour,
    ``ngldm[z, g - 1, k]`` += 1 for each voxel of level g with k equal-level ROI neighbours.
    """
    nz, ny, nx = padded.shape[0] - 2, padded.shape[1] - 2, padded.shape[2] - 2
    flat = padded.ravel()
    for z in prange(nz):
        for y in range(ny):
            row = ((z + 1) * (ny + 2) + y + 1) * (nx + 2) + 1
            for x in range(nx):
                level = flat[row + x]
                if level == 0:
                    continue
                c = 0
                t = 0.0
                e = 0
                for s in range(steps.shape[0]):
                    other = flat[row + x + steps[s]]
                    if other > 0:
                        c += 1
                        t += other
                        if other == level:
                            e += 1
                if c > 0:
                    ngtdm[z, level - 1, 0] += 1.0
                    ngtdm[z, level - 1, 1] += abs(level - t / c)
                ngldm[z, level - 1, e] += 1.0

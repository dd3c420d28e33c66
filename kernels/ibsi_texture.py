"""Numba kernels of IBSI mode's zone and neighbourhood families (GLSZM, GLDZM, NGTDM, NGLDM).

They replace per-grey-level SciPy labelling and 26 shifted-array passes in :mod:`spinerad.ibsi_texture`;
the matrices built from them are unchanged (checked by the IBSI phantom reference values). Each kernel
serves a pair of families in one pass and, with ``two_d``, every slice at once (in-plane neighbours only).
PyRadiomics mode's kernels give the 3D GLSZM (:func:`spinerad.kernels.glszm.glszm_matrix`) and, with
``gldm_a = 0``, the 3D NGLDM (:func:`spinerad.kernels.gldm.gldm_matrix`) too, but neither the border
distances of GLDZM, IBSI's NGTDM (voxels without a neighbour left out) nor per-slice matrices in one call.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL


def neighbour_offsets(two_d):
    """Return the (z, y, x) offsets of a voxel's neighbours: 26 in 3D, the 8 in-plane ones when ``two_d``."""
    span_z = (0,) if two_d else (-1, 0, 1)
    steps = [(dz, dy, dx) for dz in span_z for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.array([s for s in steps if s != (0, 0, 0)], dtype=np.int64)


@njit(**JIT)
def _level_at(levels, z, y, x):
    """``levels[z, y, x]``, or 0 (outside the ROI) for a position outside the array."""
    nz, ny, nx = levels.shape
    if 0 <= z < nz and 0 <= y < ny and 0 <= x < nx:
        return levels[z, y, x]
    return 0


@njit(**JIT)
def zones_kernel(levels, distance, offsets, zone_slice, zone_level, zone_size, zone_distance):
    """Zones of equal grey level (IBSI GLSZM/GLDZM), connected through ``offsets`` (neighbour_offsets).

    ``levels``: int64 (z, y, x), 0 outside the ROI; ``distance``: int64 border distance per voxel. Writes,
    per zone in scan order, its first slice, level, voxel count and smallest border distance; returns the
    zone count.
    A flood fill with an explicit stack (replaces one SciPy labelling per grey level plus per-label
    reductions).
    """
    nz, ny, nx = levels.shape
    visited = np.zeros(levels.shape, dtype=np.bool_)
    stack = np.empty(levels.size, dtype=np.int64)
    n_zones = 0
    for z0 in range(nz):
        for y0 in range(ny):
            for x0 in range(nx):
                level = levels[z0, y0, x0]
                if level == 0 or visited[z0, y0, x0]:
                    continue
                visited[z0, y0, x0] = True
                stack[0] = (z0 * ny + y0) * nx + x0
                top = 1
                size = 0
                nearest = distance[z0, y0, x0]
                while top > 0:
                    top -= 1
                    flat = stack[top]
                    x = flat % nx
                    y = (flat // nx) % ny
                    z = flat // (nx * ny)
                    size += 1
                    if distance[z, y, x] < nearest:
                        nearest = distance[z, y, x]
                    for o in range(offsets.shape[0]):
                        zz, yy, xx = z + offsets[o, 0], y + offsets[o, 1], x + offsets[o, 2]
                        if _level_at(levels, zz, yy, xx) == level and not visited[zz, yy, xx]:
                            visited[zz, yy, xx] = True
                            stack[top] = (zz * ny + yy) * nx + xx
                            top += 1
                zone_slice[n_zones] = z0
                zone_level[n_zones] = level
                zone_size[n_zones] = size
                zone_distance[n_zones] = nearest
                n_zones += 1
    return n_zones


@njit(**JIT_PARALLEL)
def neighbourhood_kernel(levels, offsets, ngtdm, ngldm):
    """IBSI NGTDM and NGLDM counts of each slice's voxels over the neighbours at ``offsets``.

    ``levels``: int64 (z, y, x), 1..Ng inside the ROI, 0 outside; neighbours outside the array or the ROI
    do not count. Adds, per slice ``z`` (a plane per thread: race-free; sum them for the 3D matrices):
    ``ngtdm[z, g - 1]`` += (1, |g - mean neighbour level|) for each voxel of level g with an ROI neighbour,
    ``ngldm[z, g - 1, k]`` += 1 for each voxel of level g with k equal-level ROI neighbours.
    """
    nz, ny, nx = levels.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                level = levels[z, y, x]
                if level == 0:
                    continue
                c = 0
                t = 0.0
                e = 0
                for o in range(offsets.shape[0]):
                    other = _level_at(levels, z + offsets[o, 0], y + offsets[o, 1], x + offsets[o, 2])
                    if other > 0:
                        c += 1
                        t += other
                        if other == level:
                            e += 1
                if c > 0:
                    ngtdm[z, level - 1, 0] += 1.0
                    ngtdm[z, level - 1, 1] += abs(level - t / c)
                ngldm[z, level - 1, e] += 1.0

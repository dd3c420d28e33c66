"""Shared pieces of the voxel-wise (feature map) kernels: the kernel box of one voxel and its grey levels.

PyRadiomics' voxel mode computes, for every ROI voxel, the texture matrices of the box ``[c - r, c + r]``
(clipped to the map grid; only the voxel's own slice along the ``force2D`` axis). Inside that box, a voxel
takes part when it is *valid* (in the ROI with ``maskedKernel``, anywhere on the grid without) and a
neighbour counts only when it lies inside the same box. That is exactly the per-ROI matrix of the box, so
each voxel's matrices are built on a small box of *local* grey levels (the levels present in the box, in
increasing order): absent levels only add zero rows, which change no feature (see the per-class modules).

Input convention of every voxel kernel: ``levels`` int32 (z, y, x) on the map grid, the compact global
grey-level index of a valid voxel and -1 elsewhere; ``coords`` int64 (n_voxels, 3) of the voxels whose
features are wanted; ``axis2d`` the axis held fixed (``force2D``) or -1; ``out`` float64
(n_voxels, n_features), written row by row (each voxel by exactly one thread: no races).
"""

import math
import types

import numba
import numpy as np
from numba import njit

from ._config import JIT


def n_blocks(n_voxels):
    """Work blocks for ``prange``: a few per thread (load balance), each with its own scratch."""
    return max(1, min(n_voxels, 8 * numba.get_num_threads()))


def retarget(decorate, bodies, namespace, prefix=None):
    """Compile plain-Python kernel bodies with ``decorate`` (``cuda.jit(device=True)``, say).

    ``bodies``: ``(name, function)`` pairs, callees first. A body calls the others by the module-level names
    their CPU versions carry; here each of those names is bound to the set's own compiled function, in a
    copy of ``namespace`` (the bodies' module globals), so one source serves the CPU and the GPU and a GPU
    twin never calls a CPU function. Returns ``{name: compiled function}``.

    ``prefix``: for a cached CPU set (``njit(cache=True)``) whose callees differ from the bodies' own: the
    copies are renamed ``prefix + name``. Numba files a cached function under its source file and qualified
    name and keys it on its bytecode alone, so an unrenamed copy would load the original's machine code
    (with the original callees) from the cache, or leave its own there for the original.
    """
    scope = dict(namespace)
    compiled = {}
    for name, body in bodies:
        function = types.FunctionType(body.__code__, scope, body.__name__)
        if prefix:
            function.__qualname__ = prefix + name
        compiled[name] = scope[name] = decorate(function)
    return compiled


@njit(**JIT)
def block_scratch(radius, n_global):
    """Allocate a work block's scratch for :func:`load_window`: (box, marker, local, g)."""
    span = 2 * radius + 1
    kmax = span * span * span
    lmax = min(kmax, n_global)
    return (
        np.empty(kmax, dtype=np.int32),
        np.full(n_global, -1, dtype=np.int32),
        np.empty(lmax, dtype=np.int64),
        np.empty(lmax),
    )


@njit(**JIT)
def insertion_sort(a, n):
    """Sort ``a[:n]`` in place: for a few values (a kernel's levels, the plane a sliding kernel leaves)."""
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(**JIT)
def block_voxels(blk, blocks, n_voxels):
    """(start, stop): the voxels of work block ``blk`` of ``blocks``."""
    return blk * n_voxels // blocks, (blk + 1) * n_voxels // blocks


@njit(**JIT)
def box_bounds(shape, z, y, x, radius, axis2d):
    """(z0, y0, x0, sz, sy, sx): the kernel box of voxel (z, y, x), clipped to ``shape``."""
    z0 = z if axis2d == 0 else max(z - radius, 0)
    z1 = z if axis2d == 0 else min(z + radius, shape[0] - 1)
    y0 = y if axis2d == 1 else max(y - radius, 0)
    y1 = y if axis2d == 1 else min(y + radius, shape[1] - 1)
    x0 = x if axis2d == 2 else max(x - radius, 0)
    x1 = x if axis2d == 2 else min(x + radius, shape[2] - 1)
    return z0, y0, x0, z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1


@njit(**JIT)
def local_box(levels, z0, y0, x0, sz, sy, sx, box, marker, local_levels):
    """Copy the box into ``box`` (flat, C order) as *local* level indices (-1 = not valid).

    ``local_levels[:n]`` receives the global indices present, sorted; ``marker`` (length Ng, all -1 on
    entry) is left all -1 again on return. Returns n, the number of local levels.
    """
    n = 0
    b = 0
    for zz in range(z0, z0 + sz):
        for yy in range(y0, y0 + sy):
            for xx in range(x0, x0 + sx):
                g = levels[zz, yy, xx]
                box[b] = g
                if g >= 0 and marker[g] < 0:
                    marker[g] = 0
                    local_levels[n] = g
                    n += 1
                b += 1
    insertion_sort(local_levels, n)  # n is at most the box volume and usually a handful
    for i in range(n):
        marker[local_levels[i]] = i
    for i in range(b):
        g = box[i]
        if g >= 0:
            box[i] = marker[g]
    for i in range(n):
        marker[local_levels[i]] = -1
    return n


@njit(**JIT)
def load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g):
    """Gather voxel ``v``'s kernel box: ``box`` as local levels, ``g[:n]`` their real values.

    The per-voxel prologue of every matrix class (scratch from :func:`block_scratch`). Returns
    (sz, sy, sx, n): the box size and the number of local levels.
    """
    z, y, x = coords[v, 0], coords[v, 1], coords[v, 2]
    z0, y0, x0, sz, sy, sx = box_bounds(levels.shape, z, y, x, radius, axis2d)
    n = local_box(levels, z0, y0, x0, sz, sy, sx, box, marker, local)
    for i in range(n):
        g[i] = grey_levels[local[i]]
    return sz, sy, sx, n


def neighbour_sums_body(box, sz, sy, sx, b, angles, g, alpha):
    """The valid neighbours of box voxel ``b`` (flat, C order) inside the box (``box`` from :func:`load_window`).

    Returns (count, sum of their real levels ``g``, how many lie within ``alpha`` of the voxel's level):
    what NGTDM (mean neighbour level) and GLDM (dependence) read. ``angles``: int64 (Na, 3) offsets.
    """
    i = box[b]
    bz = b // (sy * sx)
    by = (b // sx) % sy
    bx = b % sx
    count = 0
    total = 0.0
    dependent = 0
    for a in range(angles.shape[0]):
        nz, ny, nx = bz + angles[a, 0], by + angles[a, 1], bx + angles[a, 2]
        if 0 <= nz < sz and 0 <= ny < sy and 0 <= nx < sx:
            j = box[(nz * sy + ny) * sx + nx]
            if j >= 0:
                count += 1
                total += g[j]
                if abs(g[i] - g[j]) <= alpha:
                    dependent += 1
    return count, total, dependent


def nanmean_row_body(row, n):
    """Mean of the non-NaN values of ``row[:n]`` (NaN when there are none), PyRadiomics' angle average."""
    total = 0.0
    count = 0
    for k in range(n):
        if not math.isnan(row[k]):
            total += row[k]
            count += 1
    return total / count if count else math.nan


nanmean_row = njit(**JIT)(nanmean_row_body)
neighbour_sums = njit(**JIT)(neighbour_sums_body)

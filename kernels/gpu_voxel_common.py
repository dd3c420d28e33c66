"""Shared pieces of the CUDA feature-map twins: one voxel's kernel box, gathered by one thread.

The GPU twin of :func:`spinerad.kernels.voxel_common.load_window`: a thread has no ``Ng``-long marker
array, so the box's distinct levels are kept sorted by insertion (at most (2 r + 1)^3 of them).
"""

from numba import cuda

from ._cuda import require_cuda

#: Largest kernel radius of the CUDA maps (thread-local arrays are sized for (2 r + 1)^3 voxels).
MAX_RADIUS = 3
KMAX = (2 * MAX_RADIUS + 1) ** 3


def check_launch(radius):
    """Before a CUDA map launch: the clear error where no GPU can run, then the radius the arrays hold."""
    require_cuda()
    if radius > MAX_RADIUS:
        raise ValueError(f"the CUDA maps support kernelRadius <= {MAX_RADIUS}, got {radius}")


@cuda.jit(device=True)
def gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g):
    """Copy voxel ``v``'s kernel box into ``box`` as local level indices (-1 not valid).

    ``local`` receives the box's global levels in increasing order, ``g`` their real values. Returns
    (sz, sy, sx, n): the box size and the number of local levels.
    """
    n_z, n_y, n_x = levels.shape
    z, y, x = coords[v, 0], coords[v, 1], coords[v, 2]
    z0 = z if axis2d == 0 else max(z - radius, 0)
    z1 = z if axis2d == 0 else min(z + radius, n_z - 1)
    y0 = y if axis2d == 1 else max(y - radius, 0)
    y1 = y if axis2d == 1 else min(y + radius, n_y - 1)
    x0 = x if axis2d == 2 else max(x - radius, 0)
    x1 = x if axis2d == 2 else min(x + radius, n_x - 1)
    n = 0
    b = 0
    for zz in range(z0, z1 + 1):
        for yy in range(y0, y1 + 1):
            for xx in range(x0, x1 + 1):
                level = levels[zz, yy, xx]
                box[b] = level
                b += 1
                if level < 0:
                    continue
                k = 0
                while k < n and local[k] < level:
                    k += 1
                if k < n and local[k] == level:
                    continue
                for m in range(n, k, -1):
                    local[m] = local[m - 1]
                local[k] = level
                n += 1
    for i in range(n):
        g[i] = grey_levels[local[i]]
    for i in range(b):
        level = box[i]
        if level >= 0:
            k = 0
            while local[k] != level:
                k += 1
            box[i] = k
    return z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1, n

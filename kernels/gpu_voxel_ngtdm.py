"""CUDA twin of :func:`spinerad.kernels.voxel_ngtdm.ngtdm_maps`: NGTDM feature maps, one thread per voxel.

Same signature and result as the CPU kernel (minus the CPU's work-block count). Each thread copies its
kernel box into thread-local memory, finds the box's local grey levels, builds the (level, count,
difference) table and evaluates the five NGTDM formulas of :mod:`spinerad.kernels.ngtdm` (the same
expressions, as a device function: CUDA code cannot call the CPU kernel). Kernel radii up to
:data:`MAX_RADIUS` (the thread-local arrays have a compile-time size).
"""

import math

import numpy as np
from numba import cuda

from . import _config
from ._cuda import require_cuda
from .ngtdm import COARSENESS_FLAT, FEATURE_NAMES

#: Largest kernel radius of the CUDA maps (thread-local arrays are sized for (2 r + 1)^3 voxels).
MAX_RADIUS = 3
_KMAX = (2 * MAX_RADIUS + 1) ** 3


@cuda.jit(device=True)
def _ngtdm_features(count, diff, g, n, row):
    """The NGTDM features of one table (``count``, ``diff`` per local level ``g``) into ``row``."""
    n_vp = 0.0
    sum_s = 0.0
    for i in range(n):
        n_vp += count[i]
        sum_s += diff[i]
    coarse = 0.0
    n_gp = 0
    for i in range(n):
        p = count[i] / n_vp
        if p > 0:
            n_gp += 1
        coarse += p * diff[i]
    contrast = 0.0
    absdiff = 0.0
    complexity = 0.0
    strength = 0.0
    for i in range(n):
        pi = count[i] / n_vp
        for j in range(n):
            pj = count[j] / n_vp
            d = g[i] - g[j]
            contrast += pi * pj * d**2
            if pi == 0 or pj == 0:
                continue
            absdiff += abs(g[i] * pi - g[j] * pj)
            complexity += abs(d) * (pi * diff[i] + pj * diff[j]) / (pi + pj)
            strength += (pi + pj) * d**2
    row[0] = 1.0 / coarse if coarse != 0 else COARSENESS_FLAT
    div = n_gp * (n_gp - 1)
    row[1] = contrast * sum_s / n_vp / div if div != 0 else 0.0
    row[2] = coarse / absdiff if absdiff != 0 else 0.0
    row[3] = complexity / n_vp
    row[4] = strength / sum_s if sum_s != 0 else 0.0


@cuda.jit
def _ngtdm_maps_kernel(levels, coords, radius, axis2d, angles, grey_levels, out):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(_KMAX, dtype=np.int32)
    local = cuda.local.array(_KMAX, dtype=np.int32)
    g = cuda.local.array(_KMAX, dtype=np.float64)
    count = cuda.local.array(_KMAX, dtype=np.float64)
    diff = cuda.local.array(_KMAX, dtype=np.float64)
    n_z, n_y, n_x = levels.shape
    z, y, x = coords[v, 0], coords[v, 1], coords[v, 2]
    z0 = z if axis2d == 0 else max(z - radius, 0)
    z1 = z if axis2d == 0 else min(z + radius, n_z - 1)
    y0 = y if axis2d == 1 else max(y - radius, 0)
    y1 = y if axis2d == 1 else min(y + radius, n_y - 1)
    x0 = x if axis2d == 2 else max(x - radius, 0)
    x1 = x if axis2d == 2 else min(x + radius, n_x - 1)
    sz, sy, sx = z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1
    # the box's distinct global levels, in increasing order (insertion into a sorted list)
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
        count[i] = 0.0
        diff[i] = 0.0
    for i in range(b):
        level = box[i]
        if level >= 0:
            k = 0
            while local[k] != level:
                k += 1
            box[i] = k
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                i = box[(bz * sy + by) * sx + bx]
                if i < 0:
                    continue
                neighbours = 0.0
                total = 0.0
                for a in range(angles.shape[0]):
                    nz, ny, nx = bz + angles[a, 0], by + angles[a, 1], bx + angles[a, 2]
                    if 0 <= nz < sz and 0 <= ny < sy and 0 <= nx < sx:
                        j = box[(nz * sy + ny) * sx + nx]
                        if j >= 0:
                            neighbours += 1.0
                            total += g[j]
                count[i] += 1.0
                if neighbours > 0:
                    diff[i] += abs(g[i] - total / neighbours)
    _ngtdm_features(count, diff, g, n, out[v])


def gpu_ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, out):
    """NGTDM features of each voxel's kernel on the GPU; ``out`` (n_voxels, 5), as the CPU kernel."""
    require_cuda()
    if radius > MAX_RADIUS:
        raise ValueError(f"the CUDA maps support kernelRadius <= {MAX_RADIUS}, got {radius}")
    n_vox = coords.shape[0]
    if n_vox == 0:
        return out
    threads = _config.THREADS_PER_BLOCK
    blocks = math.ceil(n_vox / threads)
    device_out = cuda.device_array(out.shape, dtype=np.float64)
    _ngtdm_maps_kernel[blocks, threads](
        cuda.to_device(np.ascontiguousarray(levels, dtype=np.int32)),
        cuda.to_device(np.ascontiguousarray(coords, dtype=np.int64)),
        int(radius),
        int(axis2d),
        cuda.to_device(np.ascontiguousarray(angles, dtype=np.int64)),
        cuda.to_device(np.ascontiguousarray(grey_levels, dtype=np.float64)),
        device_out,
    )
    out[:] = device_out.copy_to_host()
    return out


__all__ = ["FEATURE_NAMES", "MAX_RADIUS", "gpu_ngtdm_maps"]

"""CUDA twin of :func:`spinerad.kernels.voxel_firstorder.firstorder_maps`: one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count): each thread gathers its
kernel in PyRadiomics' offset order into thread-local memory, sums with NumPy's pairwise scheme (so a flat
kernel has exactly zero central moments, as on the CPU and in PyRadiomics; the CPU's own summation and
percentile bodies, compiled for CUDA), sorts the values for the
percentiles (insertion sort: at most (2 r + 1)^3 values) and histograms the kernel's grey levels.
Kernel radii up to :data:`MAX_RADIUS` (thread-local arrays have a compile-time size).
"""

import math

import numpy as np
from numba import cuda

from . import _config, voxel_firstorder
from ._cuda import require_cuda
from .firstorder import FEATURE_NAMES
from .voxel_common import retarget

MAX_RADIUS = 3
_KMAX = (2 * MAX_RADIUS + 1) ** 3


_DEVICE = retarget(cuda.jit(device=True), voxel_firstorder.BODIES, vars(voxel_firstorder))
_histogram_features = _DEVICE["histogram_features"]
_intensity_features = _DEVICE["intensity_features"]


@cuda.jit
def _firstorder_maps_kernel(values, levels, coords, offsets, shift, voxel_volume, out):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    x = cuda.local.array(_KMAX, dtype=np.float64)
    ok = cuda.local.array(_KMAX, dtype=np.int8)
    work = cuda.local.array(_KMAX, dtype=np.float64)
    srt = cuda.local.array(_KMAX, dtype=np.float64)
    level_ids = cuda.local.array(_KMAX, dtype=np.int32)
    level_counts = cuda.local.array(_KMAX, dtype=np.float64)
    stack = cuda.local.array((3, 64), dtype=np.int64)
    left = cuda.local.array(64, dtype=np.float64)
    nz, ny, nx = levels.shape
    nk = offsets.shape[0]
    n = 0
    n_ids = 0
    lo = math.inf
    hi = -math.inf
    for k in range(nk):
        z = coords[v, 0] + offsets[k, 0]
        y = coords[v, 1] + offsets[k, 1]
        xx = coords[v, 2] + offsets[k, 2]
        ok[k] = 0
        x[k] = 0.0
        if 0 <= z < nz and 0 <= y < ny and 0 <= xx < nx:
            g = levels[z, y, xx]
            if g >= 0:
                ok[k] = 1
                val = values[z, y, xx]
                x[k] = val
                # insertion into the sorted values and into the sorted level list
                m = n
                while m > 0 and srt[m - 1] > val:
                    srt[m] = srt[m - 1]
                    m -= 1
                srt[m] = val
                n += 1
                lo = min(lo, val)
                hi = max(hi, val)
                m = 0
                while m < n_ids and level_ids[m] < g:
                    m += 1
                if m < n_ids and level_ids[m] == g:
                    level_counts[m] += 1.0
                else:
                    for t in range(n_ids, m, -1):
                        level_ids[t] = level_ids[t - 1]
                        level_counts[t] = level_counts[t - 1]
                    level_ids[m] = g
                    level_counts[m] = 1.0
                    n_ids += 1
    entropy, uniformity = _histogram_features(level_counts, n_ids, n, work, stack, left)
    _intensity_features(
        x, ok, nk, srt, n, shift, voxel_volume, entropy, uniformity, lo, hi, work, stack, left, out[v]
    )


def gpu_firstorder_maps(values, levels, coords, offsets, n_levels, shift, voxel_volume, out):
    """First-order features of each voxel's kernel on the GPU; ``out`` (n_voxels, 19), as the CPU kernel."""
    require_cuda()
    if offsets.shape[0] > _KMAX:
        raise ValueError(f"the CUDA maps support kernelRadius <= {MAX_RADIUS} ({_KMAX} kernel voxels)")
    n_vox = coords.shape[0]
    if n_vox == 0:
        return out
    threads = _config.THREADS_PER_BLOCK
    device_out = cuda.device_array(out.shape, dtype=np.float64)
    _firstorder_maps_kernel[math.ceil(n_vox / threads), threads](
        cuda.to_device(np.ascontiguousarray(values, dtype=np.float64)),
        cuda.to_device(np.ascontiguousarray(levels, dtype=np.int32)),
        cuda.to_device(np.ascontiguousarray(coords, dtype=np.int64)),
        cuda.to_device(np.ascontiguousarray(offsets, dtype=np.int64)),
        float(shift),
        float(voxel_volume),
        device_out,
    )
    out[:] = device_out.copy_to_host()
    return out


__all__ = ["FEATURE_NAMES", "MAX_RADIUS", "gpu_firstorder_maps"]

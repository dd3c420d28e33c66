"""CUDA twin of :func:`spinerad.kernels.glcm.glcm_matrix`: the same co-occurrence counts, computed on the GPU.

Layers, as on the CPU: :func:`gpu_glcm_matrix` validates, casts, copies to the device and back;
:func:`_glcm_on_device` picks the launch configuration for arrays already on the device (what a batched
caller or a benchmark without transfers uses); the ``@cuda.jit`` kernels take only arrays and scalars.

Counts are accumulated in uint32 on the device (half the traffic of float64 atomics, and exact: a count
never exceeds the number of voxels) and returned as float64 like the CPU kernel. Two kernels exist because
neither wins everywhere: a per-block private histogram in shared memory takes the contention of a smooth
image (neighbours mostly share a grey level) off the global atomics, but needs ``Ng * Ng`` counters in
shared memory; beyond that size the kernel with global atomics takes over.
"""

import math

import numpy as np
from numba import cuda, uint32

from . import _config
from ._cuda import require_cuda
from ._inputs import cuda_twin_of, device_matrix_inputs
from .glcm import glcm_matrix

#: Largest dynamic shared-memory request that needs no opt-in on any CUDA GPU (48 KiB).
SHARED_HISTOGRAM_BYTES = 48 * 1024
#: Blocks launched per multiprocessor by the shared-histogram kernel: enough to hide latency, few enough
#: that each block counts many voxels before it pays for zeroing and merging its private histogram.
BLOCKS_PER_MULTIPROCESSOR = 8
#: Multiprocessor count assumed where the device does not report one (the CUDA simulator).
_FALLBACK_MULTIPROCESSORS = 4


@cuda.jit
def _glcm_global_kernel(levels, angles, out):
    """One thread per (voxel, angle): grid x runs over voxels, grid y over angles; atomics on ``out``."""
    a = cuda.blockIdx.y
    n_z, n_y, n_x = levels.shape
    v = cuda.grid(1)
    if v >= n_z * n_y * n_x:
        return
    plane = n_y * n_x
    z = v // plane
    y = (v - z * plane) // n_x
    x = v - z * plane - y * n_x
    i = levels[z, y, x]
    if i < 0:
        return
    nz, ny, nx = z + angles[a, 0], y + angles[a, 1], x + angles[a, 2]
    if 0 <= nz < n_z and 0 <= ny < n_y and 0 <= nx < n_x:
        j = levels[nz, ny, nx]
        if j >= 0:
            cuda.atomic.add(out, (a, i, j), 1)


@cuda.jit
def _glcm_shared_kernel(levels, angles, n_levels, out):
    """Grid y runs over angles; each block counts a grid-stride share of the voxels in shared memory.

    The private histogram (``n_levels**2`` uint32, dynamic shared memory) absorbs the hot bins of a smooth
    image at shared-memory speed; only its non-zero bins go to global memory, once per block.
    """
    hist = cuda.shared.array(0, dtype=uint32)
    a = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    n_bins = n_levels * n_levels
    for k in range(tid, n_bins, cuda.blockDim.x):
        hist[k] = 0
    cuda.syncthreads()
    n_z, n_y, n_x = levels.shape
    plane = n_y * n_x
    dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
    stride = cuda.gridDim.x * cuda.blockDim.x
    for v in range(cuda.grid(1), n_z * plane, stride):
        z = v // plane
        y = (v - z * plane) // n_x
        x = v - z * plane - y * n_x
        i = levels[z, y, x]
        if i >= 0:
            nz, ny, nx = z + dz, y + dy, x + dx
            if 0 <= nz < n_z and 0 <= ny < n_y and 0 <= nx < n_x:
                j = levels[nz, ny, nx]
                if j >= 0:
                    cuda.atomic.add(hist, i * n_levels + j, 1)
    cuda.syncthreads()
    for k in range(tid, n_bins, cuda.blockDim.x):
        count = hist[k]
        if count:
            cuda.atomic.add(out, (a, k // n_levels, k % n_levels), count)


def _multiprocessors():
    return getattr(cuda.get_current_device(), "MULTIPROCESSOR_COUNT", _FALLBACK_MULTIPROCESSORS)


def _glcm_on_device(levels, angles, n_levels, out, method="auto"):
    """Count into ``out`` (uint32, zeroed, on the device) from ``levels`` and ``angles`` on the device.

    ``method`` is ``"shared"``, ``"global"`` or ``"auto"`` (shared whenever its histogram fits). The block
    size is read from :data:`spinerad.kernels._config.THREADS_PER_BLOCK` at call time so tests can lower it.
    """
    n_angles = angles.shape[0]
    n_voxels = levels.size
    if n_angles == 0 or n_voxels == 0 or n_levels == 0:
        return out
    threads = _config.THREADS_PER_BLOCK
    shared_bytes = n_levels * n_levels * np.dtype(np.uint32).itemsize
    if method == "auto":
        method = "shared" if shared_bytes <= SHARED_HISTOGRAM_BYTES else "global"
    voxel_blocks = math.ceil(n_voxels / threads)
    if method == "shared":
        wanted = math.ceil(BLOCKS_PER_MULTIPROCESSOR * _multiprocessors() / n_angles)
        grid = (max(1, min(voxel_blocks, wanted)), n_angles)
        _glcm_shared_kernel[grid, threads, 0, shared_bytes](levels, angles, n_levels, out)
    elif method == "global":
        _glcm_global_kernel[(voxel_blocks, n_angles), threads](levels, angles, out)
    else:
        raise ValueError(f"unknown method {method!r}; choose auto, shared or global")
    return out


@cuda_twin_of(glcm_matrix)
def gpu_glcm_matrix(levels, angles, n_levels):
    """Raw (asymmetric, unnormalised) co-occurrence counts, one matrix per angle, computed with CUDA."""
    require_cuda()
    levels, angles, n_levels = device_matrix_inputs(levels, angles, n_levels)
    out = cuda.to_device(np.zeros((angles.shape[0], n_levels, n_levels), dtype=np.uint32))
    _glcm_on_device(cuda.to_device(levels), cuda.to_device(angles), n_levels, out)
    return out.copy_to_host().astype(np.float64)

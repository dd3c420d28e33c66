"""Launch a CUDA feature-map kernel and hand the voxels it could not hold back to its CPU twin.

The GLRLM, GLSZM and GLDM twins keep their count matrices in thread-local arrays of a compile-time size
(:data:`MAX_LEVELS` grey levels per kernel); a thread whose kernel holds more levels flags its voxel and
returns, and :func:`launch_maps` recomputes those voxels with the CPU kernel, so every voxel gets the
CPU's value.
"""

import math

import numpy as np
from numba import cuda

from . import _config, voxel_common
from ._cuda import require_cuda
from .gpu_voxel_common import MAX_RADIUS

#: Most grey levels in one kernel the GLRLM, GLSZM and GLDM twins hold in thread-local matrices.
MAX_LEVELS = 64


def launch_maps(kernel, cpu_maps, levels, coords, radius, axis2d, angles, grey_levels, extra, out):
    """Run ``kernel`` over every voxel of ``coords``, then ``cpu_maps`` on the voxels it flagged.

    ``kernel(levels, coords, radius, axis2d, angles, grey_levels, *extra, overflow, out)`` is launched
    one thread per voxel and sets ``overflow[v]`` (int8) to 1 for a voxel it leaves to the CPU;
    ``cpu_maps(levels, coords, radius, axis2d, angles, grey_levels, *extra, blocks, out)`` is the CPU
    kernel with the same arguments. ``out``: (n_voxels, n_features), filled and returned.
    """
    require_cuda()
    if radius > MAX_RADIUS:
        raise ValueError(f"the CUDA maps support kernelRadius <= {MAX_RADIUS}, got {radius}")
    n_vox = coords.shape[0]
    if n_vox == 0:
        return out
    levels = np.ascontiguousarray(levels, dtype=np.int32)
    coords = np.ascontiguousarray(coords, dtype=np.int64)
    angles = np.ascontiguousarray(angles, dtype=np.int64)
    grey_levels = np.ascontiguousarray(grey_levels, dtype=np.float64)
    threads = _config.THREADS_PER_BLOCK
    device_out = cuda.device_array(out.shape, dtype=np.float64)
    overflow = cuda.device_array(n_vox, dtype=np.int8)
    kernel[math.ceil(n_vox / threads), threads](
        cuda.to_device(levels),
        cuda.to_device(coords),
        int(radius),
        int(axis2d),
        cuda.to_device(angles),
        cuda.to_device(grey_levels),
        *extra,
        overflow,
        device_out,
    )
    out[:] = device_out.copy_to_host()
    many = np.flatnonzero(overflow.copy_to_host())
    if len(many):
        rest = np.empty((len(many), out.shape[1]))
        cpu_maps(
            levels,
            coords[many],
            radius,
            axis2d,
            angles,
            grey_levels,
            *extra,
            voxel_common.n_blocks(len(many)),
            rest,
        )
        out[many] = rest
    return out


__all__ = ["MAX_LEVELS", "MAX_RADIUS", "launch_maps"]

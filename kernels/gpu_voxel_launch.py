"""Launch a CUDA feature-map kernel and hand the voxels it could not hold back to its CPU twin.

The GLCM, GLRLM, GLSZM and GLDM twins keep their count matrices in thread-local arrays of a compile-time
size (:data:`MAX_LEVELS` grey levels per kernel; GLCM has its own, smaller bound for its n x n matrices);
a thread whose kernel holds more levels flags its voxel and returns, and :func:`launch_maps` recomputes
those voxels with the CPU kernel, so every voxel gets the CPU's value.
"""

import math

import numpy as np
from numba import cuda

from . import _config, voxel_common, voxel_neighbour_bits
from .gpu_voxel_common import MAX_RADIUS, check_launch
from .voxel_common import retarget
from .voxel_neighbour_bits import batch_region, inbox_table

#: Most grey levels in one kernel the GLRLM, GLSZM and GLDM twins hold in thread-local matrices.
MAX_LEVELS = 64

_DEVICE = retarget(
    cuda.jit(device=True),
    (("box_bounds", voxel_common.box_bounds.py_func),) + voxel_neighbour_bits.BODIES,
    {**vars(voxel_common), **vars(voxel_neighbour_bits)},
)
_neighbour_bits = _DEVICE["neighbour_bits"]
#: Device functions the per-voxel kernels call: the kernel box's corner, a box voxel's in-box bits.
box_bounds = _DEVICE["box_bounds"]


@cuda.jit(device=True)
def left_to_cpu(n, max_levels, overflow, v):
    """Flag voxel ``v`` for the CPU when its kernel's ``n`` levels exceed ``max_levels``; True if so."""
    overflow[v] = 1 if n > max_levels else 0
    return n > max_levels


@cuda.jit
def _region_bits_kernel(levels, z0, y0, x0, angles, grey_levels, alpha, bits):
    t = cuda.grid(1)
    n_z, n_y, n_x = bits.shape[0], bits.shape[1], bits.shape[2]
    if t >= n_z * n_y * n_x:
        return
    dz = t // (n_y * n_x)
    dy = (t // n_x) % n_y
    dx = t % n_x
    _neighbour_bits(levels, z0 + dz, y0 + dy, x0 + dx, angles, grey_levels, alpha, bits[dz, dy, dx])


def _device_neighbour_bits(levels, device_levels, coords, radius, axis2d, angles, device_grey, alpha):
    """(bits, z0, y0, x0, inbox) on the device: the kernel's neighbour-bit arguments.

    See :mod:`spinerad.kernels.voxel_neighbour_bits`; the bits are computed by one thread per region voxel
    (``device_levels``, ``device_grey``: ``levels`` and the real grey levels, already on the device).
    """
    region = [int(r) for r in batch_region(levels.shape, coords, radius, axis2d)]
    words = voxel_neighbour_bits.n_words(angles.shape[0])
    bits = cuda.device_array((region[3], region[4], region[5], words), dtype=np.int64)
    threads = _config.THREADS_PER_BLOCK
    _region_bits_kernel[math.ceil(region[3] * region[4] * region[5] / threads), threads](
        device_levels, *region[:3], cuda.to_device(angles), device_grey, alpha, bits
    )
    return bits, *region[:3], cuda.to_device(inbox_table(angles, radius))


def launch_maps(
    kernel,
    cpu_maps,
    levels,
    coords,
    radius,
    axis2d,
    angles,
    grey_levels,
    extra,
    out,
    alpha=None,
    bit_angles=None,
    device_extra=(),
):
    """Run ``kernel`` over every voxel of ``coords``, then ``cpu_maps`` on the voxels it flagged.

    ``kernel(levels, coords, radius, axis2d, angles, grey_levels, *extra, *device_extra, [bits, z0, y0, x0,
    inbox,] overflow, out)`` is launched one thread per voxel (``device_extra``: device work arrays only the
    kernel takes; the neighbour bits within ``alpha``, see
    :mod:`spinerad.kernels.voxel_neighbour_bits`, over ``bit_angles`` or else ``angles``, when ``alpha`` is
    not None) and sets ``overflow[v]`` (int8) to 1 for a voxel it leaves to the CPU;
    ``cpu_maps(levels, coords, radius, axis2d, angles, grey_levels, *extra, blocks, out)`` is the CPU
    kernel with the same arguments. ``out``: (n_voxels, n_features), filled and returned.
    """
    check_launch(radius)
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
    device_levels = cuda.to_device(levels)
    device_grey = cuda.to_device(grey_levels)
    neighbours = ()
    if alpha is not None:
        bit_angles = angles if bit_angles is None else np.ascontiguousarray(bit_angles, dtype=np.int64)
        neighbours = _device_neighbour_bits(
            levels, device_levels, coords, radius, axis2d, bit_angles, device_grey, float(alpha)
        )
    kernel[math.ceil(n_vox / threads), threads](
        device_levels,
        cuda.to_device(coords),
        int(radius),
        int(axis2d),
        cuda.to_device(angles),
        device_grey,
        *extra,
        *device_extra,
        *neighbours,
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


__all__ = ["MAX_LEVELS", "MAX_RADIUS", "launch_maps", "left_to_cpu"]

"""CUDA twin of :func:`spinerad.kernels.voxel_glszm.glszm_maps`: GLSZM feature maps, one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count). The per-voxel body is the
CPU's own (:func:`spinerad.kernels.voxel_glszm.voxel_features_body`, with the sums of
:mod:`spinerad.kernels.level_size`), compiled as CUDA device functions: one source for both devices. Each
thread gathers its kernel box (:func:`spinerad.kernels.gpu_voxel_common.gather_box`), labels its zones with
a thread-local stack and keeps the zone counts in thread-local arrays sized for :data:`MAX_LEVELS` grey
levels; a voxel whose kernel holds more is computed by the CPU kernel afterwards
(:func:`spinerad.kernels.gpu_voxel_launch.launch_maps`).
"""

import numpy as np
from numba import cuda

from . import level_size, voxel_glszm, voxel_neighbour_bits
from .glszm import FEATURE_NAMES
from .gpu_voxel_common import KMAX, MAX_RADIUS, gather_box
from .gpu_voxel_launch import MAX_LEVELS, box_bounds, launch_maps, left_to_cpu
from .voxel_common import retarget
from .voxel_glszm import max_zone_sizes

_MAX_SIZES = max_zone_sizes(KMAX)
_MAX_OFFSETS = 26  # distance 1, both directions

_voxel_features = retarget(
    cuda.jit(device=True),
    voxel_neighbour_bits.BODIES + level_size.BODIES + voxel_glszm.BODIES,
    {**vars(voxel_neighbour_bits), **vars(level_size), **vars(voxel_glszm)},
)["voxel_features"]


@cuda.jit
def _glszm_maps_kernel(
    levels, coords, radius, axis2d, angles, grey_levels, bits, rz, ry, rx, inbox, overflow, out
):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(KMAX, dtype=np.int32)
    local = cuda.local.array(KMAX, dtype=np.int32)
    g = cuda.local.array(KMAX, dtype=np.float64)
    same = cuda.local.array(KMAX, dtype=np.int64)
    step = cuda.local.array(_MAX_OFFSETS, dtype=np.int64)
    seen = cuda.local.array(KMAX, dtype=np.int8)
    stack = cuda.local.array(KMAX, dtype=np.int32)
    zone_level = cuda.local.array(KMAX, dtype=np.int32)
    zone_size = cuda.local.array(KMAX, dtype=np.int32)
    column = cuda.local.array(KMAX + 1, dtype=np.int32)
    sizes = cuda.local.array(_MAX_SIZES, dtype=np.float64)
    counts = cuda.local.array((MAX_LEVELS, _MAX_SIZES), dtype=np.float64)
    pg = cuda.local.array(MAX_LEVELS, dtype=np.float64)
    ps = cuda.local.array(_MAX_SIZES, dtype=np.float64)
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    if left_to_cpu(n, MAX_LEVELS, overflow, v):
        return
    z0, y0, x0, _, _, _ = box_bounds(levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d)
    _voxel_features(
        box, sz, sy, sx, n, g, angles, bits, z0 - rz, y0 - ry, x0 - rx, inbox, same, step, seen, stack,
        zone_level, zone_size, column, sizes, counts, pg, ps, out[v],
    )  # fmt: skip


def gpu_glszm_maps(levels, coords, radius, axis2d, angles, grey_levels, out):
    """GLSZM features of each voxel's kernel on the GPU; ``out`` (n_voxels, 16), as the CPU kernel."""
    if len(angles) > _MAX_OFFSETS:
        raise ValueError(f"the CUDA GLSZM maps take at most {_MAX_OFFSETS} offsets, got {len(angles)}")
    cpu = voxel_glszm.glszm_maps
    # alpha 0: the same-level neighbours, which connect zones
    return launch_maps(
        _glszm_maps_kernel, cpu, levels, coords, radius, axis2d, angles, grey_levels, (), out, 0.0
    )


__all__ = ["FEATURE_NAMES", "MAX_LEVELS", "MAX_RADIUS", "gpu_glszm_maps"]

"""CUDA twin of :func:`spinerad.kernels.voxel_gldm.gldm_maps`: GLDM feature maps, one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count). The per-voxel body is the
CPU's own (:func:`spinerad.kernels.voxel_gldm.voxel_features_body`, with the sums of
:mod:`spinerad.kernels.level_size`), compiled as CUDA device functions: one source for both devices. Each
thread gathers its kernel box (:func:`spinerad.kernels.gpu_voxel_common.gather_box`) and keeps the
dependence counts in thread-local arrays sized for :data:`MAX_LEVELS` grey levels and :data:`MAX_ANGLES`
neighbour offsets (``distances: [1]`` in 3-D); a voxel whose kernel holds more levels is computed by the
CPU kernel afterwards, and a ``distances`` setting with more offsets runs every voxel on the CPU
(:func:`spinerad.kernels.gpu_voxel_launch.launch_maps`).
"""

import numpy as np
from numba import cuda

from . import level_size, voxel_common, voxel_gldm, voxel_neighbour_bits
from ._cuda import require_cuda
from .gldm import FEATURE_NAMES
from .gpu_voxel_common import KMAX, MAX_RADIUS, gather_box
from .gpu_voxel_launch import MAX_LEVELS, box_bounds, launch_maps, left_to_cpu
from .voxel_common import retarget

#: Most neighbour offsets on the GPU (both directions of distance 1 in 3-D).
MAX_ANGLES = 26
_MAX_DEP = MAX_ANGLES + 1

_voxel_features = retarget(
    cuda.jit(device=True),
    voxel_neighbour_bits.BODIES + level_size.BODIES + voxel_gldm.BODIES,
    {**vars(voxel_neighbour_bits), **vars(level_size), **vars(voxel_gldm)},
)["voxel_features"]


@cuda.jit
def _gldm_maps_kernel(
    levels, coords, radius, axis2d, angles, grey_levels, alpha, bits, rz, ry, rx, inbox, overflow, out
):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(KMAX, dtype=np.int32)
    local = cuda.local.array(KMAX, dtype=np.int32)
    g = cuda.local.array(KMAX, dtype=np.float64)
    counts = cuda.local.array((MAX_LEVELS, _MAX_DEP), dtype=np.float64)
    dependences = cuda.local.array(_MAX_DEP, dtype=np.float64)
    pg = cuda.local.array(MAX_LEVELS, dtype=np.float64)
    pd = cuda.local.array(_MAX_DEP, dtype=np.float64)
    sums = cuda.local.array(16, dtype=np.float64)
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    if left_to_cpu(n, MAX_LEVELS, overflow, v):
        return
    for k in range(_MAX_DEP):
        dependences[k] = k + 1.0  # j = dependent neighbours + 1
    z0, y0, x0, _, _, _ = box_bounds(levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d)
    n_dep = angles.shape[0] + 1
    _voxel_features(
        box, sz, sy, sx, n, g, n_dep, bits, z0 - rz, y0 - ry, x0 - rx, inbox, counts, dependences, pg, pd, sums,
        out[v],
    )  # fmt: skip


def gpu_gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, out):
    """GLDM features of each voxel's kernel on the GPU; ``out`` (n_voxels, 14), as the CPU kernel."""
    if len(angles) > MAX_ANGLES:
        require_cuda()  # the same answer as every CUDA map where none can run
        # the thread-local count matrices have MAX_ANGLES + 1 columns: the CPU kernel takes such a setting
        blocks = voxel_common.n_blocks(len(coords))
        voxel_gldm.gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, float(alpha), blocks, out)
        return out
    return launch_maps(
        _gldm_maps_kernel, voxel_gldm.gldm_maps, levels, coords, radius, axis2d, angles, grey_levels,
        (float(alpha),), out, alpha,
    )  # fmt: skip


__all__ = ["FEATURE_NAMES", "MAX_ANGLES", "MAX_LEVELS", "MAX_RADIUS", "gpu_gldm_maps"]

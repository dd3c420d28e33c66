"""CUDA twin of :func:`spinerad.kernels.voxel_glrlm.glrlm_maps`: GLRLM feature maps, one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count). The per-voxel body is the
CPU's own (:func:`spinerad.kernels.voxel_glrlm.voxel_features_body`, with the sums of
:mod:`spinerad.kernels.level_size`), compiled as CUDA device functions: one source for both devices. Each
thread gathers its kernel box (:func:`spinerad.kernels.gpu_voxel_common.gather_box`) and keeps one angle's
run counts in thread-local arrays sized for :data:`MAX_LEVELS` grey levels; a voxel whose kernel holds more
is computed by the CPU kernel afterwards (:func:`spinerad.kernels.gpu_voxel_launch.launch_maps`).
"""

import numpy as np
from numba import cuda

from . import level_size, voxel_common, voxel_glrlm, voxel_neighbour_bits
from .glrlm import FEATURE_NAMES
from .gpu_voxel_common import KMAX, MAX_RADIUS, gather_box
from .gpu_voxel_launch import MAX_LEVELS, box_bounds, launch_maps, left_to_cpu
from .voxel_common import retarget

#: Most run angles (distance 1: 13 in 3-D, 4 in 2-D; the run bits of both directions fill one word).
MAX_ANGLES = 13
_SPAN = 2 * MAX_RADIUS + 1
_N_FEATURES = len(FEATURE_NAMES)

_voxel_features = retarget(
    cuda.jit(device=True),
    (("nanmean_row", voxel_common.nanmean_row_body),)
    + voxel_neighbour_bits.BODIES
    + level_size.BODIES
    + voxel_glrlm.BODIES,
    {**vars(voxel_neighbour_bits), **vars(level_size), **vars(voxel_common), **vars(voxel_glrlm)},
)["voxel_features"]


@cuda.jit
def _glrlm_maps_kernel(
    levels, coords, radius, axis2d, angles, grey_levels, bits, rz, ry, rx, inbox, overflow, out
):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(KMAX, dtype=np.int32)
    local = cuda.local.array(KMAX, dtype=np.int32)
    g = cuda.local.array(KMAX, dtype=np.float64)
    same = cuda.local.array(KMAX, dtype=np.int64)
    run = cuda.local.array(KMAX, dtype=np.int64)
    counts = cuda.local.array((MAX_LEVELS, _SPAN), dtype=np.float64)
    lengths = cuda.local.array(_SPAN, dtype=np.float64)
    pg = cuda.local.array(MAX_LEVELS, dtype=np.float64)
    pr = cuda.local.array(_SPAN, dtype=np.float64)
    sums = cuda.local.array(_N_FEATURES, dtype=np.float64)
    feats = cuda.local.array((_N_FEATURES, MAX_ANGLES), dtype=np.float64)
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    if left_to_cpu(n, MAX_LEVELS, overflow, v):
        return
    for k in range(_SPAN):
        lengths[k] = k + 1.0
    z0, y0, x0, _, _, _ = box_bounds(levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d)
    _voxel_features(
        box, sz, sy, sx, n, g, angles, bits, z0 - rz, y0 - ry, x0 - rx, inbox, same, run, counts, lengths,
        pg, pr, sums, feats, out[v],
    )  # fmt: skip


def gpu_glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, out):
    """GLRLM features of each voxel's kernel on the GPU; ``out`` (n_voxels, 16), as the CPU kernel."""
    if len(angles) > MAX_ANGLES:
        raise ValueError(f"the CUDA GLRLM maps take at most {MAX_ANGLES} angles, got {len(angles)}")
    # the run bits: same-level neighbours along each angle and its opposite
    both = voxel_glrlm.both_directions(np.ascontiguousarray(angles, dtype=np.int64))
    cpu = voxel_glrlm.glrlm_maps
    return launch_maps(
        _glrlm_maps_kernel, cpu, levels, coords, radius, axis2d, angles, grey_levels, (), out, 0.0, both
    )


__all__ = ["FEATURE_NAMES", "MAX_ANGLES", "MAX_LEVELS", "MAX_RADIUS", "gpu_glrlm_maps"]

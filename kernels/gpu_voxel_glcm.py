"""CUDA twin of :func:`spinerad.kernels.voxel_glcm.glcm_maps`: GLCM feature maps, one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count). The per-voxel body is the
CPU's own (:func:`spinerad.kernels.voxel_glcm.voxel_features_body` with the formulas of
:mod:`spinerad.kernels.glcm_formulas`), compiled as CUDA device functions: one source for both devices.
Each thread gathers its kernel box (:func:`spinerad.kernels.gpu_voxel_common.gather_box`) and keeps its
matrices in thread-local arrays sized for :data:`MAX_LEVELS` grey levels; the marginals and per-angle
features sit in a per-voxel slice of global memory (their length depends on ``Ng`` and the angles). A
voxel whose kernel holds more than :data:`MAX_LEVELS` levels is flagged and computed by the CPU kernel
afterwards, so every voxel gets the CPU's value.
"""

import math

import numpy as np
from numba import cuda

from . import _config, glcm_formulas, voxel_common, voxel_glcm
from ._cuda import require_cuda
from .glcm import FEATURE_NAMES, MCC_NAME
from .gpu_voxel_common import KMAX, MAX_RADIUS, gather_box
from .voxel_common import retarget

#: Most grey levels in one kernel the GPU handles (thread-local matrices are MAX_LEVELS x MAX_LEVELS).
MAX_LEVELS = 24

_DEVICE = retarget(
    cuda.jit(device=True),
    (("nanmean_row", voxel_common.nanmean_row_body),) + glcm_formulas.BODIES + voxel_glcm.BODIES,
    {**vars(glcm_formulas), **vars(voxel_common), **vars(voxel_glcm)},
)
_voxel_features = _DEVICE["voxel_features"]


@cuda.jit
def _glcm_maps_kernel(
    levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, scratch, feats, overflow, out
):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(KMAX, dtype=np.int32)
    local = cuda.local.array(KMAX, dtype=np.int32)
    g = cuda.local.array(KMAX, dtype=np.float64)
    counts = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    p = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    s = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    order = cuda.local.array((2, MAX_LEVELS), dtype=np.int64)
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    if n > MAX_LEVELS:
        overflow[v] = 1
        return
    overflow[v] = 0
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    _voxel_features(
        box, n, g, sz, sy, sx, angles, ng_max, n_global, symmetrical, want_mcc,
        scratch[v], counts, p, s, order, feats[v], out[v],
    )  # fmt: skip


def gpu_glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, out):
    """GLCM features (+ MCC last) of each voxel's kernel on the GPU; ``out`` (n_voxels, 24), as the CPU."""
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
    n_angles = angles.shape[0]
    ng_max = int(grey_levels[-1])
    width = max(MAX_LEVELS, n_angles, 2 * ng_max + 1)
    threads = _config.THREADS_PER_BLOCK
    device_out = cuda.device_array(out.shape, dtype=np.float64)
    overflow = cuda.device_array(n_vox, dtype=np.int8)
    _glcm_maps_kernel[math.ceil(n_vox / threads), threads](
        cuda.to_device(levels),
        cuda.to_device(coords),
        int(radius),
        int(axis2d),
        cuda.to_device(angles),
        cuda.to_device(grey_levels),
        bool(symmetrical),
        bool(want_mcc),
        cuda.to_device(np.zeros((n_vox, 9, width))),  # p_sum and p_diff rows must start at zero
        cuda.device_array((n_vox, len(FEATURE_NAMES), n_angles), dtype=np.float64),
        overflow,
        device_out,
    )
    out[:] = device_out.copy_to_host()
    many = np.flatnonzero(overflow.copy_to_host())
    if len(many):
        rest = np.empty((len(many), out.shape[1]))
        voxel_glcm.glcm_maps(
            levels, coords[many], radius, axis2d, angles, grey_levels, symmetrical, want_mcc,
            voxel_common.n_blocks(len(many)), rest,
        )  # fmt: skip
        out[many] = rest
    return out


__all__ = ["FEATURE_NAMES", "MAX_LEVELS", "MAX_RADIUS", "MCC_NAME", "gpu_glcm_maps"]

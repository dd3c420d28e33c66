"""CUDA twin of :func:`spinerad.kernels.voxel_glcm.glcm_maps`: GLCM feature maps, one thread per voxel.

Same arguments and result as the CPU kernel (minus the CPU's work-block count). The per-voxel body is the
CPU's own (:func:`spinerad.kernels.voxel_glcm.voxel_features_body` with the formulas of
:mod:`spinerad.kernels.glcm_formulas`), compiled as CUDA device functions: one source for both devices.
Each thread gathers its kernel box (:func:`spinerad.kernels.gpu_voxel_common.gather_box`) and keeps its
matrices in thread-local arrays sized for :data:`MAX_LEVELS` grey levels; the marginals and per-angle
features sit in a per-voxel slice of global memory (their length depends on ``Ng`` and the angles). A
voxel whose kernel holds more than :data:`MAX_LEVELS` levels is flagged and computed by the CPU kernel
afterwards (:func:`spinerad.kernels.gpu_voxel_launch.launch_maps`), so every voxel gets the CPU's value.
"""

import numpy as np
from numba import cuda

from . import glcm_formulas, symmetric_eigen, voxel_common, voxel_glcm
from ._cuda import require_cuda
from .glcm import FEATURE_NAMES, MCC_NAME
from .gpu_voxel_common import KMAX, MAX_RADIUS, gather_box
from .gpu_voxel_launch import launch_maps, left_to_cpu
from .voxel_common import retarget

#: Most grey levels in one kernel the GPU handles (thread-local matrices are MAX_LEVELS x MAX_LEVELS).
MAX_LEVELS = 24

_DEVICE = retarget(
    cuda.jit(device=True),
    (("nanmean_row", voxel_common.nanmean_row_body),) + glcm_formulas.BODIES + voxel_glcm.BODIES,
    {**vars(glcm_formulas), **vars(symmetric_eigen), **vars(voxel_common), **vars(voxel_glcm)},
)
_voxel_features = _DEVICE["voxel_features"]


@cuda.jit
def _glcm_maps_kernel(
    levels,
    coords,
    radius,
    axis2d,
    angles,
    grey_levels,
    symmetrical,
    want_mcc,
    scratch,
    feats,
    log2_int,
    overflow,
    out,
):
    v = cuda.grid(1)
    if v >= coords.shape[0]:
        return
    box = cuda.local.array(KMAX, dtype=np.int32)
    local = cuda.local.array(KMAX, dtype=np.int32)
    g = cuda.local.array(KMAX, dtype=np.float64)
    counts = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    cells = cuda.local.array((2, KMAX), dtype=np.int32)
    p = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    s = cuda.local.array((MAX_LEVELS, MAX_LEVELS), dtype=np.float64)
    order = cuda.local.array((2, MAX_LEVELS), dtype=np.int64)
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    if left_to_cpu(n, MAX_LEVELS, overflow, v):
        return
    for i in range(n):
        for j in range(n):
            counts[i, j] = 0.0  # the body keeps it zero between angles
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    _voxel_features(
        box, n, g, sz, sy, sx, angles, ng_max, n_global, symmetrical, want_mcc,
        scratch[v], counts, cells, p, s, order, feats[v], out[v], log2_int,
    )  # fmt: skip


def gpu_glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, out):
    """GLCM features (+ MCC last) of each voxel's kernel on the GPU; ``out`` (n_voxels, 24), as the CPU."""
    require_cuda()  # before the work arrays go to the device
    n_vox = max(len(coords), 1)  # (launch_maps checks the radius and returns at once for no voxel)
    n_angles = len(angles)
    ng_max = int(grey_levels[-1])
    width = max(MAX_LEVELS, n_angles, 2 * ng_max + 1)
    work = (
        cuda.to_device(np.zeros((n_vox, 9, width))),  # p_sum and p_diff rows must start at zero
        cuda.device_array((n_vox, len(FEATURE_NAMES), n_angles), dtype=np.float64),
        cuda.to_device(voxel_glcm.log2_table(int(radius))),
    )
    return launch_maps(
        _glcm_maps_kernel, voxel_glcm.glcm_maps, levels, coords, radius, axis2d, angles, grey_levels,
        (bool(symmetrical), bool(want_mcc)), out, device_extra=work,
    )  # fmt: skip


__all__ = ["FEATURE_NAMES", "MAX_LEVELS", "MAX_RADIUS", "MCC_NAME", "gpu_glcm_maps"]

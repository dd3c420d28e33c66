"""CUDA twin of :func:`spinerad.kernels.voxel_ngtdm.ngtdm_maps`: NGTDM feature maps, one thread per voxel.

Same signature and result as the CPU kernel (minus the CPU's work-block count). Each thread copies its
kernel box into thread-local memory (:func:`spinerad.kernels.gpu_voxel_common.gather_box`), builds the (level, count,
difference) table and evaluates the five NGTDM formulas of :mod:`spinerad.kernels.ngtdm` (its one body,
``table_features_body``, compiled as a device function). Kernel radii up to
:data:`MAX_RADIUS` (the thread-local arrays have a compile-time size).
"""

import math

import numpy as np
from numba import cuda

from . import _config, ngtdm, voxel_ngtdm
from .gpu_voxel_common import KMAX as _KMAX
from .gpu_voxel_common import MAX_RADIUS, check_launch, gather_box
from .ngtdm import FEATURE_NAMES
from .voxel_common import retarget

_ngtdm_table = retarget(cuda.jit(device=True), voxel_ngtdm.BODIES, vars(voxel_ngtdm))["ngtdm_table"]


_ngtdm_features = retarget(cuda.jit(device=True), ngtdm.BODIES, vars(ngtdm))["table_features"]


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
    sz, sy, sx, n = gather_box(levels, coords, v, radius, axis2d, grey_levels, box, local, g)
    for i in range(n):
        count[i] = 0.0
        diff[i] = 0.0
    _ngtdm_table(box, sz, sy, sx, angles, g, count, diff)
    _ngtdm_features(count, diff, g, n, out[v])


def gpu_ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, out):
    """NGTDM features of each voxel's kernel on the GPU; ``out`` (n_voxels, 5), as the CPU kernel."""
    check_launch(radius)
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

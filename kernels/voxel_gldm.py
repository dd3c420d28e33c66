"""GLDM feature maps: the dependence features of every voxel's kernel, PyRadiomics-exact.

Per voxel: for each valid voxel of the kernel box, the number of valid neighbours inside the box whose
level differs by at most ``gldm_a``; then the per-ROI formulas of :mod:`spinerad.kernels.gldm` (the sums of
:mod:`spinerad.kernels.level_size`) over the levels present in the kernel. The per-voxel body
(:func:`voxel_features_body`) allocates nothing: the CPU kernel gives it one block's scratch, the CUDA twin
(:mod:`spinerad.kernels.gpu_voxel_gldm`) thread-local arrays.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .gldm import _GLDM_SUMS, FEATURE_NAMES
from .level_size import level_size_sums
from .voxel_common import block_scratch, block_voxels, load_window, neighbour_sums


def voxel_features_body(box, sz, sy, sx, n, g, angles, alpha, counts, dependences, pg, pd, sums, row):
    """The GLDM features of one kernel box into ``row`` (14), CPU and GPU per-voxel body.

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles`` int64 (Na, 3)
    both directions; ``alpha``: ``gldm_a``. Scratch: ``counts`` (>= n, >= Na + 1); ``dependences``
    (>= Na + 1) holding 1, 2, ...; ``pg`` (>= n), ``pd`` (>= Na + 1), ``sums`` (16).
    """
    n_dep = angles.shape[0] + 1
    for i in range(n):
        for k in range(n_dep):
            counts[i, k] = 0.0
    total = 0.0
    for b in range(sz * sy * sx):
        i = box[b]
        if i >= 0:
            _, _, dependent = neighbour_sums(box, sz, sy, sx, b, angles, g, alpha)
            counts[i, dependent] += 1.0
            total += 1.0
    # PyRadiomics replaces a zero voxel count by 1
    level_size_sums(counts, n, n_dep, g, dependences, total if total != 0 else 1.0, pg, pd, sums)
    for f in range(_GLDM_SUMS.shape[0]):
        row[f] = sums[_GLDM_SUMS[f]]


voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel body by name (its callees are :mod:`spinerad.kernels.voxel_common`'s and level_size's).
BODIES = (("voxel_features", voxel_features_body),)


@njit(**JIT_PARALLEL)
def gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, blocks, out):
    """GLDM features of each voxel's kernel; ``out`` (n_voxels, 14).

    ``angles``: int64 (Na, 3) with both directions (``distances`` setting); ``alpha``: ``gldm_a``.
    """
    n_vox = coords.shape[0]
    n_dep = angles.shape[0] + 1
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, grey_levels.shape[0])
        counts = np.empty((g.shape[0], n_dep))
        dependences = np.arange(1.0, n_dep + 1.0)  # j = dependent neighbours + 1
        pg = np.empty(g.shape[0])
        pd = np.empty(n_dep)
        sums = np.empty(16)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            voxel_features(box, sz, sy, sx, n, g, angles, alpha, counts, dependences, pg, pd, sums, out[v])


__all__ = ["BODIES", "FEATURE_NAMES", "gldm_maps"]

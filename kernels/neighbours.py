r"""The neighbour scan GLDM and NGTDM share: what each ROI voxel's neighbours at the given offsets hold.

Both classes look at every ROI voxel's neighbours (offsets of the ``distances`` setting, both directions,
inside the cropped box) and keep per grey level a histogram: GLDM the number of *dependent* neighbours
(real level within ``alpha``), NGTDM the voxel count and the summed :math:`|i-\bar A|`. One kernel walks
the neighbourhoods for both (:func:`neighbour_scan`); each class passes the outputs it wants.

The volume is padded with a border of -1 as wide as the largest offset and flattened, so a neighbour is one
load at a constant flat offset with no bounds check (the padding is "not in the ROI", like the part of the
box outside the ROI). The scan runs in a fixed number of chunks with private histograms, summed at the end:
the counts are exact integers and the NGTDM sums add the same terms whatever the thread count (the chunks
do not depend on it).
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from ._inputs import padded_flat

#: Chunks of the flattened volume, each with its own histograms: a fixed count, so results do not depend on
#: the thread count.
CHUNKS = 32


@njit(**JIT_PARALLEL)
def _neighbour_kernel(flat, offsets, grey_levels, alpha, dependence, differences):
    """Chunk c of ``flat`` adds into ``dependence[c]`` (level, dependent neighbours) and ``differences[c]``.

    ``dependence`` or ``differences`` may have zero chunks: that part is then skipped.
    """
    n = flat.shape[0]
    n_offsets = offsets.shape[0]
    n_chunks = max(dependence.shape[0], differences.shape[0])
    want_dependence = dependence.shape[0] > 0
    want_differences = differences.shape[0] > 0
    for c in prange(n_chunks):
        for v in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            i = flat[v]
            if i < 0:
                continue
            gi = grey_levels[i]
            dependent = 0
            count = 0
            total = 0.0
            for a in range(n_offsets):
                j = flat[np.uint64(v + offsets[a])]
                if j >= 0:
                    gj = grey_levels[j]
                    count += 1
                    total += gj
                    dependent += abs(gi - gj) <= alpha
            if want_dependence:
                dependence[c, i, dependent] += 1.0
            if want_differences:
                differences[c, i, 0] += 1.0
                # PyRadiomics: (double)level - sum / count; the levels are integers, summed exactly.
                if count > 0:
                    differences[c, i, 1] += abs(gi - total / count)


def neighbour_scan(levels, angles, grey_levels, alpha=0.0, dependence=False, differences=False):
    """GLDM dependence counts and/or NGTDM counts and differences of one ROI in one pass.

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) neighbour offsets holding *both* directions.
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices.
    alpha : float
        Largest absolute real-level difference of a dependent neighbour (GLDM's ``gldm_a``).
    dependence, differences : bool
        Which histograms to compute.

    Returns
    -------
    (numpy.ndarray or None, numpy.ndarray or None)
        float64 (Ng, n_angles + 1) voxels per level and number of dependent neighbours; float64 (Ng, 2)
        voxels per level and summed absolute difference to their neighbours' mean level.
    """
    levels = np.ascontiguousarray(levels, dtype=np.int32)
    grey_levels = np.ascontiguousarray(grey_levels, dtype=np.float64)
    angles = np.ascontiguousarray(angles, dtype=np.int64).reshape(-1, 3)
    n_levels = len(grey_levels)
    pad = int(np.abs(angles).max()) if angles.size else 0
    flat, strides = padded_flat(levels, pad, -1)
    n_chunks = max(1, min(CHUNKS, flat.size))
    dep = np.zeros((n_chunks if dependence else 0, n_levels, angles.shape[0] + 1), dtype=np.float64)
    diff = np.zeros((n_chunks if differences else 0, n_levels, 2), dtype=np.float64)
    _neighbour_kernel(flat, angles @ strides, grey_levels, float(alpha), dep, diff)
    return (dep.sum(axis=0) if dependence else None), (diff.sum(axis=0) if differences else None)

"""GLRLM feature maps: the run-length features of every voxel's kernel, PyRadiomics-exact.

Per voxel: the runs of equal level along each angle inside the kernel box (a run ends at a voxel that is
not valid or at the box border), an angle whose lines never hold two valid voxels zeroed (PyRadiomics'
"2-D segmentation" rule), empty angles dropped, then the per-ROI formulas of
:mod:`spinerad.kernels.glrlm` (the sums of :mod:`spinerad.kernels.level_size`) averaged over angles
ignoring NaN. One angle at a time: its run counts over the kernel's local levels go straight into its
sixteen sums. The per-voxel body (:func:`voxel_features_body`) allocates nothing: the CPU kernel gives it
one block's scratch, the CUDA twin (:mod:`spinerad.kernels.gpu_voxel_glrlm`) thread-local arrays.
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .glrlm import FEATURE_NAMES
from .level_size import level_size_sums
from .voxel_common import block_scratch, block_voxels, load_window, nanmean_row

_RUN_VARIANCE = FEATURE_NAMES.index("RunVariance")
_RUN_ENTROPY = FEATURE_NAMES.index("RunEntropy")
_N_FEATURES = len(FEATURE_NAMES)


def angle_runs_body(box, sz, sy, sx, n, n_len, az, ay, ax, counts):
    """Count the runs of one angle (az, ay, ax) in the box into ``counts[:n, :n_len]``; returns how many.

    0 when no line along the angle holds two valid voxels (PyRadiomics zeroes such an angle).
    """
    for i in range(n):
        for r in range(n_len):
            counts[i, r] = 0.0
    multi = False
    total = 0.0
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                # a line starts where the previous voxel along the angle is outside the box
                pz, py, px = bz - az, by - ay, bx - ax
                if 0 <= pz < sz and 0 <= py < sy and 0 <= px < sx:
                    continue
                cz, cy, cx = bz, by, bx
                level = -1
                length = 0
                elements = 0
                while 0 <= cz < sz and 0 <= cy < sy and 0 <= cx < sx:
                    j = box[(cz * sy + cy) * sx + cx]
                    if j >= 0:
                        elements += 1
                        if level == -1:
                            level = j
                            length = 0
                        elif j == level:
                            length += 1
                        else:
                            counts[level, length] += 1.0
                            total += 1.0
                            level = j
                            length = 0
                    elif level > -1:
                        counts[level, length] += 1.0
                        total += 1.0
                        level = -1
                        length = 0
                    cz += az
                    cy += ay
                    cx += ax
                if level > -1:
                    counts[level, length] += 1.0
                    total += 1.0
                if elements > 1:
                    multi = True
    if not multi:
        # every run has length 1 here: zeroing column 0 zeroes the angle
        for i in range(n):
            counts[i, 0] = 0.0
        total = 0.0
    return total


def voxel_features_body(box, sz, sy, sx, n, g, angles, counts, lengths, pg, pr, sums, feats, row):
    """The GLRLM features of one kernel box into ``row`` (16), CPU and GPU per-voxel body.

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles`` int64 (Na, 3).
    Scratch, ``L`` = the longest box side: ``counts`` (>= n, >= L); ``lengths`` (>= L) holding 1, 2, ...;
    ``pg`` (>= n), ``pr`` (>= L), ``sums`` (16), ``feats`` (16, >= Na).
    """
    n_angles = angles.shape[0]
    n_len = max(sz, max(sy, sx))
    kept = 0
    any_run = False
    for a in range(n_angles):
        total = angle_runs(box, sz, sy, sx, n, n_len, angles[a, 0], angles[a, 1], angles[a, 2], counts)
        # PyRadiomics drops an angle without any run (the voxel computed alone), unless it is the only one
        if not (total > 0 or n_angles == 1):
            continue
        level_size_sums(counts, n, n_len, g, lengths, total if total > 0 else math.nan, pg, pr, sums)
        for f in range(_N_FEATURES):
            feats[f, kept] = sums[f]
        if total > 0:
            any_run = True
        kept += 1
    for f in range(_N_FEATURES):
        row[f] = nanmean_row(feats[f], kept)
    if kept and not any_run:
        # a lone empty angle: PyRadiomics' run-length sums are over no column (0, not NaN)
        row[_RUN_VARIANCE] = 0.0
        row[_RUN_ENTROPY] = 0.0


angle_runs = njit(**JIT)(angle_runs_body)
voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel bodies by name, callees first (the others are voxel_common's and level_size's).
BODIES = (("angle_runs", angle_runs_body), ("voxel_features", voxel_features_body))


@njit(**JIT_PARALLEL)
def glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """GLRLM features of each voxel's kernel; ``out`` (n_voxels, 16).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, (1,), force2D, axis)``.
    """
    n_vox = coords.shape[0]
    span = 2 * radius + 1
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, grey_levels.shape[0])
        counts = np.empty((g.shape[0], span))
        lengths = np.arange(1.0, span + 1.0)
        pg = np.empty(g.shape[0])
        pr = np.empty(span)
        sums = np.empty(_N_FEATURES)
        feats = np.empty((_N_FEATURES, max(angles.shape[0], 1)))
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            voxel_features(box, sz, sy, sx, n, g, angles, counts, lengths, pg, pr, sums, feats, out[v])


__all__ = ["BODIES", "FEATURE_NAMES", "glrlm_maps"]

"""GLRLM feature maps: the run-length features of every voxel's kernel, PyRadiomics-exact.

Per voxel: the runs of equal level along each angle inside the kernel box (a run ends at a voxel that is
not valid or at the box border), an angle whose lines never hold two valid voxels zeroed (PyRadiomics'
"2-D segmentation" rule), empty angles dropped, then the per-ROI formulas of
:mod:`spinerad.kernels.glrlm` averaged over angles ignoring NaN.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from .glrlm import FEATURE_NAMES, _glrlm_feature_kernel
from .voxel_common import block_scratch, block_voxels, load_window, nanmean_row

_RUN_VARIANCE = FEATURE_NAMES.index("RunVariance")
_RUN_ENTROPY = FEATURE_NAMES.index("RunEntropy")


@njit(**JIT_PARALLEL)
def glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """GLRLM features of each voxel's kernel; ``out`` (n_voxels, 16).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, (1,), force2D, axis)``.
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    span = 2 * radius + 1
    n_feat = len(FEATURE_NAMES)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        counts = np.zeros((n_angles, g.shape[0], span))
        sums = np.empty(n_angles)
        agg = np.empty(n_angles)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            n_len = max(sz, max(sy, sx))
            for a in range(n_angles):
                for i in range(n):
                    for r in range(n_len):
                        counts[a, i, r] = 0.0
                az, ay, ax = angles[a, 0], angles[a, 1], angles[a, 2]
                multi = False
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
                                        counts[a, level, length] += 1.0
                                        level = j
                                        length = 0
                                elif level > -1:
                                    counts[a, level, length] += 1.0
                                    level = -1
                                    length = 0
                                cz += az
                                cy += ay
                                cx += ax
                            if level > -1:
                                counts[a, level, length] += 1.0
                            if elements > 1:
                                multi = True
                if not multi:
                    for i in range(n):
                        counts[a, i, 0] = 0.0
            kept = 0
            for a in range(n_angles):
                total = 0.0
                for i in range(n):
                    for r in range(n_len):
                        total += counts[a, i, r]
                sums[a] = total
                if total > 0 or n_angles == 1:
                    kept += 1
            p = np.zeros((1, kept, n, n_len))
            n_runs = np.empty((1, kept))
            k = 0
            any_run = False
            for a in range(n_angles):
                if not (sums[a] > 0 or n_angles == 1):
                    continue
                for i in range(n):
                    for r in range(n_len):
                        p[0, k, i, r] = counts[a, i, r]
                n_runs[0, k] = sums[a] if sums[a] > 0 else np.nan
                if sums[a] > 0:
                    any_run = True
                k += 1
            feats = np.empty((1, kept, n_feat))
            _glrlm_feature_kernel(p, n_runs, g[:n].copy(), feats)
            row = out[v]
            for f in range(n_feat):
                for a in range(kept):
                    agg[a] = feats[0, a, f]
                row[f] = nanmean_row(agg, kept)
            if kept and not any_run:
                # a lone empty angle: PyRadiomics' run-length sums are over no column (0, not NaN)
                row[_RUN_VARIANCE] = 0.0
                row[_RUN_ENTROPY] = 0.0


__all__ = ["FEATURE_NAMES", "glrlm_maps"]

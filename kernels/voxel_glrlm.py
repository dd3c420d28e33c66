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
from .voxel_common import block_scratch, block_voxels, box_bounds, load_window, nanmean_row
from .voxel_neighbour_bits import WORD, batch_region, box_neighbours, inbox_table, region_bits

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


def adjacent_pair_body(box, sz, sy, sx, inbox, a, step):
    """Whether two valid box voxels are neighbours along offset ``a`` (flat ``step``) inside the box."""
    b = 0
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                inside = inbox[0, sz - 1, bz, 0] & inbox[1, sy - 1, by, 0] & inbox[2, sx - 1, bx, 0]
                if box[b] >= 0 and (inside >> a) & 1 and box[b + step] >= 0:
                    return True
                b += 1
    return False


def voxel_features_body(
    box, sz, sy, sx, n, g, angles, bits, oz, oy, ox, inbox, same, run, counts, lengths, pg, pr, sums,
    feats, row,
):  # fmt: skip
    """The GLRLM features of one kernel box into ``row`` (16), CPU and GPU per-voxel body.

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles`` int64 (Na, 3),
    Na <= 16; ``bits`` the same-level neighbour bits of the batch region over ``angles`` then ``-angles``
    (one word), the box at (oz, oy, ox) in it; ``inbox`` from
    :func:`spinerad.kernels.voxel_neighbour_bits.inbox_table` over the same 2 Na offsets. Scratch, ``K``
    = the box volume and ``L`` its longest side: ``same``, ``run`` int (>= K); ``counts`` (>= n, >= L);
    ``lengths`` (>= L) holding 1, 2, ...; ``pg`` (>= n), ``pr`` (>= L), ``sums`` (16), ``feats``
    (16, >= Na).

    A run ends at a valid voxel whose successor along the angle is not an in-box voxel of its level
    (``same``: those in-box same-level bits per box voxel); its length is counted up from its first voxel.
    """
    n_angles = angles.shape[0]
    n_len = max(sz, max(sy, sx))
    b = 0
    for bz in range(sz):
        for by in range(sy):
            for bx in range(sx):
                same[b] = box_neighbours(bits, oz, oy, ox, inbox, sz, sy, sx, bz, by, bx, 0)
                b += 1
    kept = 0
    any_run = False
    for a in range(n_angles):
        step = (angles[a, 0] * sy + angles[a, 1]) * sx + angles[a, 2]
        for i in range(n):
            for r in range(n_len):
                counts[i, r] = 0.0
        # follow the runs in increasing flat index: along the angle or its opposite, whichever steps forward
        forward = a if step > 0 else a + n_angles
        backward = a + n_angles if step > 0 else a
        stride = abs(step)
        ends = 0
        longest = 1
        for b in range(sz * sy * sx):
            m = same[b]
            # run length so far: one more than the predecessor's when it is an in-box voxel of this level
            back = (m >> backward) & 1
            length = 1 + back * run[b - back * stride]
            run[b] = length
            i = box[b]
            # 1 where a run ends here (a valid voxel without an in-box successor of its level), else 0.
            # Without branches: "does a run end here" follows the image and was mispredicted about every
            # other voxel; adding 0 to a count changes nothing (an invalid voxel has no same-level bits,
            # so its length is 1).
            end = 0 if i < 0 else 1 - ((m >> forward) & 1)
            counts[max(i, 0), length - 1] += end
            ends += end
            longest = max(longest, length * end)
        total = float(ends)
        paired = False
        if longest == 1:
            # every run has length 1: are two valid voxels adjacent along the angle?
            paired = adjacent_pair(box, sz, sy, sx, inbox, a, step)
        if longest == 1 and not paired:
            # no two adjacent valid voxels: walk the lines for PyRadiomics' rule (an angle whose lines never
            # hold two valid voxels is zeroed)
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
adjacent_pair = njit(**JIT)(adjacent_pair_body)
voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel bodies by name, callees first (the others are voxel_common's, voxel_neighbour_bits' and
#: level_size's).
BODIES = (
    ("angle_runs", angle_runs_body),
    ("adjacent_pair", adjacent_pair_body),
    ("voxel_features", voxel_features_body),
)


@njit(**JIT)
def both_directions(angles):
    """``angles`` then ``-angles``: the offsets of the run bits (successor, then predecessor)."""
    n_angles = angles.shape[0]
    both = np.empty((2 * n_angles, 3), dtype=np.int64)
    for a in range(n_angles):
        for d in range(3):
            both[a, d] = angles[a, d]
            both[n_angles + a, d] = -angles[a, d]
    return both


@njit(**JIT_PARALLEL)
def glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """GLRLM features of each voxel's kernel; ``out`` (n_voxels, 16).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, (1,), force2D, axis)`` (Na <= 16).
    """
    n_vox = coords.shape[0]
    if n_vox == 0:
        return
    if angles.shape[0] > WORD // 2:
        raise ValueError("the GLRLM maps take at most 16 angles (distance 1)")
    both = both_directions(angles)
    region = batch_region(levels.shape, coords, radius, axis2d)
    bits = region_bits(levels, region, both, grey_levels, 0.0)
    inbox = inbox_table(both, radius)
    span = 2 * radius + 1
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, grey_levels.shape[0])
        same = np.empty(box.shape[0], dtype=np.int64)
        run = np.empty(box.shape[0], dtype=np.int64)
        counts = np.empty((g.shape[0], span))
        lengths = np.arange(1.0, span + 1.0)
        pg = np.empty(g.shape[0])
        pr = np.empty(span)
        sums = np.empty(_N_FEATURES)
        feats = np.empty((_N_FEATURES, max(angles.shape[0], 1)))
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            z0, y0, x0, _, _, _ = box_bounds(
                levels.shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d
            )
            oz, oy, ox = z0 - region[0], y0 - region[1], x0 - region[2]
            voxel_features(
                box, sz, sy, sx, n, g, angles, bits, oz, oy, ox, inbox, same, run, counts, lengths, pg,
                pr, sums, feats, out[v],
            )  # fmt: skip


__all__ = ["BODIES", "FEATURE_NAMES", "both_directions", "glrlm_maps"]

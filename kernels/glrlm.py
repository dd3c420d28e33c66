r"""Grey Level Run Length Matrix (GLRLM): matrix kernel and feature formulas, PyRadiomics-exact.

Axis order: ``glrlm[b, a, i, r]`` = batch (ROI), angle, compact grey-level index, run length - 1.
Image convention as in :mod:`spinerad.kernels.glcm` (int32 compact levels, -1 outside the ROI).
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from ._inputs import matrix_inputs
from .level_size import level_size_features

#: Feature names (PyRadiomics spelling) in the column order of :func:`glrlm_features`.
FEATURE_NAMES = (
    "ShortRunEmphasis",
    "LongRunEmphasis",
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "RunLengthNonUniformity",
    "RunLengthNonUniformityNormalized",
    "RunPercentage",
    "GrayLevelVariance",
    "RunVariance",
    "RunEntropy",
    "LowGrayLevelRunEmphasis",
    "HighGrayLevelRunEmphasis",
    "ShortRunLowGrayLevelEmphasis",
    "ShortRunHighGrayLevelEmphasis",
    "LongRunLowGrayLevelEmphasis",
    "LongRunHighGrayLevelEmphasis",
)

#: name -> (IBSI tag, formula (LaTeX), meaning). P(i, j): runs of grey level i and length j; N_r: runs;
#: N_p: voxels; p_g, p_r: grey-level and run-length marginals; p = P / N_r.
FORMULAS = {
    "ShortRunEmphasis": (
        "rlm_sre",
        r"\frac{1}{N_r}\sum_j \frac{p_r(j)}{j^2}",
        "weight of short runs: fine texture",
    ),
    "LongRunEmphasis": ("rlm_lre", r"\frac{1}{N_r}\sum_j p_r(j)\,j^2", "weight of long runs: coarse texture"),
    "GrayLevelNonUniformity": ("rlm_glnu", r"\frac{1}{N_r}\sum_i p_g(i)^2", "runs spread over grey levels"),
    "GrayLevelNonUniformityNormalized": (
        "rlm_glnu_norm",
        r"\frac{1}{N_r^2}\sum_i p_g(i)^2",
        "normalised GLNU",
    ),
    "RunLengthNonUniformity": ("rlm_rlnu", r"\frac{1}{N_r}\sum_j p_r(j)^2", "runs spread over lengths"),
    "RunLengthNonUniformityNormalized": (
        "rlm_rlnu_norm",
        r"\frac{1}{N_r^2}\sum_j p_r(j)^2",
        "normalised RLNU",
    ),
    "RunPercentage": ("rlm_r_perc", r"\frac{N_r}{N_p}", "runs per voxel"),
    "GrayLevelVariance": ("rlm_gl_var", r"\sum_i\sum_j p(i,j)(i-\mu_i)^2", "variance of run grey levels"),
    "RunVariance": ("rlm_rl_var", r"\sum_i\sum_j p(i,j)(j-\mu_j)^2", "variance of run lengths"),
    "RunEntropy": ("rlm_rl_entr", r"-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)", "randomness of runs"),
    "LowGrayLevelRunEmphasis": ("rlm_lgre", r"\frac{1}{N_r}\sum_i \frac{p_g(i)}{i^2}", "weight of dark runs"),
    "HighGrayLevelRunEmphasis": ("rlm_hgre", r"\frac{1}{N_r}\sum_i p_g(i)\,i^2", "weight of bright runs"),
    "ShortRunLowGrayLevelEmphasis": (
        "rlm_srlge",
        r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)}{i^2j^2}",
        "short dark runs",
    ),
    "ShortRunHighGrayLevelEmphasis": (
        "rlm_srhge",
        r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)i^2}{j^2}",
        "short bright runs",
    ),
    "LongRunLowGrayLevelEmphasis": (
        "rlm_lrlge",
        r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)j^2}{i^2}",
        "long dark runs",
    ),
    "LongRunHighGrayLevelEmphasis": (
        "rlm_lrhge",
        r"\frac{1}{N_r}\sum_i\sum_j P(i,j)i^2j^2",
        "long bright runs",
    ),
}


#: Marks the border around the box in the padded volume (-1 is "in the box, not in the ROI").
OUTSIDE_BOX = -3


@njit(**JIT_PARALLEL)
def _glrlm_kernel(flat, roi, signed, first, last, zero_flat, out, pairs, counter_kind, ring_kind):
    """Count runs per angle in one raster pass over the ROI's voxels; one angle per thread.

    ``flat`` is the level volume padded with a border of ``OUTSIDE_BOX`` and flattened, ``roi`` the flat
    indices of its ROI voxels in raster order (:func:`padded_roi`: the pass skips the box's other voxels),
    ``signed`` the angles as flat offsets, walked as positive steps (a run along -d is the same run as along
    +d), and ``first``/``last`` the flat range of the box. In raster order the voxel one step back has been
    seen already, so the length of the run ending at ``v`` is that voxel's length + 1 when it has the same
    level, else 1; a run is counted at its last voxel (the next one differs), by adding that test's 0 or 1.
    Only the last ``step`` lengths are ever looked back at: they live in a ring buffer a power of two long,
    which stays in cache (a skipped voxel's stale slot is never read: its level is not the current one, and
    the factor 0 drops it).

    ``pairs`` (n_angles, Ng, Ng), or None: the same pass also counts the co-occurrences of each voxel with its
    neighbour one step on, from the neighbour the run test loads anyway: the GLCM of ``+step``, transposed
    for an offset that points back.

    The pass is bound by the instructions per voxel and angle and by what stays in the 48 KB L1 cache, so
    the loop holds nothing else: the counters are the task's own integers of ``counter_kind``'s dtype (an
    increment is one instruction, where a float one converts the 0/1 first; copied into the float64 ``out``
    and ``pairs`` at the end), the ring holds ``ring_kind``'s dtype (int16 lengths keep a z-angle's
    16,384-slot ring at 32 KB), ``pairs is None`` is settled when Numba compiles, and whether the angle is
    flat is asked after the loop, and every index is unsigned (below). On the IBSI CT phantom (13 angles,
    125k voxels, one thread) the loop takes ~3.5 ms instead of ~6.
    """
    n_levels = out.shape[1]
    n_runs = out.shape[2]
    # every index below is uint64: Numba then emits no negative-index wraparound code, whose extra registers
    # spilled the loop's pointers to the stack (~50 instructions a voxel and angle instead of ~30, ~1.5x time)
    u_levels = np.uint64(n_levels)
    u_runs = np.uint64(n_runs)
    one = np.uint64(1)
    for a in prange(signed.shape[0]):
        step = abs(signed[a])
        size = 1
        while size <= step:
            size *= 2
        u_step = np.uint64(step)
        ring = np.uint64(size - 1)
        length_at = np.zeros(size, dtype=ring_kind.dtype)
        run_counts = np.zeros(n_levels * n_runs, dtype=counter_kind.dtype)
        if pairs is not None:
            pair_counts = np.zeros(n_levels * n_levels, dtype=counter_kind.dtype)
        for k in range(roi.shape[0]):
            v = np.uint64(roi[k])  # (>= step: the padding)
            i = flat[v]
            before = flat[v - u_step]
            after = flat[v + u_step]
            # Branch-free: at ~1-2 voxels a run (noisy CT) both tests below mispredict half the time.
            length = np.uint64(before == i) * np.uint64(length_at[(v - u_step) & ring]) + one
            length_at[v & ring] = length
            row = np.uint64(i)
            run_counts[row * u_runs + length - one] += after != i
            if pairs is not None:
                if after >= 0:
                    pair_counts[row * u_levels + np.uint64(after)] += 1
        counts = run_counts.reshape((n_levels, n_runs))
        flat_angle = zero_flat and _is_flat(flat, roi, step, first, last, counts, length_at, size - 1)
        for i in range(n_levels):
            for r in range(n_runs):
                out[a, i, r] = 0.0 if flat_angle else counts[i, r]
        if pairs is not None:
            forward = signed[a] > 0
            for i in range(n_levels):
                for j in range(n_levels):
                    cell = i * n_levels + j if forward else j * n_levels + i
                    pairs[a, i, j] = pair_counts[cell]


@njit(**JIT)
def _is_flat(flat, roi, step, first, last, counts, seen_at, ring):
    """Whether no line of the box along ``step`` holds two ROI voxels (PyRadiomics then zeroes the angle).

    A run of two or more says no at once; else the ROI voxels are looked at for a neighbour one step back,
    and only when none has one are the lines searched (rare).
    """
    for i in range(counts.shape[0]):
        for r in range(1, counts.shape[1]):
            if counts[i, r] != 0:
                return False
    for k in range(roi.shape[0]):
        if flat[np.int64(roi[k]) - step] >= 0:
            return False
    return not _line_holds_several(flat, step, first, last, seen_at, ring)


@njit(**JIT)
def padded_roi(levels, pad, kind):
    """``levels`` in a border of ``OUTSIDE_BOX`` ``pad`` voxels wide, flattened, and its ROI voxels' indices.

    One pass for what :func:`spinerad.kernels._inputs.padded_flat` and a scan of its result would do in
    three. Returns ``(flat, roi)``: ``roi`` holds the flat indices ``v`` with ``flat[v] >= 0`` in raster
    order, of ``kind``'s dtype (int32 below 2^31 voxels: half the memory the run pass streams through).
    """
    n_z, n_y, n_x = levels.shape
    p_y = n_y + 2 * pad
    p_x = n_x + 2 * pad
    flat = np.full((n_z + 2 * pad) * p_y * p_x, OUTSIDE_BOX, dtype=levels.dtype)
    roi = np.empty(levels.size, dtype=kind.dtype)
    n = 0
    for z in range(n_z):
        for y in range(n_y):
            start = ((z + pad) * p_y + y + pad) * p_x + pad
            for x in range(n_x):
                level = levels[z, y, x]
                flat[start + x] = level
                roi[n] = start + x
                n += level >= 0  # branch-free: ROI borders would mispredict
    return flat, roi[:n]


@njit(**JIT)
def _line_holds_several(flat, step, first, last, seen_at, ring):
    """Whether a line of the box along ``step`` holds two ROI voxels (not necessarily adjacent ones).

    PyRadiomics zeroes an angle whose lines all hold at most one ROI voxel (the ROI is flat for it). Only
    asked when no two ROI voxels are adjacent along ``step``, which is rare; ``seen_at`` is scratch.
    """
    for v in range(first, last):
        x = flat[v]
        if x == OUTSIDE_BOX:
            continue
        seen = 1 if x >= 0 else 0
        if flat[v - step] != OUTSIDE_BOX:
            seen += seen_at[(v - step) & ring]
        if seen > 1:
            return True
        seen_at[v & ring] = seen
    return False


def glrlm_matrix(levels, angles, n_levels, zero_flat_angles=True):
    """Raw run-length counts per angle.

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) offsets.
    n_levels : int
        Number of grey levels present in the ROI.
    zero_flat_angles : bool
        PyRadiomics' rule: zero an angle along which no line holds two ROI voxels (IBSI keeps them).

    Returns
    -------
    numpy.ndarray
        float64 (n_angles, n_levels, max(levels.shape)); column r counts runs of length r + 1.
    """
    return _run_pass(levels, angles, n_levels, zero_flat_angles, with_pairs=False)[0]


def glrlm_glcm_matrices(levels, angles, n_levels, zero_flat_angles=True):
    """:func:`glrlm_matrix` and :func:`spinerad.kernels.glcm.glcm_matrix` of the same angles, in one pass.

    The run pass loads each ROI voxel's neighbours one step back and on along every angle; counting the
    co-occurrence with the neighbour at ``+angle`` there costs one more increment instead of a second pass.
    Returns ``(runs, pairs)``: exactly what the two functions return.
    """
    return _run_pass(levels, angles, n_levels, zero_flat_angles, with_pairs=True)


def _run_pass(levels, angles, n_levels, zero_flat_angles, with_pairs):
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    n_runs = max(levels.shape)
    n_pair_levels = n_levels if with_pairs else 0
    if levels.size == 0 or angles.shape[0] == 0:
        out = np.zeros((angles.shape[0], n_levels, n_runs), dtype=np.float64)
        return out, np.zeros((angles.shape[0], n_pair_levels, n_pair_levels), dtype=np.float64)
    out = np.empty((angles.shape[0], n_levels, n_runs), dtype=np.float64)
    pairs = np.empty((angles.shape[0], n_pair_levels, n_pair_levels), dtype=np.float64)
    # integer counters and ring (see _glrlm_kernel): int32 holds every count of a box under 2^31 voxels
    counter_kind = np.zeros(0, dtype=np.int32 if levels.size < 2**31 else np.int64)
    ring_kind = np.zeros(0, dtype=np.int16 if n_runs < 2**15 else np.int64)
    # A border as wide as the longest step: every step from a box voxel lands in the box or the border.
    pad = max(1, int(np.abs(angles).max()))
    strides = np.cumprod((1,) + tuple(n + 2 * pad for n in levels.shape[:0:-1]))[::-1].astype(np.int64)
    first = pad * int(strides.sum())
    last = first + int(np.dot(np.array(levels.shape) - 1, strides)) + 1
    padded_size = int(np.prod([n + 2 * pad for n in levels.shape]))
    flat, roi = padded_roi(levels, pad, np.zeros(0, dtype=np.int32 if padded_size < 2**31 else np.int64))
    zero_flat = bool(zero_flat_angles)
    pairs_out = pairs if with_pairs else None
    signed = angles @ strides
    _glrlm_kernel(flat, roi, signed, first, last, zero_flat, out, pairs_out, counter_kind, ring_kind)
    return out, pairs


def prepare_glrlm(counts, angle_weights=None):
    """PyRadiomics' matrix options: weight-and-merge angles, drop empty angles.

    Returns
    -------
    matrix : numpy.ndarray
        (1, n_kept_angles, Ng, Nr) counts with a leading batch axis of one ROI.
    n_runs : numpy.ndarray
        (1, n_kept_angles) number of runs per angle, NaN for a lone empty angle.
    """
    p = counts
    if angle_weights is not None:
        p = np.tensordot(angle_weights, p, axes=(0, 0))[None]
    sums = p.sum(axis=(1, 2))
    if p.shape[0] > 1:
        keep = sums != 0
        p, sums = p[keep], sums[keep]
    return p[None], np.where(sums == 0, np.nan, sums)[None]


@njit(**JIT)
def _glrlm_feature_kernel(p_all, n_runs, grey_levels, out):
    n_batch, n_angles, n_levels, n_len = p_all.shape
    lengths = np.arange(1.0, n_len + 1.0)
    pg = np.empty(n_levels)
    pr = np.empty(n_len)
    for b in range(n_batch):
        for a in range(n_angles):
            level_size_features(p_all[b, a], grey_levels, lengths, n_runs[b, a], pg, pr, out[b, a])


def glrlm_features(p, n_runs, grey_levels):
    """All GLRLM features per ROI and angle; average with :func:`aggregate`.

    Parameters
    ----------
    p : numpy.ndarray
        (n_batch, n_angles, Ng, Nr) counts from :func:`prepare_glrlm`.
    n_runs : numpy.ndarray
        (n_batch, n_angles) total runs per angle.
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values.
    """
    out = np.empty((p.shape[0], p.shape[1], len(FEATURE_NAMES)), dtype=np.float64)
    _glrlm_feature_kernel(
        np.ascontiguousarray(p, dtype=np.float64),
        np.ascontiguousarray(n_runs, dtype=np.float64),
        np.asarray(grey_levels, dtype=np.float64),
        out,
    )
    if p.size and not p.any():
        # PyRadiomics drops every run-length column that is empty in all angles; with no run at all the
        # run-length sums are over nothing: 0, not 0/NaN.
        out[:, :, FEATURE_NAMES.index("RunVariance")] = 0.0
        out[:, :, FEATURE_NAMES.index("RunEntropy")] = 0.0
    return out

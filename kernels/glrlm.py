r"""Grey Level Run Length Matrix (GLRLM): matrix kernel and feature formulas, PyRadiomics-exact.

Axis order: ``glrlm[b, a, i, r]`` = batch (ROI), angle, compact grey-level index, run length - 1.
Image convention as in :mod:`spinerad.kernels.glcm` (int32 compact levels, -1 outside the ROI).
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from ._inputs import matrix_inputs

EPS = np.spacing(1)

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
    "ShortRunEmphasis": ("rlm_sre", r"\frac{1}{N_r}\sum_j \frac{p_r(j)}{j^2}", "weight of short runs: fine texture"),
    "LongRunEmphasis": ("rlm_lre", r"\frac{1}{N_r}\sum_j p_r(j)\,j^2", "weight of long runs: coarse texture"),
    "GrayLevelNonUniformity": ("rlm_glnu", r"\frac{1}{N_r}\sum_i p_g(i)^2", "runs spread over grey levels"),
    "GrayLevelNonUniformityNormalized": ("rlm_glnu_norm", r"\frac{1}{N_r^2}\sum_i p_g(i)^2", "normalised GLNU"),
    "RunLengthNonUniformity": ("rlm_rlnu", r"\frac{1}{N_r}\sum_j p_r(j)^2", "runs spread over lengths"),
    "RunLengthNonUniformityNormalized": ("rlm_rlnu_norm", r"\frac{1}{N_r^2}\sum_j p_r(j)^2", "normalised RLNU"),
    "RunPercentage": ("rlm_r_perc", r"\frac{N_r}{N_p}", "runs per voxel"),
    "GrayLevelVariance": ("rlm_gl_var", r"\sum_i\sum_j p(i,j)(i-\mu_i)^2", "variance of run grey levels"),
    "RunVariance": ("rlm_rl_var", r"\sum_i\sum_j p(i,j)(j-\mu_j)^2", "variance of run lengths"),
    "RunEntropy": ("rlm_rl_entr", r"-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)", "randomness of runs"),
    "LowGrayLevelRunEmphasis": ("rlm_lgre", r"\frac{1}{N_r}\sum_i \frac{p_g(i)}{i^2}", "weight of dark runs"),
    "HighGrayLevelRunEmphasis": ("rlm_hgre", r"\frac{1}{N_r}\sum_i p_g(i)\,i^2", "weight of bright runs"),
    "ShortRunLowGrayLevelEmphasis": ("rlm_srlge", r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)}{i^2j^2}", "short dark runs"),
    "ShortRunHighGrayLevelEmphasis": ("rlm_srhge", r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)i^2}{j^2}", "short bright runs"),
    "LongRunLowGrayLevelEmphasis": ("rlm_lrlge", r"\frac{1}{N_r}\sum_i\sum_j \frac{P(i,j)j^2}{i^2}", "long dark runs"),
    "LongRunHighGrayLevelEmphasis": ("rlm_lrhge", r"\frac{1}{N_r}\sum_i\sum_j P(i,j)i^2j^2", "long bright runs"),
}


#: Marks the one-voxel border around the box in the padded volume (-1 is "in the box, not in the ROI").
OUTSIDE_BOX = -3


@njit(**JIT_PARALLEL)
def _glrlm_kernel(flat, offsets, zero_flat, out):
    """Walk every line parallel to each angle once; one angle per thread.

    ``flat`` is the level volume padded with a border of ``OUTSIDE_BOX`` and flattened; ``offsets`` are the
    angles as flat offsets. A line starts at a box voxel whose predecessor lies in the border, and runs
    until the border: no coordinate bounds checks. With ``zero_flat``, an angle along which no line holds
    more than one ROI voxel is zeroed: PyRadiomics treats the ROI as flat for it.
    """
    n = flat.shape[0]
    for a in prange(offsets.shape[0]):
        step = offsets[a]
        counts = out[a]
        several = False
        for start in range(n):
            if flat[start] == OUTSIDE_BOX:
                continue
            before = start - step
            if 0 <= before < n and flat[before] != OUTSIDE_BOX:
                continue
            run_level = -1
            run_length = 0
            elements = 0
            current = start
            v = flat[current]
            while v != OUTSIDE_BOX:
                if v >= 0:
                    elements += 1
                    if v == run_level:
                        run_length += 1
                    else:
                        if run_level >= 0:
                            counts[run_level, run_length - 1] += 1.0
                        run_level = v
                        run_length = 1
                elif run_level >= 0:
                    counts[run_level, run_length - 1] += 1.0
                    run_level = -1
                current += step
                v = flat[np.uint64(current)]
            if run_level >= 0:
                counts[run_level, run_length - 1] += 1.0
            if elements > 1:
                several = True
        if zero_flat and not several:
            counts[:, :] = 0.0


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
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    n_runs = max(levels.shape)
    out = np.zeros((angles.shape[0], n_levels, n_runs), dtype=np.float64)
    # A border as wide as the longest step: every step from a box voxel lands in the box or the border.
    pad = max(1, int(np.abs(angles).max()) if angles.size else 1)
    padded = np.pad(levels, pad, constant_values=OUTSIDE_BOX)
    strides = np.array(padded.strides, dtype=np.int64) // padded.itemsize
    _glrlm_kernel(padded.ravel(), angles @ strides, bool(zero_flat_angles), out)
    return out


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
    g = grey_levels
    pr = np.empty(n_len)
    pg = np.empty(n_levels)
    for b in range(n_batch):
        for a in range(n_angles):
            p = p_all[b, a]
            nr = n_runs[b, a]
            pr[:] = 0.0
            pg[:] = 0.0
            sre = 0.0
            lre = 0.0
            lglre = 0.0
            hglre = 0.0
            srlgle = 0.0
            srhgle = 0.0
            lrlgle = 0.0
            lrhgle = 0.0
            entropy = 0.0
            for i in range(n_levels):
                for r in range(n_len):
                    v = p[i, r]
                    j = r + 1.0
                    pr[r] += v
                    pg[i] += v
                    srlgle += v / (g[i] ** 2 * j**2)
                    srhgle += v * g[i] ** 2 / j**2
                    lrlgle += v * j**2 / g[i] ** 2
                    lrhgle += v * (j**2 * g[i] ** 2)
                    pn = v / nr
                    entropy -= pn * np.log2(pn + EPS)
            gln = 0.0
            u_i = 0.0
            for i in range(n_levels):
                gln += pg[i] ** 2
                lglre += pg[i] / g[i] ** 2
                hglre += pg[i] * g[i] ** 2
                u_i += pg[i] / nr * g[i]
            glv = 0.0
            for i in range(n_levels):
                glv += pg[i] / nr * (g[i] - u_i) ** 2
            rln = 0.0
            n_p = 0.0
            u_j = 0.0
            for r in range(n_len):
                j = r + 1.0
                sre += pr[r] / j**2
                lre += pr[r] * j**2
                rln += pr[r] ** 2
                n_p += pr[r] * j
                u_j += pr[r] / nr * j
            rv = 0.0
            for r in range(n_len):
                rv += pr[r] / nr * (r + 1.0 - u_j) ** 2
            row = out[b, a]
            row[0] = sre / nr
            row[1] = lre / nr
            row[2] = gln / nr
            row[3] = gln / nr**2
            row[4] = rln / nr
            row[5] = rln / nr**2
            row[6] = nr / n_p
            row[7] = glv
            row[8] = rv
            row[9] = entropy
            row[10] = lglre / nr
            row[11] = hglre / nr
            row[12] = srlgle / nr
            row[13] = srhgle / nr
            row[14] = lrlgle / nr
            row[15] = lrhgle / nr


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

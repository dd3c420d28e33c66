r"""Grey Level Co-occurrence Matrix (GLCM): matrix kernel and feature formulas, PyRadiomics-exact.

Axis order: ``glcm[b, a, i, j]`` = batch (ROI), angle, grey level of the centre voxel, grey level of the
neighbour at offset ``angles[a]``. Grey levels are the *compact* indices 0..Ng-1 of the levels present in
the ROI; ``grey_levels[i]`` holds the real (discretised) level value used by the formulas, exactly as
PyRadiomics drops absent levels from the matrix but keeps the real values in its formulas.

Input image convention for every matrix kernel: an int32 array ``levels`` (z, y, x) holding the compact
grey-level index inside the ROI and ``-1`` outside it.

(A little over 500 lines: the matrix kernel, the 23 formulas with their table, and MCC's fast and
PyRadiomics paths are one family, read together.)
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from ._inputs import matrix_inputs
from .aggregation import nanmean_angles, nanmean_last
from .glcm_formulas import EPS, householder_tridiagonal, matrix_features, tridiagonal_kth_eigenvalue

#: Feature names (PyRadiomics spelling) in the column order of :func:`glcm_features`.
FEATURE_NAMES = (
    "Autocorrelation",
    "JointAverage",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "JointEnergy",
    "JointEntropy",
    "Imc1",
    "Imc2",
    "Idm",
    "Idmn",
    "Id",
    "Idn",
    "InverseVariance",
    "MaximumProbability",
    "SumAverage",
    "SumEntropy",
    "SumSquares",
)
#: Computed from the eigenvalues of Q (see :func:`maximal_correlation_coefficient`).
MCC_NAME = "MCC"

#: name -> (IBSI tag or None, formula (LaTeX), meaning). p(i, j): normalised co-occurrence, grey levels i, j;
#: p_{x+y}, p_{x-y}: sum and absolute-difference marginals; mu: mean; H: entropies; N_g: highest grey level.
FORMULAS = {
    "Autocorrelation": ("cm_auto_corr", r"\sum_i\sum_j p(i,j)\,ij", "coarseness: magnitude of fine texture"),
    "JointAverage": ("cm_joint_avg", r"\mu_x=\sum_i\sum_j p(i,j)\,i", "mean grey level of the pairs"),
    "ClusterProminence": (
        "cm_clust_prom",
        r"\sum_i\sum_j (i+j-\mu_x-\mu_y)^4 p(i,j)",
        "skewness of the GLCM",
    ),
    "ClusterShade": ("cm_clust_shade", r"\sum_i\sum_j (i+j-\mu_x-\mu_y)^3 p(i,j)", "asymmetry of the GLCM"),
    "ClusterTendency": (
        "cm_clust_tend",
        r"\sum_i\sum_j (i+j-\mu_x-\mu_y)^2 p(i,j)",
        "grouping of similar levels",
    ),
    "Contrast": ("cm_contrast", r"\sum_i\sum_j (i-j)^2 p(i,j)", "local intensity variation"),
    "Correlation": (
        "cm_corr",
        r"\frac{\sum_i\sum_j p(i,j)(i-\mu_x)(j-\mu_y)}{\sigma_x\sigma_y}",
        "linear dependence of neighbour levels (1 when a level is constant)",
    ),
    "DifferenceAverage": ("cm_diff_avg", r"\sum_k k\,p_{x-y}(k)", "mean level difference"),
    "DifferenceEntropy": (
        "cm_diff_entr",
        r"-\sum_k p_{x-y}(k)\log_2(p_{x-y}(k)+\epsilon)",
        "randomness of differences",
    ),
    "DifferenceVariance": ("cm_diff_var", r"\sum_k (k-DA)^2 p_{x-y}(k)", "heterogeneity of differences"),
    "JointEnergy": ("cm_energy", r"\sum_i\sum_j p(i,j)^2", "homogeneous patterns (angular second moment)"),
    "JointEntropy": (
        "cm_joint_entr",
        r"-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)",
        "randomness of the pairs",
    ),
    "Imc1": ("cm_info_corr1", r"\frac{HXY-HXY1}{\max(HX,HY)}", "informational measure of correlation 1"),
    "Imc2": ("cm_info_corr2", r"\sqrt{1-e^{-2(HXY2-HXY)}}", "informational measure of correlation 2"),
    "Idm": ("cm_inv_diff_mom", r"\sum_k \frac{p_{x-y}(k)}{1+k^2}", "local homogeneity"),
    "Idmn": ("cm_inv_diff_mom_norm", r"\sum_k \frac{p_{x-y}(k)}{1+(k/N_g)^2}", "normalised IDM"),
    "Id": ("cm_inv_diff", r"\sum_k \frac{p_{x-y}(k)}{1+k}", "local homogeneity"),
    "Idn": ("cm_inv_diff_norm", r"\sum_k \frac{p_{x-y}(k)}{1+k/N_g}", "normalised ID"),
    "InverseVariance": ("cm_inv_var", r"\sum_{k\ge1} \frac{p_{x-y}(k)}{k^2}", "weight of small differences"),
    "MaximumProbability": ("cm_joint_max", r"\max p(i,j)", "most frequent pair"),
    "SumAverage": ("cm_sum_avg", r"\sum_k k\,p_{x+y}(k)", "mean of level sums"),
    "SumEntropy": (
        "cm_sum_entr",
        r"-\sum_k p_{x+y}(k)\log_2(p_{x+y}(k)+\epsilon)",
        "randomness of level sums",
    ),
    "SumSquares": ("cm_joint_var", r"\sum_i\sum_j (i-\mu_x)^2 p(i,j)", "spread of levels around the mean"),
    "MCC": (
        None,
        r"\sqrt{\lambda_2(Q)},\ Q(i,j)=\sum_k\frac{p(i,k)p(j,k)}{p_x(i)p_y(k)}",
        "maximal correlation",
    ),
}


@njit(**JIT_PARALLEL)
def _glcm_kernel(levels, angles, out):
    """Count co-occurrences; one angle per thread, so no two threads write the same slice of ``out``."""
    n_z, n_y, n_x = levels.shape
    for a in prange(angles.shape[0]):
        dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
        z0, z1 = max(0, -dz), min(n_z, n_z - dz)
        y0, y1 = max(0, -dy), min(n_y, n_y - dy)
        x0, x1 = max(0, -dx), min(n_x, n_x - dx)
        counts = out[a]
        # Unsigned indices: Numba then skips its negative-index wraparound code in the hot loop (about 2x).
        for z in range(z0, z1):
            zu, nzu = np.uint64(z), np.uint64(z + dz)
            for y in range(y0, y1):
                yu, nyu = np.uint64(y), np.uint64(y + dy)
                for x in range(x0, x1):
                    i = levels[zu, yu, np.uint64(x)]
                    if i >= 0:
                        j = levels[nzu, nyu, np.uint64(x + dx)]
                        if j >= 0:
                            counts[np.uint64(i), np.uint64(j)] += 1.0


def glcm_matrix(levels, angles, n_levels):
    """Raw (asymmetric, unnormalised) co-occurrence counts, one matrix per angle.

    Parameters
    ----------
    levels : numpy.ndarray
        int32 (z, y, x): compact grey-level index inside the ROI, -1 outside.
    angles : numpy.ndarray
        int64 (n_angles, 3) offsets from :func:`spinerad.kernels.angles.generate_angles`.
    n_levels : int
        Number of grey levels present in the ROI.

    Returns
    -------
    numpy.ndarray
        float64 (n_angles, n_levels, n_levels) of exact integer counts.
    """
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    out = np.zeros((angles.shape[0], n_levels, n_levels), dtype=np.float64)
    _glcm_kernel(levels, angles, out)
    return out


def prepare_glcm(counts, symmetrical=True, angle_weights=None):
    """PyRadiomics' matrix options: symmetrise, weight-and-merge, drop empty angles, normalise.

    Parameters
    ----------
    counts : numpy.ndarray
        (n_angles, Ng, Ng) raw counts.
    symmetrical : bool
        Add the transpose (``symmetricalGLCM``).
    angle_weights : numpy.ndarray or None
        Per-angle weights (``weightingNorm``); when given, the angles are summed into one matrix.

    Returns
    -------
    numpy.ndarray
        (1, n_kept_angles, Ng, Ng) probabilities, with a leading batch axis of one ROI. An angle whose
        matrix is empty is dropped when there are several; a lone empty matrix becomes NaN.
    """
    if angle_weights is None and counts.ndim == 3 and counts.dtype == np.float64:
        fused = _prepare_integer_counts(counts, symmetrical)
        if fused is not None:
            return fused
    p = counts
    if symmetrical:
        p = p + np.transpose(p, (0, 2, 1))
    if angle_weights is not None:
        p = np.tensordot(angle_weights, p, axes=(0, 0))[None]
    sums = p.sum(axis=(1, 2))
    if p.shape[0] > 1:
        keep = sums != 0
        p, sums = p[keep], sums[keep]
    sums = np.where(sums == 0, np.nan, sums)
    return (p / sums[:, None, None])[None]


#: Sums of float64 integers stay exact below this (2^53), whatever the order of the additions.
_EXACT_INTEGERS = 2.0**53


def _prepare_integer_counts(counts, symmetrical):
    """:func:`prepare_glcm` without weights in one pass and one array, when ``counts`` are whole numbers.

    Whole counts make every sum exact in float64 (below 2^53), so the total of ``c + c.T`` is twice that of
    ``c`` and each cell ``(c[i, j] + c[j, i]) / total`` is the very division NumPy does: the same bits
    without NumPy's three temporaries (the matrices are made once per derived image). None: not whole counts.
    """
    totals = np.empty(counts.shape[0])
    if not _count_totals(counts, totals):
        return None
    if symmetrical:
        totals = 2.0 * totals
    keep = np.arange(counts.shape[0])
    if counts.shape[0] > 1:
        keep = keep[totals != 0]
    out = np.empty((1, len(keep), counts.shape[1], counts.shape[2]))
    _normalise_counts(counts, keep, np.where(totals == 0, np.nan, totals), symmetrical, out[0])
    return out


@njit(**JIT)
def _count_totals(counts, totals):
    """Each matrix's total into ``totals``; False unless every count is a whole number >= 0, totals exact."""
    for a in range(counts.shape[0]):
        total = 0.0
        for i in range(counts.shape[1]):
            for j in range(counts.shape[2]):
                c = counts[a, i, j]
                if c < 0.0 or c != math.floor(c):  # (also NaN and infinities): not counts
                    return False
                total += c
        if not total < _EXACT_INTEGERS / 2:  # (the symmetric total is twice this)
            return False
        totals[a] = total
    return True


@njit(**JIT)
def _normalise_counts(counts, keep, totals, symmetrical, out):
    for k in range(keep.shape[0]):
        a = keep[k]
        total = totals[a]
        for i in range(counts.shape[1]):
            for j in range(counts.shape[2]):
                if symmetrical:
                    out[k, i, j] = (counts[a, i, j] + counts[a, j, i]) / total
                else:
                    out[k, i, j] = counts[a, i, j] / total


@njit(**JIT_PARALLEL)
def _glcm_feature_kernel(p_all, grey_levels, ng_max, symmetric, out, entropy_div):
    """The features of every (ROI, angle) matrix; one matrix per task, each with its own marginals.

    The formulas are :func:`spinerad.kernels.glcm_formulas.matrix_features` (one source for the per-ROI class,
    the per-voxel maps and their CUDA twins), cell by cell; ``symmetric`` (a ``symmetricalGLCM`` matrix,
    exactly symmetric) takes each logarithm once per cell pair. ``entropy_div`` gets Imc1's divisor
    max(HX, HY) (see :func:`_entropy_terms_settled`).
    """
    n_batch, n_angles, n_levels, _ = p_all.shape
    for task in prange(n_batch * n_angles):
        b = task // n_angles
        a = task % n_angles
        px = np.empty(n_levels)
        py = np.empty(n_levels)
        p_sum = np.zeros(2 * ng_max - 1)
        p_diff = np.zeros(ng_max)
        matrix_features(
            p_all[b, a], n_levels, grey_levels, ng_max, symmetric, px, py, p_sum, p_diff, out[b, a]
        )
        hx = 0.0
        hy = 0.0
        for i in range(n_levels):  # the marginals matrix_features left in its scratch
            if px[i] != 0.0:
                hx -= px[i] * math.log2(px[i] + EPS)
            if py[i] != 0.0:
                hy -= py[i] * math.log2(py[i] + EPS)
        entropy_div[b, a] = max(hx, hy)


#: Below these, :func:`glcm_features` takes HXY, Imc1 and Imc2 from :func:`entropy_terms_like_pyradiomics`.
#: Imc2 = sqrt(1 - exp(-2 (HXY2 - HXY))) and Imc1 = (HXY - HXY1) / max(HX, HY) are differences of entropy
#: sums (each <= log2(Ng^2) <= 16 bits) whose rounding depends on the summation order, by at most
#: Ng^2 * 2.2e-16 * 16 < 3e-10 for Ng <= 256 (typically 1e-15). Above the floors (HXY2 - HXY >= 0.011,
#: |HXY - HXY1| >= 0.01, max(HX, HY) >= 0.05) that moves the features by less than 1e-8 relative in the
#: worst case and by about 1e-13 in practice, inside the exact paths' 1e-10 bar (**measured: <= 3.7e-13
#: relative** per angle over 6,000 random ROI matrices of 2-80 levels, symmetric or not, 95 % of them above
#: the floors; tested at 1e-10 in ``tests/kernels/test_glcm.py`` and against the live oracle); below them
#: (near-constant ROIs, where PyRadiomics' own rounding decides between 0, NaN and a small value)
#: PyRadiomics' reductions are repeated exactly.
IMC2_SETTLED = 0.15
IMC1_NUMERATOR_SETTLED = 0.01
ENTROPY_DIV_SETTLED = 0.05


def _entropy_terms_settled(out, entropy_div):
    """Whether every angle's Imc1 and Imc2 are far enough from their rounding-decided corners."""
    imc1 = out[:, :, FEATURE_NAMES.index("Imc1")]
    imc2 = out[:, :, FEATURE_NAMES.index("Imc2")]
    with np.errstate(invalid="ignore"):
        return bool(
            np.all(imc2 >= IMC2_SETTLED)
            and np.all(entropy_div >= ENTROPY_DIV_SETTLED)
            and np.all(np.abs(imc1 * entropy_div) >= IMC1_NUMERATOR_SETTLED)
        )


def glcm_features(p, grey_levels, ng_max, reference_layout=False, symmetric=False):
    r"""All GLCM features per ROI and angle (no averaging).

    Parameters
    ----------
    p : numpy.ndarray
        (n_batch, n_angles, Ng, Ng) normalised matrices from :func:`prepare_glcm`.
    grey_levels : numpy.ndarray
        (Ng,) real grey-level values of the compact indices.
    ng_max : int
        Highest grey level in the ROI (PyRadiomics' ``Ng``), used by the sum/difference marginals and by
        IDMN and IDN.
    reference_layout : bool
        See :func:`entropy_terms_like_pyradiomics`.
    symmetric : bool
        Every matrix is exactly symmetric (``prepare_glcm(..., symmetrical=True)`` without angle weights):
        half the logarithms.

    Returns
    -------
    numpy.ndarray
        (n_batch, n_angles, len(FEATURE_NAMES)); aggregate with :func:`aggregate`.

    Notes
    -----
    With :math:`p_{x+y}(k)=\sum_{i+j=k}p(i,j)` and :math:`p_{x-y}(k)=\sum_{|i-j|=k}p(i,j)`, e.g.
    Contrast :math:`=\sum_i\sum_j (i-j)^2 p(i,j)` (IBSI ``cm_contrast``), Joint entropy
    :math:`=-\sum_i\sum_j p(i,j)\log_2(p(i,j)+\epsilon)` (IBSI ``cm_joint_entr``). Every feature's formula,
    IBSI tag and meaning is in :data:`FORMULAS`. HXY, Imc1 and Imc2 come from the same pass unless an angle
    is near their rounding-decided corners (see :data:`IMC2_SETTLED`).
    """
    out = np.empty((p.shape[0], p.shape[1], len(FEATURE_NAMES)), dtype=np.float64)
    entropy_div = np.empty(p.shape[:2])
    _glcm_feature_kernel(
        np.ascontiguousarray(p, dtype=np.float64),
        np.asarray(grey_levels, dtype=np.float64),
        int(ng_max),
        bool(symmetric),
        out,
        entropy_div,
    )
    if not _entropy_terms_settled(out, entropy_div):
        hxy, imc1, imc2 = entropy_terms_like_pyradiomics(p, reference_layout)
        out[:, :, FEATURE_NAMES.index("JointEntropy")] = hxy
        out[:, :, FEATURE_NAMES.index("Imc1")] = imc1
        out[:, :, FEATURE_NAMES.index("Imc2")] = imc2
    return out


@njit(**JIT)
def _marginals(p, px, py):
    """Row and column sums of ``p`` into ``px`` and ``py`` (in PyRadiomics' summation order)."""
    px[:] = 0.0
    py[:] = 0.0
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            px[i] += p[i, j]
            py[j] += p[i, j]


@njit(**JIT)
def _mcc_q_kernel(p_all, out):
    """Q of every matrix as PyRadiomics 3.0.1 writes it, rounding included.

    ``Q(i, j) = sum_k p(i, k) p(j, k) / (px(i) py(k) + eps)``, summed in k order, each term the product first
    and then the division (as its code does): where the true second eigenvalue is 0 (a rank-deficient
    angle) PyRadiomics reports the square root of rounding noise, or NaN, and only the same roundings give
    the same noise (dividing first differed in 113 of 12,000 random ROIs, by up to 1/13 of the mean).
    """
    n_batch, n_angles, n, _ = p_all.shape
    px = np.empty(n)
    py = np.empty(n)
    denominator = np.empty((n, n))
    p_t = np.empty((n, n))
    acc = np.empty(n)
    for b in range(n_batch):
        for a in range(n_angles):
            p = p_all[b, a]
            _marginals(p, px, py)
            for i in range(n):
                for k in range(n):
                    denominator[i, k] = px[i] * py[k] + EPS
                    p_t[k, i] = p[i, k]
            q = out[b, a]
            # row i accumulates over k in ascending order while the inner loop runs over j (vectorised)
            for i in range(n):
                acc[:] = 0.0
                for k in range(n):
                    p_ik = p[i, k]
                    den = denominator[i, k]
                    for j in range(n):
                        acc[j] += (p_ik * p_t[k, j]) / den
                q[i] = acc


#: Below this second eigenvalue (MCC < 1e-3) :func:`maximal_correlation_coefficient` takes PyRadiomics' own
#: path: a rank-deficient angle's true value is 0, and PyRadiomics reports the square root of LAPACK's
#: rounding noise there (or NaN, which its nanmean then drops), which only the same computation reproduces.
MCC_SYMMETRIC_FLOOR = 1e-6


@njit(**JIT_PARALLEL)
def _mcc_symmetric_kernel(p_all, second):
    r"""Second-largest eigenvalue of the symmetric part of :math:`D_x^{1/2} Q D_x^{-1/2}`, one matrix per task.

    With :math:`A = D_x^{-1/2} P D_y^{-1/2}` and :math:`C(i,k) = p_x(i)p_y(k) / (p_x(i)p_y(k)+\epsilon)`,
    PyRadiomics' :math:`Q` (eps in the denominator) is similar to :math:`S = (A \circ C) A^T`. S is reduced
    to tridiagonal form and its second-largest eigenvalue alone is found by Sturm bisection
    (:func:`spinerad.kernels.glcm_formulas.tridiagonal_kth_eigenvalue`; symmetric QL for all of them took
    ~2x longer), so ``second`` is always a number for finite input.
    """
    n_batch, n_angles, n, _ = p_all.shape
    for task in prange(n_batch * n_angles):
        p = p_all[task // n_angles, task % n_angles]
        px = np.empty(n)
        py = np.empty(n)
        _marginals(p, px, py)
        a = np.empty((n, n))
        b = np.empty((n, n))
        for i in range(n):
            # branch-free selects over a contiguous row (vectorised: the divisions and square roots of all
            # cells, rather than the branches around them, were most of this kernel's time)
            for k in range(n):
                pp = px[i] * py[k]
                cell = p[i, k] / np.sqrt(pp)
                scaled = cell * (pp / (pp + EPS))
                a[i, k] = cell if pp > 0 else 0.0
                b[i, k] = scaled if pp > 0 else 0.0
        a_t = np.empty((n, n))  # A transposed
        for i in range(n):
            for k in range(n):
                a_t[k, i] = a[i, k]
        # S = B A^T, row by row: s[i, j] accumulates over k in ascending order (zero terms add nothing) while
        # the inner loop runs over j, contiguous and independent (vectorised, no dependency chain); the row
        # is summed in a buffer of its own (no aliasing with the matrices the compiler must rule out).
        s = np.empty((n, n))
        row = np.empty(n)
        for i in range(n):
            row[:] = 0.0
            for k in range(n):
                bik = b[i, k]
                if bik != 0.0:
                    for j in range(n):
                        row[j] += bik * a_t[k, j]
            s[i] = row
        for i in range(n):
            for j in range(i):
                s[i, j] = s[j, i] = 0.5 * (s[i, j] + s[j, i])
        d = np.empty(n)
        householder_tridiagonal(s, n, d, px)
        second[task // n_angles, task % n_angles] = tridiagonal_kth_eigenvalue(d, px, n, n - 2)


def maximal_correlation_coefficient(p):
    r"""Maximal Correlation Coefficient per ROI (already aggregated over angles as PyRadiomics does).

    .. math:: Q(i,j)=\sum_k\frac{p(i,k)p(j,k)}{p_x(i)p_y(k)+\epsilon},\quad MCC=\sqrt{\lambda_2(Q)}

    :math:`\lambda_2` is the second-largest eigenvalue of Q (no IBSI tag: PyRadiomics-specific). The mean
    over angles ignores NaN; a ROI with a single grey level has MCC 1.

    PyRadiomics takes the general (non-symmetric) eigenvalues of Q. Here Q is first made similar to a matrix
    that is symmetric up to :math:`\epsilon`-sized terms, :math:`S = (A \circ C) A^T` (see
    :func:`_mcc_symmetric_kernel`), and the eigenvalues of S's symmetric part are taken instead, in Numba
    (Householder tridiagonalisation and Sturm bisection for the one eigenvalue, angles in parallel, no
    LAPACK). That moves the eigenvalue by second-order terms only:
    **measured deviation from PyRadiomics' computation <= 1.4e-11 relative** (twice 12,000 random ROIs of 2-60
    levels, symmetric or not, with and without ``weightingNorm``: 1.1e-11 with QL for every eigenvalue,
    1.33e-11 with the bisection for the one; the largest where the second eigenvalue
    is near :data:`MCC_SYMMETRIC_FLOOR` and PyRadiomics' own non-symmetric rounding dominates; the shared
    cases at bin widths 5-100, up to 274 levels: <= 1.1e-15), tested at the project's exact bar, 1e-10
    (``tests/kernels/test_glcm.py`` and the live-oracle tests). Dropping the :math:`\epsilon` (as a plain SVD
    of A does) would move
    MCC by up to 1e-6 on the IBSI CT phantom at bin width 5: rare level pairs have
    :math:`p_x p_y \approx 10^{-10}`. Where an angle's second eigenvalue is below
    :data:`MCC_SYMMETRIC_FLOOR` (or not a number), the ROI takes PyRadiomics' computation
    (:func:`mcc_like_pyradiomics`).
    """
    trivial = _mcc_without_eigenvalues(p)
    if trivial is not None:
        return trivial
    p = np.ascontiguousarray(p, dtype=np.float64)
    second = np.empty(p.shape[:2])
    _mcc_symmetric_kernel(p, second)
    if second.size and not np.all(second >= MCC_SYMMETRIC_FLOOR):
        return mcc_like_pyradiomics(p)
    return nanmean_last(np.sqrt(second))


def _mcc_without_eigenvalues(p):
    """MCC per ROI where no eigenvalue is needed, else None."""
    if not np.all(np.isfinite(p)):
        # LAPACK refuses non-finite input; PyRadiomics reports NaN for the feature then (before it looks
        # at the matrix size).
        return np.full(p.shape[0], np.nan)
    if p.shape[2] < 2:
        return np.ones(p.shape[0])
    return None


def mcc_like_pyradiomics(p):
    """MCC as PyRadiomics computes it: Q summed in its order, LAPACK's general eigenvalues, complex sqrt."""
    trivial = _mcc_without_eigenvalues(p)
    if trivial is not None:
        return trivial
    q = np.empty_like(p)
    _mcc_q_kernel(np.ascontiguousarray(p, dtype=np.float64), q)
    eig = np.linalg.eigvals(q)
    eig.sort()
    with np.errstate(invalid="ignore"):
        mcc = np.sqrt(eig[:, :, -2])
        return nanmean_last(mcc).real


def entropy_terms_like_pyradiomics(p, reference_layout=False):
    """HXY, Imc1 and Imc2 per ROI and angle with PyRadiomics' own NumPy reductions and memory layout.

    Imc2 takes ``sqrt(1 - exp(-2 (HXY2 - HXY)))``; when HXY2 - HXY is a rounding-level negative number the
    result is NaN and PyRadiomics' ``nanmean`` drops that direction. Whether that happens depends on the
    summation order, so these three terms are computed with the very same NumPy calls (pairwise sums over
    a (batch, Ng, Ng, angle) array) to be exact in that corner as well.

    ``reference_layout``: PyRadiomics' matrix is C-ordered, except when its ``numpy.delete`` calls had
    nothing to delete (no absent grey level, no empty angle, no weighting): then NumPy returns it with
    axes 1 and 2 swapped in memory, and the pairwise sums group differently. Set it in that case.

    Returns (hxy, imc1, imc2), each (n_batch, n_angles).
    """
    eps = EPS
    p4 = np.ascontiguousarray(np.moveaxis(p, 1, -1))  # (batch, Ng, Ng, angles), PyRadiomics' layout
    if reference_layout:
        p4 = np.ascontiguousarray(np.swapaxes(p4, 1, 2)).swapaxes(1, 2)
    px = p4.sum(2, keepdims=True)
    py = p4.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        hxy = -1 * np.sum(p4 * np.log2(p4 + eps), (1, 2))
        hx = -1 * np.sum(px * np.log2(px + eps), (1, 2))
        hy = -1 * np.sum(py * np.log2(py + eps), (1, 2))
        hxy1 = -1 * np.sum(p4 * np.log2(px * py + eps), (1, 2))
        div = np.fmax(hx, hy)
        imc1 = hxy - hxy1
        imc1[div != 0] /= div[div != 0]
        imc1[div == 0] = 0
        hxy2 = -1 * np.sum(px * py * np.log2(px * py + eps), (1, 2))
        imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
        imc2[hxy2 == hxy] = 0
    return hxy, imc1, imc2


def aggregate(per_angle):
    """Average per-angle features over angles as PyRadiomics does.

    ``nanmean`` for every feature except Joint Average, which PyRadiomics takes as a plain mean.
    Returns (n_batch, len(FEATURE_NAMES)).
    """
    values = nanmean_angles(per_angle)
    if per_angle.shape[1] == 0:
        return values
    joint_average = FEATURE_NAMES.index("JointAverage")
    values[:, joint_average] = per_angle[:, :, joint_average].mean(axis=1)
    return values

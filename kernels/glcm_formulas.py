r"""GLCM feature formulas of one normalised co-occurrence matrix, written once for the CPU and the GPU.

The bodies here are plain Python over arrays and scalars (``math`` functions only, no allocation), so the
same source compiles as a Numba CPU function (:func:`matrix_features`, :func:`symmetric_mcc`) and as a
CUDA device function (:data:`BODIES`, compiled for the GPU by :mod:`spinerad.kernels.gpu_voxel_glcm`).
The per-voxel maps call them per kernel and angle; the per-ROI
class (:mod:`spinerad.kernels.glcm`) evaluates the same definitions on dense ``Ng x Ng`` matrices.

Zero entries of ``p`` are skipped (they add exactly 0 to every sum, and ``0 * log2(0 + eps)`` is 0), so a
caller may pass the matrix over only the grey levels that occur. For a symmetric matrix the logarithms of
the cell pairs ``(i, j)`` and ``(j, i)`` are equal (``p``, the marginals and their products are bitwise
symmetric) and are taken once: the entropies then differ from a cell-by-cell sum only in rounding order.
"""

import math

from numba import njit

from ._config import JIT

EPS = 2.220446049250313e-16  #: numpy.spacing(1), PyRadiomics' epsilon in its logarithms


def features_tail_body(row, moments, spread, entropies, p_diff, p_sum, marginals, ng_max):
    """The features' common end: correlation, the p_{x-y} and p_{x+y} features, Imc1/Imc2, and ``row``.

    Shared by the dense pass (:func:`matrix_features_body`) and the voxel maps' sparse one
    (:func:`spinerad.kernels.voxel_glcm.cell_features_body`), which gather the same sums in different ways.
    ``moments``: (autocorrelation, joint average, cluster prominence, shade, tendency, contrast, energy,
    maximum probability); ``spread``: (sig_x, sig_y, cor_m), the second central moments (squared deviations)
    and the co-moment; ``entropies``: (HX, HY, HXY, HXY1, HXY2); ``marginals``: (diff_stop, sum_start,
    sum_stop): ``p_diff[:diff_stop]`` and ``p_sum[sum_start:sum_stop]`` hold the marginals (zeroed here).
    """
    autocorr, ux, prominence, shade, tendency, contrast, energy, max_p = moments
    sig_x, sig_y, cor_m = spread
    hx, hy, hxy, hxy1, hxy2 = entropies
    diff_stop, sum_start, sum_stop = marginals
    sum_squares = sig_x
    sig_x = sig_x**0.5
    sig_y = sig_y**0.5
    if sig_x * sig_y == 0:
        correlation = 1.0
    else:
        correlation = cor_m / (sig_x * sig_y + EPS)
    diff_avg = 0.0
    diff_ent = 0.0
    idm = 0.0
    idmn = 0.0
    id_ = 0.0
    idn = 0.0
    inv_var = 0.0
    for k in range(diff_stop):
        v = p_diff[k]
        if v == 0.0:
            continue
        diff_avg += k * v
        diff_ent -= v * math.log2(v + EPS)
        idm += v / (1 + k**2)
        idmn += v / (1 + k**2 / ng_max**2)
        id_ += v / (1 + k)
        idn += v / (1 + k / ng_max)
        if k > 0:
            inv_var += v / k**2
    diff_var = 0.0
    for k in range(diff_stop):
        v = p_diff[k]
        if v != 0.0:
            diff_var += v * (k - diff_avg) ** 2
            p_diff[k] = 0.0
    sum_avg = 0.0
    sum_ent = 0.0
    for k in range(sum_start, sum_stop):
        v = p_sum[k]
        if v != 0.0:
            sum_avg += (k + 2) * v
            sum_ent -= v * math.log2(v + EPS)
            p_sum[k] = 0.0
    div = max(hx, hy)
    imc1 = (hxy - hxy1) / div if div != 0 else 0.0
    if hxy2 == hxy:
        imc2 = 0.0
    else:
        imc2 = (1 - math.e ** (-2 * (hxy2 - hxy))) ** 0.5
    row[0] = autocorr
    row[1] = ux
    row[2] = prominence
    row[3] = shade
    row[4] = tendency
    row[5] = contrast
    row[6] = correlation
    row[7] = diff_avg
    row[8] = diff_ent
    row[9] = diff_var
    row[10] = energy
    row[11] = hxy
    row[12] = imc1
    row[13] = imc2
    row[14] = idm
    row[15] = idmn
    row[16] = id_
    row[17] = idn
    row[18] = inv_var
    row[19] = max_p
    row[20] = sum_avg
    row[21] = sum_ent
    row[22] = sum_squares


def matrix_features_body(p, n, g, ng_max, symmetric, px, py, p_sum, p_diff, row):
    """Compute the 23 GLCM features (:data:`spinerad.kernels.glcm.FEATURE_NAMES` order) of ``p[:n, :n]``.

    Parameters
    ----------
    p : float64 (>= n, >= n) normalised co-occurrences (may be all NaN: an empty matrix).
    n : number of grey levels (rows) used.
    g : float64 (>= n) real grey level of each row/column.
    ng_max : PyRadiomics' ``Ng``, the ROI's highest grey level (Idmn, Idn and the marginal lengths).
    symmetric : whether ``p`` is symmetric (its logarithms are then taken once per cell pair).
    px, py : float64 (>= n) scratch for the marginals.
    p_sum, p_diff : float64 (>= 2 Ng - 1), (>= Ng) scratch, all zero on entry and on return.
    row : float64 (>= 23) output.
    """
    g_lo = math.inf
    g_hi = -math.inf
    for i in range(n):
        px[i] = 0.0
        py[i] = 0.0
        g_lo = min(g_lo, g[i])
        g_hi = max(g_hi, g[i])
    # the marginals p_{x-y}, p_{x+y} are non-zero only between these indices: loop over them alone (a kernel's
    # few levels span a small part of 1..Ng; the sums keep their order, so the values are unchanged)
    diff_stop = min(int(g_hi - g_lo) + 1, ng_max) if n > 0 else 0
    sum_start = max(int(2 * g_lo) - 2, 0) if n > 0 else 0
    sum_stop = min(int(2 * g_hi) - 1, 2 * ng_max - 1) if n > 0 else 0
    ux = 0.0
    uy = 0.0
    autocorr = 0.0
    contrast = 0.0
    energy = 0.0
    max_p = -math.inf
    for i in range(n):
        for j in range(n):
            v = p[i, j]
            if math.isnan(v):
                max_p = v
            if v == 0.0:
                continue
            px[i] += v
            py[j] += v
            ux += g[i] * v
            uy += g[j] * v
            autocorr += v * (g[i] * g[j])
            d = abs(g[i] - g[j])
            contrast += v * d**2
            energy += v**2
            if v > max_p:
                max_p = v
            p_sum[int(g[i] + g[j]) - 2] += v
            p_diff[int(d)] += v
    prominence = 0.0
    shade = 0.0
    tendency = 0.0
    sig_x = 0.0
    sig_y = 0.0
    cor_m = 0.0
    for i in range(n):
        for j in range(n):
            v = p[i, j]
            if v == 0.0:
                continue
            s = (g[i] + g[j]) - ux - uy
            prominence += v * s**4
            shade += v * s**3
            tendency += v * s**2
            sig_x += v * (g[i] - ux) ** 2
            sig_y += v * (g[j] - uy) ** 2
            cor_m += v * (g[i] - ux) * (g[j] - uy)
    # the entropies: one logarithm of p(i, j) and one of px(i) py(j) per cell (per cell pair if symmetric)
    hxy = 0.0
    hxy1 = 0.0
    hxy2 = 0.0
    for i in range(n):
        for j in range(i if symmetric else 0, n):
            weight = 2.0 if symmetric and j > i else 1.0
            pxy = px[i] * py[j]
            if pxy == 0.0:
                continue
            log_pxy = math.log2(pxy + EPS)
            hxy2 -= weight * (pxy * log_pxy)
            v = p[i, j]
            if v != 0.0:
                hxy -= weight * (v * math.log2(v + EPS))
                hxy1 -= weight * (v * log_pxy)
    hx = 0.0
    hy = 0.0
    for i in range(n):
        if px[i] != 0.0:
            hx -= px[i] * math.log2(px[i] + EPS)
        if py[i] != 0.0 and not symmetric:
            hy -= py[i] * math.log2(py[i] + EPS)
    if symmetric:
        hy = hx  # py is px, summed in the same order
    moments = (autocorr, ux, prominence, shade, tendency, contrast, energy, max_p)
    spread = (sig_x, sig_y, cor_m)
    entropies = (hx, hy, hxy, hxy1, hxy2)
    marginals = (diff_stop, sum_start, sum_stop)
    features_tail(row, moments, spread, entropies, p_diff, p_sum, marginals, ng_max)


def householder_tridiagonal_body(a, n, d, e):
    """Reduce the symmetric ``a[:n, :n]`` to tridiagonal form with the same eigenvalues (to rounding).

    The diagonal goes into ``d[:n]``, the off-diagonal into ``e[:n-1]`` (``e[n-1]`` = 0); ``a`` is
    overwritten.

    Householder reflections on the full symmetric matrix (LAPACK's ``dsytd2``, column by column from the
    first). Keeping both triangles makes every inner loop run along a contiguous row, without sums to
    reassociate: the product with the reflector accumulates rows (``a`` is symmetric, so rows are its
    columns) and the rank-2 update is row by row (it keeps ``a`` bitwise symmetric: each cell pair gets the
    same two products). That vectorises: ~25 % faster than the textbook ``tred2`` (which walks columns) on a
    66-level ROI's matrices, whose eigenvalues it matches to ~1e-16.
    """
    # (indices run as offset + range(m) from 0: Numba then knows them non-negative and drops the wraparound
    # code that kept loops over range(i + 1, n) from vectorising)
    for i in range(n - 2):
        # reflector H = I - tau v v^T with H x = beta e_1 for x = a[i+1:, i] (= row i's tail, a symmetric)
        d[i] = a[i, i]
        m = n - i - 1
        o = i + 1
        alpha = a[i, o]
        sigma = 0.0
        for k in range(1, m):
            sigma += a[i, o + k] * a[i, o + k]
        if sigma == 0.0:  # x is beta e_1 already: H = I
            e[i] = alpha
            continue
        beta = math.sqrt(alpha * alpha + sigma)
        if alpha >= 0.0:
            beta = -beta  # (the sign that avoids cancellation in alpha - beta)
        tau = (beta - alpha) / beta
        scale = 1.0 / (alpha - beta)
        e[i] = beta
        a[i, o] = 1.0  # v (v_0 = 1) kept in row i, no longer needed
        for k in range(1, m):
            a[i, o + k] *= scale
        # p = tau A22 v as a sum of A22's rows (its columns), into e[i+1:] (free until step i+1)
        for k in range(m):
            e[o + k] = 0.0
        for c in range(m):
            vc = tau * a[i, o + c]
            for r in range(m):
                e[o + r] += vc * a[o + c, o + r]
        # w = p - (tau / 2) (p . v) v
        pv = 0.0
        for k in range(m):
            pv += e[o + k] * a[i, o + k]
        half = 0.5 * tau * pv
        for k in range(m):
            e[o + k] -= half * a[i, o + k]
        # A22 -= v w^T + w v^T
        for r in range(m):
            vr = a[i, o + r]
            wr = e[o + r]
            for c in range(m):
                a[o + r, o + c] -= vr * e[o + c] + wr * a[i, o + c]
    if n >= 2:
        d[n - 2] = a[n - 2, n - 2]
        e[n - 2] = a[n - 2, n - 1]
    d[n - 1] = a[n - 1, n - 1]
    e[n - 1] = 0.0


def tridiagonal_eigenvalues_body(a, n, d, e):
    """Eigenvalues of the symmetric ``a[:n, :n]`` into ``d[:n]`` (``a`` is overwritten, ``e`` scratch).

    :func:`householder_tridiagonal_body`, then the implicit QL algorithm in its root-free Pal-Walker-Kahan
    form (eigenvalues only, LAPACK's ``dsterf``). Hand-written because LAPACK's per-call overhead dominates
    for the few-level matrices of a kernel, called per angle and voxel, and because a CUDA thread has no
    LAPACK. Returns False if QL did not converge.
    """
    householder_tridiagonal(a, n, d, e)
    # QL with implicit shifts in its root-free form (Pal-Walker-Kahan, as LAPACK's dsterf): it works on the
    # squared off-diagonals and needs no square root per rotation, which made the QL sweeps ~2x dearer
    for i in range(n - 1):
        e[i] = e[i] * e[i]
    low = 0
    iterations = 0
    while low < n:
        m = low
        while m < n - 1:
            dd = abs(d[m]) + abs(d[m + 1])
            if e[m] <= EPS * EPS * dd * dd:  # |e_m| <= eps (|d_m| + |d_m+1|), squared
                e[m] = 0.0
                break
            m += 1
        if m == low:  # d[low] is an eigenvalue
            low += 1
            iterations = 0
            continue
        iterations += 1
        if iterations > 60:
            return False
        # Wilkinson shift from the leading 2 x 2 block
        root = math.sqrt(e[low])
        sigma = (d[low + 1] - d[low]) / (2.0 * root)
        r = math.sqrt(sigma * sigma + 1.0)  # |sigma| <= ~1e16 for these bounded matrices: no overflow
        sigma = d[low] - root / (sigma + (r if sigma >= 0.0 else -r))
        c = 1.0
        s = 0.0
        gamma = d[m] - sigma
        p = gamma * gamma
        for i in range(m - 1, low - 1, -1):
            bb = e[i]
            r = p + bb
            if i != m - 1:
                e[i + 1] = s * r
            old_c = c
            c = p / r
            s = bb / r
            old_gamma = gamma
            alpha = d[i]
            gamma = c * (alpha - sigma) - s * old_gamma
            d[i + 1] = old_gamma + (alpha - gamma)
            p = gamma * gamma / c if c != 0.0 else old_c * bb
        e[low] = s * p
        d[low] = sigma + gamma
    return True


def tridiagonal_kth_eigenvalue_body(d, e, n, k):
    """Return the ``k``-th smallest (from 0) eigenvalue of a symmetric tridiagonal matrix, by Sturm bisection.

    ``d[:n]`` is the diagonal, ``e[:n-1]`` the off-diagonal (neither is changed); LAPACK's ``dstebz``.
    For one eigenvalue this is cheaper than QL for all of them, whose rotations form one long chain of
    dependent divisions: each step here tests three points of the interval (three independent chains the
    CPU runs side by side) and keeps the quarter that holds the eigenvalue, until the interval is one
    rounding unit of its ends wide. As accurate as QL: the Sturm count of the computed sequence is the exact
    count of a matrix within a few rounding units of this one (Demmel, Dhillon and Ren, 1995), so the
    result is within ~n ulps of ``max |T|`` of the exact eigenvalue (tested against LAPACK).
    """
    if n == 1:
        return d[0]
    low = math.inf
    high = -math.inf
    largest_e = 0.0
    for i in range(n):
        radius = (abs(e[i - 1]) if i > 0 else 0.0) + (abs(e[i]) if i < n - 1 else 0.0)
        low = min(low, d[i] - radius)
        high = max(high, d[i] + radius)
        if i < n - 1:
            largest_e = max(largest_e, e[i] * e[i])
    pivmin = 2.2250738585072014e-308 * max(1.0, largest_e)
    norm = max(abs(low), abs(high))
    fudge = 2.1 * EPS * n * norm + 4.2 * pivmin  # (dstebz's widening of the Gershgorin interval)
    low -= fudge
    high += fudge
    for _ in range(200):  # (the width falls 4x a step: ~40 steps reach the rounding unit)
        width = high - low
        if width <= EPS * max(abs(low), abs(high)) or width <= pivmin:
            break
        x1 = low + 0.25 * width
        x2 = low + 0.5 * width
        x3 = low + 0.75 * width
        # the Sturm counts (LAPACK dlaebz) of the three points: how many eigenvalues are <= x
        q1 = d[0] - x1
        q2 = d[0] - x2
        q3 = d[0] - x3
        q1 = -pivmin if abs(q1) < pivmin else q1
        q2 = -pivmin if abs(q2) < pivmin else q2
        q3 = -pivmin if abs(q3) < pivmin else q3
        c1 = int(q1 <= 0.0)
        c2 = int(q2 <= 0.0)
        c3 = int(q3 <= 0.0)
        for i in range(1, n):
            e2 = e[i - 1] * e[i - 1]
            q1 = (d[i] - e2 / q1) - x1
            q2 = (d[i] - e2 / q2) - x2
            q3 = (d[i] - e2 / q3) - x3
            q1 = -pivmin if abs(q1) < pivmin else q1
            q2 = -pivmin if abs(q2) < pivmin else q2
            q3 = -pivmin if abs(q3) < pivmin else q3
            c1 += q1 <= 0.0
            c2 += q2 <= 0.0
            c3 += q3 <= 0.0
        if c1 > k:
            high = x1
        elif c2 > k:
            low = x1
            high = x2
        elif c3 > k:
            low = x2
            high = x3
        else:
            low = x3
    return 0.5 * (low + high)


def symmetric_mcc_body(p, n, d, u, q, s, w, order):
    r"""Maximal Correlation Coefficient of one symmetric normalised matrix ``p[:n, :n]`` (all rows used).

    .. math:: \text{MCC} = \sqrt{\lambda_2(Q)},\quad Q(i, j) = \sum_k \frac{p(i, k)\,p(j, k)}{p_x(i)\,p_y(k)}

    IBSI: not defined (PyRadiomics' ``MCC``); a measure of the complexity of the texture.

    For a symmetric GLCM, :math:`Q = D^{-1}PD^{-1}P` is similar to :math:`S^2` with the symmetric
    :math:`S = D^{-1/2}PD^{-1/2}`, whose largest eigenvalue is 1 with the unit eigenvector
    :math:`v = \sqrt{p_x}`. A Householder reflection sending ``v`` to the first axis splits that eigenvalue
    off (deflation); the MCC is the largest magnitude among the eigenvalues of the remaining
    ``(n - 1) x (n - 1)`` block: read directly for ``n <= 3``, else :func:`tridiagonal_eigenvalues_body`.
    Before any of that, a graph search over the non-zero cells answers the frequent case of a kernel's
    sparse matrix exactly: the eigenvalue 1 of S is repeated when the levels fall into several groups
    that never co-occur (disconnected), and -1 is an eigenvalue when every pair joins two alternating groups
    (bipartite); either way the MCC is 1.
    Exact up to rounding (~1e-15 absolute); PyRadiomics takes general eigenvalues of Q (plus eps in the
    denominator), so where the true value is 0 it reports the square root of rounding noise (~1e-8).

    ``d``, ``u``, ``q``, ``w``: float scratch (n); ``s``: scratch (n, n); ``order``: int scratch (n).
    NaN if QL does not converge.
    """
    if n < 2:
        return 0.0
    # two-colouring search: w holds each level's colour (-1 not reached yet), order the levels to visit
    for i in range(n):
        w[i] = -1.0
    w[0] = 0.0
    order[0] = 0
    top = 1
    reached = 1
    bipartite = True
    while top > 0:
        top -= 1
        i = order[top]
        for j in range(n):
            if p[i, j] != 0.0:
                if w[j] < 0.0:
                    w[j] = 1.0 - w[i]
                    order[top] = j
                    top += 1
                    reached += 1
                elif w[j] == w[i]:
                    bipartite = False
    if reached < n or bipartite:
        return 1.0
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += p[i, j]
        d[i] = total
    norm = 0.0
    for i in range(n):
        w[i] = 1.0 / math.sqrt(d[i])
        norm += d[i]
    norm = math.sqrt(norm)
    for i in range(n):
        for j in range(n):
            s[i, j] = p[i, j] * w[i] * w[j]
        u[i] = math.sqrt(d[i]) / norm  # the unit eigenvector of eigenvalue 1
    return deflated_mcc(s, n, d, u, q, w)


def deflated_mcc_body(s, n, d, u, q, w):
    r"""The MCC from :math:`S = D^{-1/2}PD^{-1/2}` (``s[:n, :n]``, ``n >= 2``) and its unit eigenvector ``u``.

    The second half of :func:`symmetric_mcc_body` (after its graph search): ``u[:n]`` is
    :math:`\sqrt{p_x}` normalised to unit length; ``s``, ``u`` are overwritten, ``d``, ``q``, ``w`` scratch (n).
    """
    # reflector H = I - beta u u^T with H v = -e_1 (v_0 > 0: no cancellation in u_0 = v_0 + 1)
    u[0] += 1.0
    beta = 1.0 / u[0]
    k = 0.0
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += s[i, j] * u[j]
        q[i] = beta * total
        k += u[i] * q[i]
    k *= 0.5 * beta
    for i in range(n):
        q[i] -= k * u[i]
    # trailing block of H S H = S - u q^T - q u^T, moved to the top-left corner
    m = n - 1
    for i in range(m):
        for j in range(m):
            s[i, j] = s[i + 1, j + 1] - u[i + 1] * q[j + 1] - q[i + 1] * u[j + 1]
    if m == 1:
        return abs(s[0, 0])
    if m == 2:
        half_sum = 0.5 * (s[0, 0] + s[1, 1])
        half_diff = 0.5 * (s[0, 0] - s[1, 1])
        b = 0.5 * (s[0, 1] + s[1, 0])
        return abs(half_sum) + math.sqrt(half_diff * half_diff + b * b)
    if not tridiagonal_eigenvalues(s, m, w, d):
        return math.nan
    largest = 0.0
    for i in range(m):
        largest = max(largest, abs(w[i]))
    return largest


features_tail = njit(**JIT)(features_tail_body)
matrix_features = njit(**JIT)(matrix_features_body)
householder_tridiagonal = njit(**JIT)(householder_tridiagonal_body)
tridiagonal_eigenvalues = njit(**JIT)(tridiagonal_eigenvalues_body)
tridiagonal_kth_eigenvalue = njit(**JIT)(tridiagonal_kth_eigenvalue_body)
deflated_mcc = njit(**JIT)(deflated_mcc_body)
symmetric_mcc = njit(**JIT)(symmetric_mcc_body)

#: The bodies by the names the compiled functions carry, callees first (for a GPU twin: see
#: :func:`spinerad.kernels.voxel_common.retarget`).
BODIES = (
    ("features_tail", features_tail_body),
    ("matrix_features", matrix_features_body),
    ("householder_tridiagonal", householder_tridiagonal_body),
    ("tridiagonal_eigenvalues", tridiagonal_eigenvalues_body),
    ("deflated_mcc", deflated_mcc_body),
    ("symmetric_mcc", symmetric_mcc_body),
)

__all__ = [
    "BODIES",
    "EPS",
    "deflated_mcc",
    "features_tail",
    "householder_tridiagonal",
    "matrix_features",
    "symmetric_mcc",
    "tridiagonal_eigenvalues",
    "tridiagonal_kth_eigenvalue",
]

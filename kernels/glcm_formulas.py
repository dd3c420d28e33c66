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


def tridiagonal_eigenvalues_body(a, n, d, e):
    """Eigenvalues of the symmetric ``a[:n, :n]`` into ``d[:n]`` (``a`` is overwritten, ``e`` scratch).

    Householder reduction to tridiagonal form (the textbook ``tred2``), then the implicit QL algorithm in
    its root-free Pal-Walker-Kahan form (eigenvalues only, LAPACK's ``dsterf``). Hand-written because
    LAPACK's per-call overhead dominates for the few-level matrices of a kernel, called per angle and voxel,
    and because a CUDA thread has no LAPACK.
    Returns False if QL did not converge.
    """
    for i in range(n - 1, 0, -1):
        low = i - 1
        h = 0.0
        scale = 0.0
        if low > 0:
            for k in range(i):
                scale += abs(a[i, k])
            if scale == 0.0:
                e[i] = a[i, low]
            else:
                for k in range(i):
                    a[i, k] /= scale
                    h += a[i, k] * a[i, k]
                f = a[i, low]
                g = -math.sqrt(h) if f >= 0.0 else math.sqrt(h)
                e[i] = scale * g
                h -= f * g
                a[i, low] = f - g
                f = 0.0
                for j in range(i):
                    g = 0.0
                    for k in range(j + 1):
                        g += a[j, k] * a[i, k]
                    for k in range(j + 1, i):
                        g += a[k, j] * a[i, k]
                    e[j] = g / h
                    f += e[j] * a[i, j]
                hh = f / (h + h)
                for j in range(i):
                    f = a[i, j]
                    g = e[j] - hh * f
                    e[j] = g
                    for k in range(j + 1):
                        a[j, k] -= f * e[k] + g * a[i, k]
        else:
            e[i] = a[i, low]
    e[0] = 0.0
    for i in range(n):
        d[i] = a[i, i]
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
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


matrix_features = njit(**JIT)(matrix_features_body)
tridiagonal_eigenvalues = njit(**JIT)(tridiagonal_eigenvalues_body)
symmetric_mcc = njit(**JIT)(symmetric_mcc_body)

#: The bodies by the names the compiled functions carry, callees first (for a GPU twin: see
#: :func:`spinerad.kernels.voxel_common.retarget`).
BODIES = (
    ("matrix_features", matrix_features_body),
    ("tridiagonal_eigenvalues", tridiagonal_eigenvalues_body),
    ("symmetric_mcc", symmetric_mcc_body),
)

__all__ = ["BODIES", "EPS", "matrix_features", "symmetric_mcc", "tridiagonal_eigenvalues"]

"""Eigenvalues of small symmetric matrices in Numba, for MCC per ROI and per voxel (no LAPACK threads).

One solver of every eigenvalue (Householder tridiagonalisation + implicit QL, :func:`spinerad.kernels.
glcm_formulas.tridiagonal_eigenvalues_body`), written once for the CPU and the GPU. Hand-written because
LAPACK's per-call overhead dominates for the 2..160-level matrices of MCC (13 angles per ROI or per voxel),
because LAPACK runs on the BLAS library's own threads, which fight the Numba and extraction threads for the
cores (a 66-level ROI's MCC took 10x longer with 2 OpenBLAS threads on a busy 2-core machine), and because
a CUDA thread has no LAPACK.

MCC needs only the largest magnitude among the eigenvalues of its deflated matrix (the spectral radius).
:func:`spectral_radius_body` finds just the two extreme eigenvalues of the tridiagonal form, by Laguerre's
iteration on the characteristic polynomial (cubically convergent, and monotone from outside the spectrum
for a polynomial with real roots only), instead of every eigenvalue by QL: on the voxel maps' kernels the
QL sweeps were ~70 % of MCC's eigenvalue time. Its tridiagonalisation works on the full symmetric matrix
with rank-2 updates along contiguous rows (the textbook ``tred2`` above walks columns).
"""

import math

from numba import njit

from ._config import JIT
from .glcm_formulas import (
    EPS,
    householder_tridiagonal,
    householder_tridiagonal_body,
    tridiagonal_eigenvalues_body,
)
from .glcm_formulas import tridiagonal_eigenvalues as _symmetric_eigenvalues

#: Laguerre steps before an extreme eigenvalue falls back to bisection (a cluster converges linearly).
MAX_LAGUERRE = 40
#: Up to this size QL's every eigenvalue is cheaper than two Laguerre searches (measured: 3 x 3 283 vs
#: 412 ns, 4 x 4 388 vs 459 ns, 6 x 6 959 vs 745 ns, 12 x 12 3.7 vs 2.3 us, 24 x 24 14.8 vs 9.8 us).
QL_UP_TO = 4
#: After a Laguerre step under this (relative to the matrix's scale), two Sturm counts test whether the
#: extreme eigenvalue is already within the tolerance, instead of one more Laguerre step to confirm it
#: (measured: the GLCM maps ~3-4 % faster at kernelRadius 2 on lung2, on a loaded machine).
EARLY_STOP = 1e-5


def eigenvalues_below_body(d, e2, n, x, pivmin):
    """Sturm count: how many eigenvalues of the tridiagonal (``d``, squared off-diagonal ``e2``) lie below ``x``.

    The number of negative pivots of :math:`LDL^T = T - xI` (a pivot under ``pivmin`` in magnitude is taken
    as ``-pivmin``, as in LAPACK's ``dstebz``).
    """
    below = 0
    q = 1.0
    for i in range(n):
        q = d[i] - x - (e2[i - 1] / q if i > 0 else 0.0)
        if abs(q) < pivmin:
            q = -pivmin
        if q < 0.0:
            below += 1
    return below


def extreme_eigenvalue_body(d, e2, n, top, lo, hi):
    r"""The largest (``top``) or smallest eigenvalue of the tridiagonal matrix (``d``, squared off-diagonal ``e2``).

    ``[lo, hi]`` encloses the spectrum (Gershgorin). Laguerre's iteration on
    :math:`p(x) = \det(T - xI) = \prod_i q_i(x)`, :math:`q_i = d_i - x - e_{i-1}^2 / q_{i-1}` (the pivots
    of :math:`LDL^T`), with :math:`G = \sum_i q_i' / q_i` and :math:`H = \sum_i (q_i'/q_i)^2 - q_i''/q_i`,
    starts at the end of the enclosure and moves monotonically to the extreme root; it stops when a step
    falls under the rounding of the matrix (``4 eps`` of its scale), or earlier when the Sturm counts at
    ``x -+ tol`` put the extreme eigenvalue within ``tol`` of ``x`` (:data:`EARLY_STOP`). If it has not stopped after
    :data:`MAX_LAGUERRE` steps (a tight cluster), bisection on the Sturm count finishes from where it is.
    """
    if hi <= lo:
        return hi  # the enclosure is one point: a multiple of the identity
    scale = max(abs(lo), abs(hi))
    tol = 4.0 * EPS * scale
    pivmin = max(EPS * EPS * scale, 1e-290)  # a pivot this small is taken as this (LAPACK's pivmin)
    x = hi if top else lo
    converged = False
    for _ in range(MAX_LAGUERRE):
        q = d[0] - x
        if abs(q) < pivmin:
            q = -pivmin if top else pivmin
        r = 1.0 / q
        dq = -1.0
        ddq = 0.0
        g = -r
        h = r * r
        for i in range(1, n):
            a1 = dq * r  # q'_{i-1} / q_{i-1}
            b2 = ddq * r  # q''_{i-1} / q_{i-1}
            q = d[i] - x - e2[i - 1] * r
            if abs(q) < pivmin:
                q = -pivmin if top else pivmin
            dq = -1.0 + e2[i - 1] * a1 * r
            ddq = e2[i - 1] * r * (b2 - 2.0 * a1 * a1)
            r = 1.0 / q
            a1 = dq * r
            g += a1
            h += a1 * a1 - ddq * r
        root = math.sqrt(max((n - 1) * (n * h - g * g), 0.0))
        denominator = g + root if g >= 0.0 else g - root
        if denominator == 0.0:
            converged = True
            break
        step = n / denominator
        if top:
            step = max(step, 0.0)  # monotone from the right: never step back out
        else:
            step = min(step, 0.0)
        x -= step
        if abs(step) <= tol:
            converged = True
            break
        if abs(step) <= EARLY_STOP * scale:
            # a step this small leaves (cubic convergence) an error under the rounding if the root is
            # simple: two Sturm counts, cheaper than the confirming Laguerre step, tell whether the extreme
            # eigenvalue lies within tol of x
            inner = eigenvalues_below(d, e2, n, x - tol if top else x + tol, pivmin)
            outer = eigenvalues_below(d, e2, n, x + tol if top else x - tol, pivmin)
            if (inner < n and outer == n) if top else (inner > 0 and outer == 0):
                converged = True
                break
    if converged:
        return x
    # bisection on the Sturm count (eigenvalues below the shift) from the current bound
    a = lo if top else x
    b = x if top else hi
    while b - a > tol:
        mid = 0.5 * (a + b)
        below = eigenvalues_below(d, e2, n, mid, pivmin)
        if top:
            if below == n:
                b = mid
            else:
                a = mid
        elif below == 0:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def spectral_radius_body(a, n, d, e):
    """Largest eigenvalue magnitude of the symmetric ``a[:n, :n]`` (overwritten; ``d``, ``e`` scratch >= n)."""
    if n == 1:
        return abs(a[0, 0])
    householder_tridiagonal(a, n, d, e)
    lo = math.inf
    hi = -math.inf
    for i in range(n):
        radius = (abs(e[i - 1]) if i > 0 else 0.0) + (abs(e[i]) if i < n - 1 else 0.0)
        lo = min(lo, d[i] - radius)
        hi = max(hi, d[i] + radius)
    for i in range(n - 1):
        e[i] = e[i] * e[i]
    largest = extreme_eigenvalue(d, e, n, True, lo, hi)
    if largest >= 0.0:
        # the smallest eigenvalue matters only if one lies below -largest: one Sturm count tells (measured:
        # 3-4 % of the GLCM maps' time at kernelRadius 2)
        pivmin = max(EPS * EPS * max(abs(lo), abs(hi)), 1e-290)
        if eigenvalues_below(d, e, n, -largest, pivmin) == 0:
            return largest
    smallest = extreme_eigenvalue(d, e, n, False, lo, hi)
    return max(abs(largest), abs(smallest))


def spectral_radius_as_eigenvalues_body(a, n, d, e):
    """:func:`spectral_radius_body` in the calling convention of ``tridiagonal_eigenvalues_body``.

    For a caller that reads only the largest magnitude among ``d[:n]`` (MCC's
    :func:`spinerad.kernels.glcm_formulas.symmetric_mcc_body`): ``d[0]`` receives the spectral radius and
    ``d[1:n]`` zeros; up to :data:`QL_UP_TO` levels every eigenvalue by QL instead. Returns False where QL
    did not converge (Laguerre's iteration always ends, by bisection if need be).
    """
    if n <= QL_UP_TO:
        return ql_eigenvalues(a, n, d, e)
    rho = spectral_radius(a, n, d, e)
    for i in range(1, n):
        d[i] = 0.0
    d[0] = rho
    return True


eigenvalues_below = njit(**JIT)(eigenvalues_below_body)
extreme_eigenvalue = njit(**JIT)(extreme_eigenvalue_body)
spectral_radius = njit(**JIT)(spectral_radius_body)
ql_eigenvalues = _symmetric_eigenvalues

#: The bodies by the names they call each other, callees first (compiled by
#: :func:`spinerad.kernels.voxel_common.retarget` for the CPU and the GPU); the last one stands in for
#: ``tridiagonal_eigenvalues`` under MCC (see :mod:`spinerad.kernels.voxel_glcm`).
BODIES = (
    ("householder_tridiagonal", householder_tridiagonal_body),
    ("ql_eigenvalues", tridiagonal_eigenvalues_body),
    ("eigenvalues_below", eigenvalues_below_body),
    ("extreme_eigenvalue", extreme_eigenvalue_body),
    ("spectral_radius", spectral_radius_body),
    ("tridiagonal_eigenvalues", spectral_radius_as_eigenvalues_body),
)

__all__ = [
    "BODIES",
    "EARLY_STOP",
    "MAX_LAGUERRE",
    "QL_UP_TO",
    "_symmetric_eigenvalues",
    "eigenvalues_below",
    "extreme_eigenvalue",
    "spectral_radius",
]

"""The spectral radius behind the voxel maps' MCC: equal to LAPACK's eigenvalues (numpy.linalg.eigvalsh).

:func:`spinerad.kernels.symmetric_eigen.spectral_radius` (Householder tridiagonalisation + Laguerre's
iteration on the two extreme eigenvalues, bisection when Laguerre stalls) is exact up to rounding: held to
1e-12 of the matrix's scale against ``eigvalsh`` on random, clustered, repeated, sparse and diagonal
matrices of 1..40 rows.
"""

import numpy as np
import pytest
from numba import njit

from spinerad.kernels import symmetric_eigen
from spinerad.kernels.glcm_formulas import householder_tridiagonal
from spinerad.kernels.symmetric_eigen import QL_UP_TO, spectral_radius
from spinerad.kernels.voxel_common import retarget

TOL = 1e-12


def _matrix(rng, kind, n):
    """A symmetric test matrix of one of five shapes."""
    if kind == "dense":
        a = rng.standard_normal((n, n))
        return a + a.T
    if kind in ("clustered", "repeated_top"):
        basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
        values = np.round(rng.uniform(-1, 1, n), 1) if kind == "clustered" else rng.uniform(-0.5, 0.5, n)
        if kind == "repeated_top":
            values[: min(3, n)] = 0.9
        a = basis @ np.diag(values) @ basis.T
        return (a + a.T) / 2
    if kind == "sparse":  # non-negative and sparse, like a kernel's co-occurrence matrix
        a = (rng.random((n, n)) < 0.2) * rng.random((n, n))
        return a + a.T
    a = np.diag(rng.uniform(-1, 1, n))  # diagonal with one coupled pair: the off-diagonal splits
    if n > 2:
        a[0, 1] = a[1, 0] = 0.3
    return a


KINDS = ("dense", "clustered", "repeated_top", "sparse", "diagonal")


def _scale(a):
    return max(np.abs(a).max(), 1e-300)


@pytest.mark.parametrize("kind", KINDS)
def test_spectral_radius_equals_lapack(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    for _ in range(300):
        n = int(rng.integers(1, 41))
        a = _matrix(rng, kind, n)
        expected = np.abs(np.linalg.eigvalsh(a)).max()
        got = spectral_radius(a.copy(), n, np.empty(n), np.empty(n))
        assert abs(got - expected) <= TOL * _scale(a), (kind, n, got, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_tridiagonal_form_keeps_every_eigenvalue(kind):
    rng = np.random.default_rng(10 + KINDS.index(kind))
    for _ in range(100):
        n = int(rng.integers(2, 30))
        a = _matrix(rng, kind, n)
        d = np.empty(n)
        e = np.empty(n)
        householder_tridiagonal(a.copy(), n, d, e)
        t = np.diag(d) + np.diag(e[: n - 1], 1) + np.diag(e[: n - 1], -1)
        np.testing.assert_allclose(np.linalg.eigvalsh(t), np.linalg.eigvalsh(a), rtol=0, atol=TOL * _scale(a))


def test_bisection_fallback_gives_the_same_radius():
    """With no Laguerre step allowed, bisection on the Sturm count alone finds the extreme eigenvalues."""
    namespace = {**vars(symmetric_eigen), "MAX_LAGUERRE": 0}
    compiled = retarget(njit(nogil=True, error_model="numpy"), symmetric_eigen.BODIES, namespace)
    rng = np.random.default_rng(20)
    for kind in KINDS:
        for _ in range(40):
            n = int(rng.integers(1, 25))
            a = _matrix(rng, kind, n)
            expected = np.abs(np.linalg.eigvalsh(a)).max()
            got = compiled["spectral_radius"](a.copy(), n, np.empty(n), np.empty(n))
            assert abs(got - expected) <= TOL * _scale(a), (kind, n, got, expected)


def test_mcc_calling_convention():
    """As ``tridiagonal_eigenvalues`` under MCC: every eigenvalue up to QL_UP_TO rows, else the radius first."""
    compiled = retarget(njit(nogil=True, error_model="numpy"), symmetric_eigen.BODIES, vars(symmetric_eigen))
    stand_in = compiled["tridiagonal_eigenvalues"]
    rng = np.random.default_rng(30)
    for n in range(1, 12):
        a = _matrix(rng, "dense", n)
        d = np.empty(n)
        assert stand_in(a.copy(), n, d, np.empty(n))
        expected = np.linalg.eigvalsh(a)
        if n <= QL_UP_TO:
            np.testing.assert_allclose(np.sort(d), expected, rtol=0, atol=TOL * _scale(a))
        else:
            assert abs(d[0] - np.abs(expected).max()) <= TOL * _scale(a)
            assert not d[1:].any()

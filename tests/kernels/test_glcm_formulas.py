"""The one-matrix GLCM formulas (shared by CPU and CUDA feature maps) against the per-ROI class and LAPACK."""

import numpy as np
import pytest

from spinerad.kernels.glcm import FEATURE_NAMES, _glcm_feature_kernel
from spinerad.kernels.glcm_formulas import (
    householder_tridiagonal,
    matrix_features,
    symmetric_mcc,
    tridiagonal_eigenvalues,
    tridiagonal_kth_eigenvalue,
)


def _random_matrix(rng, n, symmetric, zero_fraction=0.4):
    counts = rng.integers(1, 6, size=(n, n)).astype(float)
    counts[rng.random((n, n)) < zero_fraction] = 0.0
    counts[int(rng.integers(n)), :] = 0.0  # a level without pairs: a zero row (and column if symmetric)
    if symmetric:
        counts = counts + counts.T
    counts[0, 0] += 1.0
    return counts / counts.sum()


def _features(p, g, symmetric):
    n = len(g)
    ng_max = int(g[-1])
    row = np.empty(len(FEATURE_NAMES))
    matrix_features(
        np.ascontiguousarray(p), n, g, ng_max, symmetric, np.empty(n), np.empty(n),
        np.zeros(2 * ng_max), np.zeros(ng_max + 1), row,
    )  # fmt: skip
    return row


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("symmetric", [True, False])
def test_matrix_features_equal_the_per_roi_formulas(seed, symmetric):
    """Zero cells skipped, logs once per symmetric cell pair: the per-ROI kernel's values to rounding."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    p = _random_matrix(rng, n, symmetric)
    g = np.sort(rng.choice(np.arange(1, 30), size=n, replace=False)).astype(float)
    expected = np.empty((1, 1, len(FEATURE_NAMES)))
    _glcm_feature_kernel(p[None, None], g, int(g[-1]), False, expected, np.empty((1, 1)))
    np.testing.assert_allclose(_features(p, g, symmetric), expected[0, 0], rtol=1e-12, atol=1e-14)


def _mcc(p):
    n = len(p)
    scratch = [np.empty(n) for _ in range(4)]
    return symmetric_mcc(p, n, *scratch[:3], np.empty((n, n)), scratch[3], np.empty(n, dtype=np.int64))


def _mcc_lapack(p):
    """PyRadiomics' definition: sqrt of the second-largest eigenvalue of Q, by LAPACK's general solver."""
    px = p.sum(axis=1)
    q = (p / px[:, None]) @ (p / px[None, :]).T
    eig = np.sort(np.linalg.eigvals(q).real)
    return np.sqrt(max(eig[-2], 0.0))


@pytest.mark.parametrize("seed", range(12))
def test_symmetric_mcc_equals_lapack(seed):
    """Deflation, closed forms (2 and 3 levels) and tridiagonal QL: LAPACK's value to 1e-12."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 14))
    counts = rng.integers(1, 6, size=(n, n)).astype(float)
    counts = counts + counts.T  # dense with a non-zero diagonal: connected, not bipartite
    p = counts / counts.sum()
    value = _mcc(p)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(_mcc_lapack(p), abs=1e-12)


def test_symmetric_mcc_of_disconnected_and_bipartite_matrices_is_one():
    """Levels in groups that never co-occur, or pairs that always join two groups: eigenvalue 1 repeats."""
    disconnected = np.array([[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 4, 1], [0, 0, 1, 0]], dtype=float)
    bipartite = np.array([[0, 0, 2, 1], [0, 0, 1, 3], [2, 1, 0, 0], [1, 3, 0, 0]], dtype=float)
    for counts in (disconnected, bipartite):
        p = counts / counts.sum()
        assert _mcc(p) == 1.0
        assert _mcc_lapack(p) == pytest.approx(1.0, abs=1e-12)


def test_symmetric_mcc_of_a_rank_one_matrix_is_zero():
    """Rank one (independent levels): true value 0; PyRadiomics reports sqrt of rounding noise (~1e-8)."""
    r = np.array([0.2, 0.5, 0.3])
    assert abs(_mcc(np.outer(r, r))) < 1e-7


def _symmetric_case(rng, n, kind):
    """A random symmetric matrix of one kind that strains an eigenvalue solver."""
    a = rng.standard_normal((n, n))
    a = (a + a.T) / 2
    if kind == "repeated":  # few distinct eigenvalues, each many times
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        a = (q * rng.choice([-0.5, 0.3, 0.9], size=n)) @ q.T
    elif kind == "sparse-zero-diagonal":  # splits into blocks, zero diagonal entries
        a = np.triu(a * (rng.random((n, n)) < 0.2), 1)
        a = a + a.T
    elif kind == "tridiagonal-split":  # already tridiagonal, some off-diagonals exactly 0
        off = rng.standard_normal(n - 1) * (rng.random(n - 1) < 0.5)
        a = np.diag(np.diag(a)) + np.diag(off, 1) + np.diag(off, -1)
    elif kind == "tiny":
        a = a * 1e-6
    return a


@pytest.mark.parametrize("kind", ["dense", "repeated", "sparse-zero-diagonal", "tridiagonal-split", "tiny"])
def test_tridiagonal_eigenvalues_equal_lapack(kind):
    """Householder + root-free QL: every eigenvalue within a few ulps of the norm of LAPACK's (eigvalsh)."""
    rng = np.random.default_rng(len(kind))
    for _ in range(200):
        n = int(rng.integers(2, 30))
        a = _symmetric_case(rng, n, kind)
        expected = np.linalg.eigvalsh(a)
        d, e = np.empty(n), np.empty(n)
        assert tridiagonal_eigenvalues(a.copy(), n, d, e)
        scale = max(np.max(np.abs(expected)), 1e-300)
        np.testing.assert_allclose(np.sort(d), expected, rtol=0, atol=2e-14 * scale)


@pytest.mark.parametrize("kind", ["dense", "repeated", "sparse-zero-diagonal", "tridiagonal-split", "tiny"])
def test_householder_tridiagonal_keeps_the_eigenvalues(kind):
    """The reduction alone: LAPACK's eigenvalues of the tridiagonal it returns equal those of the input."""
    rng = np.random.default_rng(10 + len(kind))
    for _ in range(100):
        n = int(rng.integers(1, 40))
        a = _symmetric_case(rng, n, kind) if n > 1 else rng.standard_normal((1, 1))
        d, e = np.empty(n), np.empty(n)
        householder_tridiagonal(a.copy(), n, d, e)
        assert e[n - 1] == 0.0
        tridiagonal = np.diag(d) + np.diag(e[: n - 1], 1) + np.diag(e[: n - 1], -1)
        expected = np.linalg.eigvalsh(a)
        scale = max(np.max(np.abs(expected)), 1e-300)
        np.testing.assert_allclose(np.linalg.eigvalsh(tridiagonal), expected, rtol=0, atol=2e-14 * scale)


@pytest.mark.parametrize("kind", ["dense", "repeated", "sparse-zero-diagonal", "tridiagonal-split", "tiny"])
def test_tridiagonal_kth_eigenvalue_equals_lapack(kind):
    """Sturm bisection for one eigenvalue: each k-th eigenvalue within a few ulps of the norm of LAPACK's."""
    rng = np.random.default_rng(20 + len(kind))
    for _ in range(100):
        n = int(rng.integers(2, 70))
        a = _symmetric_case(rng, n, kind)
        d, e = np.empty(n), np.empty(n)
        householder_tridiagonal(a.copy(), n, d, e)
        tridiagonal = np.diag(d) + np.diag(e[: n - 1], 1) + np.diag(e[: n - 1], -1)
        expected = np.linalg.eigvalsh(tridiagonal)
        scale = max(np.max(np.abs(expected)), 1e-300)
        for k in {0, n // 2, n - 2, n - 1}:
            got = tridiagonal_kth_eigenvalue(d, e, n, k)
            assert abs(got - expected[k]) <= 2e-14 * scale + 1e-300, (kind, n, k)  # (+ pivmin: a zero matrix)
    assert tridiagonal_kth_eigenvalue(np.array([0.25]), np.zeros(1), 1, 0) == 0.25

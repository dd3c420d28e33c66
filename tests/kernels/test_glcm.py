"""GLCM kernel against the naive loop reference, and the feature formulas against hand-computed cases."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, glcm_matrix
from spinerad.kernels.glcm import (
    FEATURE_NAMES,
    aggregate,
    glcm_features,
    maximal_correlation_coefficient,
    mcc_like_pyradiomics,
    prepare_glcm,
)
from tests.naive import naive_glcm, random_levels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("distances", [(1,), (1, 2), (2, 3)])
def test_glcm_matrix_equals_naive(seed, distances):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, size=3))
    levels = random_levels(rng, shape, n_levels=4)
    angles = generate_angles(shape, distances)
    np.testing.assert_array_equal(glcm_matrix(levels, angles, 4), naive_glcm(levels, angles, 4))


def test_glcm_hand_computed_2x2():
    # One row of four voxels, levels 0 0 1 1, offset +x: pairs (0,0), (0,1), (1,1).
    levels = np.array([[[0, 0, 1, 1]]], dtype=np.int32)
    counts = glcm_matrix(levels, np.array([[0, 0, 1]]), 2)
    np.testing.assert_array_equal(counts[0], [[1, 1], [0, 1]])
    p = prepare_glcm(counts, symmetrical=True)
    # symmetric: [[2, 1], [1, 2]] / 6
    np.testing.assert_allclose(p[0, 0], np.array([[2, 1], [1, 2]]) / 6)
    values = dict(zip(FEATURE_NAMES, aggregate(glcm_features(p, np.array([1.0, 2.0]), 2))[0], strict=True))
    assert values["Contrast"] == pytest.approx(2 / 6)  # (1-2)^2 * 2/6
    assert values["JointAverage"] == pytest.approx(1.5)
    assert values["JointEnergy"] == pytest.approx((4 + 1 + 1 + 4) / 36)
    assert values["MaximumProbability"] == pytest.approx(2 / 6)
    assert values["DifferenceAverage"] == pytest.approx(2 / 6)
    assert values["Id"] == pytest.approx(4 / 6 + (2 / 6) / 2)


def test_empty_angles_are_dropped_and_lone_empty_is_nan():
    counts = np.zeros((2, 2, 2))
    counts[0, 0, 1] = 3
    assert prepare_glcm(counts).shape == (1, 1, 2, 2)
    lone = prepare_glcm(np.zeros((1, 2, 2)))
    assert np.isnan(lone).all()


def test_mcc_single_grey_level_is_one():
    assert maximal_correlation_coefficient(np.ones((1, 3, 1, 1)))[0] == 1.0


def _mcc_as_pyradiomics_writes_it(p):
    """PyRadiomics 3.0.1 getMCCFeatureValue on (1, angles, Ng, Ng): Q with eps, general eigenvalues, nanmean."""
    p4 = np.moveaxis(p, 1, -1)  # (1, Ng, Ng, angles), its layout
    px = p4.sum(2, keepdims=True)
    py = p4.sum(1, keepdims=True)
    eps = np.spacing(1)
    q = (
        p4[:, :, None, :, :] * p4[:, None, :, :, :] / (px[:, :, None, :, :] * py[:, None, :, :, :] + eps)
    ).sum(3)
    eigenvalues = np.linalg.eigvals(q.transpose((0, 3, 1, 2)))
    eigenvalues.sort()
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.sqrt(eigenvalues[..., -2]), 1).real


@pytest.mark.parametrize("seed", range(40))
def test_mcc_symmetric_path_within_its_documented_bound(seed):
    """The symmetric eigenproblem gives PyRadiomics' MCC within 1e-10 (measured <= 1.4e-11) on random ROIs."""
    rng = np.random.default_rng(1000 + seed)
    shape = tuple(int(s) for s in rng.integers(2, 12, size=3))
    n_levels = int(rng.integers(2, 40))
    levels = random_levels(rng, shape, n_levels, rng.uniform(0.4, 1.0))
    if seed % 2:  # smooth texture: correlated neighbours, larger MCC
        walk = np.clip(n_levels // 2 + np.cumsum(rng.integers(-1, 2, size=shape), axis=2), 0, n_levels - 1)
        levels = np.where(levels >= 0, walk, -1).astype(np.int32)
    present = np.unique(levels[levels >= 0])
    compact = np.where(levels >= 0, np.searchsorted(present, levels), -1).astype(np.int32)
    angles = generate_angles(shape, (1,))
    counts = glcm_matrix(compact, angles, len(present))
    for symmetrical in (True, False):
        for weights in (None, np.exp(-np.abs(angles).sum(axis=1).astype(float))):
            p = prepare_glcm(counts, symmetrical, weights)
            got = maximal_correlation_coefficient(p)[0]
            want = _mcc_as_pyradiomics_writes_it(p)[0]
            assert got == pytest.approx(want, rel=1e-10, abs=1e-13, nan_ok=True)


def test_mcc_fallback_repeats_pyradiomics_rounding():
    """Where an angle's second eigenvalue is rounding noise, the fallback gives PyRadiomics' noise exactly.

    Seed 51397 (asymmetric GLCM, 5 levels, 13 angles): one angle's true second eigenvalue is 0. Q with each
    term divided before it is multiplied (as the fallback computed it before) moved MCC by 6.9e-10 from the
    live PyRadiomics 3.0.1 (0.7767072080 vs 0.7767072075); PyRadiomics multiplies first.
    """
    rng = np.random.default_rng(51397)
    shape = tuple(int(s) for s in rng.integers(2, 14, size=3))
    n_levels = int(rng.integers(2, 61))
    levels = random_levels(rng, shape, n_levels, rng.uniform(0.4, 1.0))
    walk = np.clip(n_levels // 2 + np.cumsum(rng.integers(-1, 2, size=shape), axis=2), 0, n_levels - 1)
    levels = np.where(levels >= 0, walk, -1).astype(np.int32)
    present = np.unique(levels[levels >= 0])
    compact = np.where(levels >= 0, np.searchsorted(present, levels), -1).astype(np.int32)
    angles = generate_angles(shape, (1,))
    p = prepare_glcm(glcm_matrix(compact, angles, len(present)), False)
    assert maximal_correlation_coefficient(p)[0] == mcc_like_pyradiomics(p)[0]  # the fallback was taken
    assert mcc_like_pyradiomics(p)[0] == pytest.approx(_mcc_as_pyradiomics_writes_it(p)[0], rel=1e-13)
    assert mcc_like_pyradiomics(p)[0] == pytest.approx(0.7767072075055298, rel=1e-13)  # live PyRadiomics


def test_mcc_rank_deficient_angle_takes_pyradiomics_path():
    """An angle whose true second eigenvalue is 0: the value is PyRadiomics' rounding noise, reproduced."""
    independent = np.full((1, 1, 3, 3), 1 / 9)  # p = px py^T: rank one, lambda_2 = 0
    got = maximal_correlation_coefficient(independent)[0]
    want = _mcc_as_pyradiomics_writes_it(independent)[0]
    assert got == want or (np.isnan(got) and np.isnan(want))
    assert got == mcc_like_pyradiomics(independent)[0] or np.isnan(got)


def _entropy_columns(values):
    names = ("JointEntropy", "Imc1", "Imc2")
    return values[..., [FEATURE_NAMES.index(n) for n in names]]


@pytest.mark.parametrize("seed", range(30))
def test_entropy_terms_from_the_feature_pass_equal_pyradiomics_reductions(seed):
    """HXY, Imc1, Imc2 of the one-pass kernel (symmetric or not) equal PyRadiomics' NumPy reductions at 1e-10.

    Random ROIs from near-constant (few levels, most voxels alike: the corner where PyRadiomics' own
    rounding decides, so the NumPy path is repeated) to noisy; both paths are exercised.
    """
    from spinerad.kernels.glcm import entropy_terms_like_pyradiomics

    rng = np.random.default_rng(500 + seed)
    shape = tuple(int(s) for s in rng.integers(2, 10, size=3))
    n_levels = int(rng.integers(1, 30))
    levels = random_levels(rng, shape, n_levels, rng.uniform(0.5, 1.0))
    if seed % 3 == 0:  # near-constant: one level almost everywhere
        levels = np.where((levels >= 0) & (rng.random(shape) < 0.97), 0, levels).astype(np.int32)
    present = np.unique(levels[levels >= 0])
    compact = np.where(levels >= 0, np.searchsorted(present, levels), -1).astype(np.int32)
    angles = generate_angles(shape, (1,))
    counts = glcm_matrix(compact, angles, len(present))
    grey = (present + 1).astype(float)
    for symmetrical in (True, False):
        p = prepare_glcm(counts, symmetrical)
        got = _entropy_columns(glcm_features(p, grey, int(grey[-1]), symmetric=symmetrical))
        want = np.stack(entropy_terms_like_pyradiomics(p), axis=-1)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_entropy_terms_near_their_corners_are_pyradiomics_own():
    """Independent neighbours (p = px py: HXY2 = HXY, Imc2 at its 0 / NaN corner) take PyRadiomics' reductions."""
    from spinerad.kernels.glcm import entropy_terms_like_pyradiomics

    rng = np.random.default_rng(0)
    n = int(rng.integers(2, 8))
    marginal = rng.random(n)  # 7 levels; the one-pass sums differ from NumPy's in the last bits here
    marginal /= marginal.sum()
    p = np.outer(marginal, marginal)[None, None]
    out = glcm_features(p, np.arange(1.0, n + 1), n, symmetric=True)
    want = np.stack(entropy_terms_like_pyradiomics(p), axis=-1)
    assert np.array_equal(_entropy_columns(out), want, equal_nan=True)


@pytest.mark.parametrize("seed", range(6))
def test_prepare_glcm_whole_counts_path_equals_numpy_bit_for_bit(seed):
    """Whole counts: the one-pass path gives NumPy's symmetrise / drop / normalise bits.

    Non-counts (fractions, negatives) take NumPy's path itself.
    """
    rng = np.random.default_rng(seed)
    n_angles, ng = int(rng.integers(1, 14)), int(rng.integers(1, 40))
    counts = rng.integers(0, 50, size=(n_angles, ng, ng)).astype(np.float64)
    counts[rng.random(n_angles) < 0.3] = 0.0  # empty angles: dropped (or NaN when alone)
    for symmetrical in (True, False):
        p = counts + np.transpose(counts, (0, 2, 1)) if symmetrical else counts
        sums = p.sum(axis=(1, 2))
        if n_angles > 1:
            p, sums = p[sums != 0], sums[sums != 0]
        want = (p / np.where(sums == 0, np.nan, sums)[:, None, None])[None]
        got = prepare_glcm(counts, symmetrical)
        np.testing.assert_array_equal(got, want)
        for odd in (counts + 0.5, counts - 1.0):
            q = odd + np.transpose(odd, (0, 2, 1)) if symmetrical else odd
            total = q.sum(axis=(1, 2))
            if n_angles > 1:
                q, total = q[total != 0], total[total != 0]
            np.testing.assert_array_equal(
                prepare_glcm(odd, symmetrical), (q / np.where(total == 0, np.nan, total)[:, None, None])[None]
            )

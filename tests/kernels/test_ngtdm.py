"""NGTDM counts and neighbourhood differences against the naive loop, by hand, and its feature conventions."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, ngtdm_matrix
from spinerad.kernels.ngtdm import COARSENESS_FLAT, FEATURE_NAMES, ngtdm_features
from tests.naive import naive_ngtdm, random_levels


def _features(matrix, grey_levels):
    return dict(
        zip(FEATURE_NAMES, ngtdm_features(matrix[None], np.asarray(grey_levels, float))[0], strict=True)
    )


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("distances", [(1,), (1, 2), (3,)])
def test_ngtdm_matrix_equals_naive(seed, distances):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 8, size=3))
    levels = random_levels(rng, shape, n_levels=4, roi_fraction=rng.uniform(0.2, 1.0))
    grey_levels = np.sort(rng.choice(np.arange(1, 20), size=4, replace=False)).astype(float)
    angles = generate_angles(shape, distances, bidirectional=True)
    matrix = ngtdm_matrix(levels, angles, grey_levels)
    expected = naive_ngtdm(levels, angles, grey_levels)
    np.testing.assert_array_equal(matrix[:, 0], expected[:, 0])
    np.testing.assert_allclose(matrix[:, 1], expected[:, 1], rtol=1e-13, atol=1e-13)


def test_row_by_hand():
    # real levels 1 2 3 in a row, a hole, then a lone voxel of level 3
    levels = np.array([[[0, 1, 2, -1, 2]]], dtype=np.int32)
    angles = np.array([[0, 0, 1], [0, 0, -1]])
    matrix = ngtdm_matrix(levels, angles, [1.0, 2.0, 3.0])
    # |1 - 2| = 1; |2 - (1 + 3) / 2| = 0; |3 - 2| = 1; the lone voxel has no neighbour: counted, difference 0
    np.testing.assert_array_equal(matrix, [[1, 1], [1, 0], [2, 1]])


def test_flat_roi_conventions():
    values = _features(np.array([[5.0, 0.0]]), [3.0])
    assert values["Coarseness"] == COARSENESS_FLAT
    assert values["Contrast"] == 0
    assert values["Busyness"] == 0
    assert values["Complexity"] == 0
    assert values["Strength"] == 0


def test_features_by_hand():
    # levels 1 and 3; n = (1, 3), s = (2, 1.5)
    matrix = np.array([[1.0, 2.0], [3.0, 1.5]])
    p = np.array([0.25, 0.75])
    s = matrix[:, 1]
    values = _features(matrix, [1.0, 3.0])
    assert values["Coarseness"] == pytest.approx(1 / (p @ s))
    # sum over both ordered pairs (i, j) != (j, i): 2 * p1 p2 (1 - 3)^2, divided by Ngp (Ngp - 1) = 2
    assert values["Contrast"] == pytest.approx(2 * p[0] * p[1] * 4 / 2 * s.sum() / 4)
    assert values["Busyness"] == pytest.approx((p @ s) / (2 * abs(1 * p[0] - 3 * p[1])))
    assert values["Complexity"] == pytest.approx(2 * 2 * (p @ s) / (p[0] + p[1]) / 4)
    assert values["Strength"] == pytest.approx(2 * (p[0] + p[1]) * 4 / s.sum())


def test_absent_level_in_a_batch_is_skipped_as_pyradiomics_p_zero():
    grey_levels = np.array([1.0, 2.0, 4.0])
    with_gap = np.array([[[2.0, 1.0], [0.0, 0.0], [3.0, 0.5]]])
    without = np.array([[[2.0, 1.0], [3.0, 0.5]]])
    np.testing.assert_allclose(
        ngtdm_features(with_gap, grey_levels), ngtdm_features(without, grey_levels[[0, 2]]), rtol=1e-15
    )

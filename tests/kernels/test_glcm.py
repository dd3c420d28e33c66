"""GLCM kernel against the naive loop reference, and the feature formulas against hand-computed cases."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, glcm_matrix
from spinerad.kernels.glcm import FEATURE_NAMES, aggregate, glcm_features, maximal_correlation_coefficient, prepare_glcm
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
    values = dict(zip(FEATURE_NAMES, aggregate(glcm_features(p, np.array([1.0, 2.0]), 2))[0]))
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

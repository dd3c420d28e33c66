"""GLRLM kernel against the naive line-walking reference and hand-computed runs."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, glrlm_matrix
from spinerad.kernels.glrlm import FEATURE_NAMES, glrlm_features, prepare_glrlm
from tests.naive import naive_glrlm, random_levels


@pytest.mark.parametrize("seed", range(10))
def test_glrlm_matrix_equals_naive(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, size=3))
    levels = random_levels(rng, shape, n_levels=3, roi_fraction=rng.uniform(0.2, 1.0))
    angles = generate_angles(shape, (1,))
    np.testing.assert_array_equal(glrlm_matrix(levels, angles, 3), naive_glrlm(levels, angles, 3))


def test_runs_hand_computed():
    levels = np.array([[[0, 0, 0, 1, -1, 1, 1]]], dtype=np.int32)
    counts = glrlm_matrix(levels, np.array([[0, 0, 1]]), 2)[0]
    assert counts[0, 2] == 1  # 0 0 0
    assert counts[1, 0] == 1  # lone 1 before the hole
    assert counts[1, 1] == 1  # 1 1
    assert counts.sum() == 3


def test_flat_direction_is_zeroed():
    # A single row along x: along z no line holds two ROI voxels, so PyRadiomics zeroes that direction.
    levels = np.array([[[0, 1, 0]]], dtype=np.int32)
    counts = glrlm_matrix(levels, np.array([[1, 0, 0], [0, 0, 1]]), 2)
    assert counts[0].sum() == 0
    assert counts[1].sum() == 3


def test_run_percentage_and_emphasis_by_hand():
    # two runs of length 1 (level 1) and one of length 2 (level 2) -> Nr = 3, Np = 4
    p = np.zeros((1, 1, 2, 2))
    p[0, 0, 0, 0] = 2
    p[0, 0, 1, 1] = 1
    p_, n_runs = prepare_glrlm(p[0])
    values = dict(zip(FEATURE_NAMES, glrlm_features(p_, n_runs, np.array([1.0, 2.0]))[0, 0]))
    assert values["RunPercentage"] == pytest.approx(3 / 4)
    assert values["ShortRunEmphasis"] == pytest.approx((2 + 1 / 4) / 3)
    assert values["LongRunEmphasis"] == pytest.approx((2 + 4) / 3)
    assert values["HighGrayLevelRunEmphasis"] == pytest.approx((2 * 1 + 1 * 4) / 3)

"""GLDM dependence counts against the naive neighbour loop, hand-counted cases and hand-computed features."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, gldm_matrix
from spinerad.kernels.gldm import FEATURE_NAMES, gldm_features
from tests.naive import naive_gldm, random_levels


def _features(counts, grey_levels):
    return dict(
        zip(FEATURE_NAMES, gldm_features(counts[None], np.asarray(grey_levels, float))[0], strict=True)
    )


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("distances", [(1,), (1, 2), (2,), (1, 1)])
@pytest.mark.parametrize("alpha", [0, 1, 3])
def test_gldm_matrix_equals_naive(seed, distances, alpha):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 7, size=3))
    levels = random_levels(rng, shape, n_levels=4, roi_fraction=rng.uniform(0.3, 1.0))
    # real levels with gaps, so alpha must compare real values, not compact indices
    grey_levels = np.sort(rng.choice(np.arange(1, 12), size=4, replace=False)).astype(float)
    angles = generate_angles(shape, distances, bidirectional=True)
    counts = gldm_matrix(levels, angles, grey_levels, alpha)
    np.testing.assert_array_equal(counts, naive_gldm(levels, angles, grey_levels, alpha))
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(levels[levels >= 0], minlength=4))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_gldm_force2d_equals_naive(axis):
    rng = np.random.default_rng(axis)
    levels = random_levels(rng, (4, 5, 6), n_levels=3)
    grey_levels = np.array([1.0, 2.0, 4.0])
    angles = generate_angles(levels.shape, (1,), True, axis, bidirectional=True)
    np.testing.assert_array_equal(
        gldm_matrix(levels, angles, grey_levels, 1), naive_gldm(levels, angles, grey_levels, 1)
    )


def test_row_by_hand():
    levels = np.array([[[0, 0, 1]]], dtype=np.int32)
    angles = np.array([[0, 0, 1], [0, 0, -1]])
    # alpha 0: left 0 has 1 dependent, middle 0 has 1, the 1 has none
    np.testing.assert_array_equal(gldm_matrix(levels, angles, [1.0, 2.0], 0), [[0, 2, 0], [1, 0, 0]])
    # alpha 1: the middle voxel depends on both neighbours, the 1 on its left neighbour
    np.testing.assert_array_equal(gldm_matrix(levels, angles, [1.0, 2.0], 1), [[0, 1, 1], [0, 1, 0]])
    # compact indices differ by 1, real levels by 4: not dependent with alpha 1
    np.testing.assert_array_equal(gldm_matrix(levels, angles, [1.0, 5.0], 1), [[0, 2, 0], [1, 0, 0]])


def test_features_by_hand():
    # voxels: level 1 with 0 and 2 dependents (j = 1, 3), level 2 with 2 dependents (j = 3); Nz = 3
    counts = np.zeros((2, 4))
    counts[0, 0] = counts[0, 2] = counts[1, 2] = 1
    values = _features(counts, [1.0, 2.0])
    assert values["SmallDependenceEmphasis"] == pytest.approx((1 + 2 / 9) / 3)
    assert values["LargeDependenceEmphasis"] == pytest.approx((1 + 2 * 9) / 3)
    assert values["GrayLevelNonUniformity"] == pytest.approx((4 + 1) / 3)
    assert values["DependenceNonUniformity"] == pytest.approx((1 + 4) / 3)
    assert values["DependenceNonUniformityNormalized"] == pytest.approx(5 / 9)
    mean_j = (1 + 3 + 3) / 3
    assert values["DependenceVariance"] == pytest.approx(sum((j - mean_j) ** 2 for j in (1, 3, 3)) / 3)
    assert values["DependenceEntropy"] == pytest.approx(np.log2(3), rel=1e-12)
    assert values["HighGrayLevelEmphasis"] == pytest.approx((2 + 4) / 3)
    assert values["LargeDependenceHighGrayLevelEmphasis"] == pytest.approx((1 + 9 + 4 * 9) / 3)
    assert values["SmallDependenceLowGrayLevelEmphasis"] == pytest.approx((1 + 1 / 9 + 1 / 36) / 3)

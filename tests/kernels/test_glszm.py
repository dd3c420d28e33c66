"""GLSZM zone labelling against the naive flood fill, hand-counted zones, and hand-computed features."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, glszm_matrix
from spinerad.kernels.glszm import (
    FEATURE_NAMES,
    glszm_features,
    glszm_occurring_sizes,
    glszm_zones,
    prepare_glszm,
)
from tests.naive import naive_glszm, random_levels


def _zones(levels, n_levels, force2d=False, force2d_axis=0):
    angles = generate_angles(levels.shape, (1,), force2d, force2d_axis, bidirectional=True)
    return glszm_matrix(levels, angles, n_levels)


def _features(counts, grey_levels):
    return dict(
        zip(FEATURE_NAMES, glszm_features(counts[None], np.asarray(grey_levels, float))[0], strict=True)
    )


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("force2d_axis", [None, 0, 2])
def test_glszm_matrix_equals_naive(seed, force2d_axis):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 8, size=3))
    levels = random_levels(rng, shape, n_levels=3, roi_fraction=rng.uniform(0.3, 1.0))
    force2d = force2d_axis is not None
    angles = generate_angles(shape, (1,), force2d, force2d_axis or 0, bidirectional=True)
    counts = glszm_matrix(levels, angles, 3)
    expected = naive_glszm(levels, angles, 3)
    largest = counts.shape[1]
    assert not expected[:, largest:].any()
    np.testing.assert_array_equal(counts, expected[:, :largest])
    assert counts @ np.arange(1, largest + 1) == pytest.approx(np.bincount(levels[levels >= 0], minlength=3))


def test_corner_contact_joins_a_zone_in_3d_but_not_across_slices_in_2d():
    levels = np.full((2, 2, 2), -1, dtype=np.int32)
    levels[0, 0, 0] = levels[1, 1, 1] = 0  # touch at a corner only
    levels[0, 1, 1] = 0  # touches (0, 0, 0) diagonally in-plane
    np.testing.assert_array_equal(_zones(levels, 1), [[0, 0, 1]])  # one zone of 3 voxels (26-connected)
    # force2D along z: slices are separate; in slice 0 the diagonal pair is one 8-connected zone
    np.testing.assert_array_equal(_zones(levels, 1, force2d=True, force2d_axis=0), [[1, 1]])
    # force2D along x: planes x=0 and x=1 are separate; (0,1,1) and (1,1,1) touch within x=1
    np.testing.assert_array_equal(_zones(levels, 1, force2d=True, force2d_axis=2), [[1, 1]])


def test_hand_counted_zones_in_a_slice():
    # level 0: one L-shaped zone of 4 plus a lone voxel (separated by the hole); level 1: one zone of 3
    levels = np.array(
        [
            [
                [0, 0, 1, -1],
                [0, 1, 1, 0],
                [0, -1, -1, -1],
            ]
        ],
        dtype=np.int32,
    )
    counts = _zones(levels, 2)
    # zone of 0 at (0,0),(0,1),(1,0),(2,0): 4 voxels; (1,3) is 8-connected to nothing of level 0
    np.testing.assert_array_equal(counts, [[1, 0, 0, 1], [0, 0, 1, 0]])


def test_a_hole_does_not_connect():
    levels = np.array([[[0, -1, 0]]], dtype=np.int32)
    np.testing.assert_array_equal(_zones(levels, 1), [[2]])


def test_features_by_hand():
    # zones: level 1 -> sizes 1 and 4; level 3 -> size 2 (levels present: 1 and 3, Ng=2)
    counts = np.zeros((2, 4))
    counts[0, 0] = counts[0, 3] = counts[1, 1] = 1
    values = _features(counts, [1.0, 3.0])
    n_z, n_p = 3, 7
    assert values["ZonePercentage"] == pytest.approx(n_z / n_p)
    assert values["SmallAreaEmphasis"] == pytest.approx((1 + 1 / 16 + 1 / 4) / n_z)
    assert values["LargeAreaEmphasis"] == pytest.approx((1 + 16 + 4) / n_z)
    assert values["GrayLevelNonUniformity"] == pytest.approx((2**2 + 1**2) / n_z)
    assert values["GrayLevelNonUniformityNormalized"] == pytest.approx(5 / n_z**2)
    assert values["SizeZoneNonUniformity"] == pytest.approx(3 / n_z)
    mean_level = (2 * 1 + 1 * 3) / 3
    assert values["GrayLevelVariance"] == pytest.approx(
        (2 * (1 - mean_level) ** 2 + (3 - mean_level) ** 2) / 3
    )
    mean_size = (1 + 4 + 2) / 3
    assert values["ZoneVariance"] == pytest.approx(sum((j - mean_size) ** 2 for j in (1, 4, 2)) / 3)
    assert values["ZoneEntropy"] == pytest.approx(np.log2(3), rel=1e-12)
    assert values["LowGrayLevelZoneEmphasis"] == pytest.approx((2 / 1 + 1 / 9) / n_z)
    assert values["HighGrayLevelZoneEmphasis"] == pytest.approx((2 * 1 + 9) / n_z)
    assert values["SmallAreaHighGrayLevelEmphasis"] == pytest.approx((1 + 1 / 16 + 9 / 4) / n_z)
    assert values["LargeAreaLowGrayLevelEmphasis"] == pytest.approx((1 + 16 + 4 / 9) / n_z)


def test_empty_size_columns_change_nothing():
    counts = np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    padded = np.concatenate([counts, np.zeros((2, 5))], axis=1)
    a = glszm_features(counts[None], np.array([2.0, 5.0]))
    b = glszm_features(padded[None], np.array([2.0, 5.0]))
    np.testing.assert_array_equal(a, b)


def test_prepare_drops_empty_sizes_and_keeps_the_values():
    counts = np.zeros((2, 9))
    counts[0, 0] = counts[1, 8] = counts[0, 4] = 2
    p, sizes = prepare_glszm(counts)
    np.testing.assert_array_equal(sizes, [1, 5, 9])
    np.testing.assert_array_equal(p[0], counts[:, [0, 4, 8]])
    grey_levels = np.array([1.0, 4.0])
    np.testing.assert_allclose(
        glszm_features(p, grey_levels, sizes), glszm_features(counts[None], grey_levels), rtol=1e-14
    )


@pytest.mark.parametrize("seed", range(4))
def test_zones_split_by_grey_level_equal_naive(seed):
    """Parallel labelling (ranges of levels side by side) on masks with many zones and one dominant level."""
    import numba

    rng = np.random.default_rng(50 + seed)
    shape = (5, 9, 11)
    levels = random_levels(rng, shape, n_levels=9, roi_fraction=0.8)
    levels[(levels >= 0) & (rng.random(shape) < 0.4)] = 4  # a level holding half the ROI: unequal chunks
    angles = generate_angles(shape, (1,), bidirectional=True)
    expected = naive_glszm(levels, angles, 9)
    want = sorted(
        (i, s + 1) for i, s in zip(*np.nonzero(expected), strict=True) for _ in range(int(expected[i, s]))
    )
    for n_chunks in (1, 2, 3, 5, 9, 20):
        zone_level, zone_size = glszm_zones(levels, angles, 9, n_chunks)
        assert sorted(zip(zone_level.tolist(), zone_size.tolist(), strict=True)) == want
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = glszm_occurring_sizes(levels, angles, 9)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        counts = glszm_matrix(levels, angles, 9)
        compact, sizes = glszm_occurring_sizes(levels, angles, 9)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(counts, expected[:, : counts.shape[1]])
    want_p, want_sizes = prepare_glszm(expected)
    np.testing.assert_array_equal(compact, want_p)
    np.testing.assert_array_equal(sizes, want_sizes)
    np.testing.assert_array_equal(one[0], compact)


def test_empty_roi_has_no_zones():
    levels = np.full((2, 3, 3), -1, dtype=np.int32)
    angles = generate_angles(levels.shape, (1,), bidirectional=True)
    assert glszm_matrix(levels, angles, 0).shape == (0, 0)
    p, sizes = glszm_occurring_sizes(levels, angles, 0)
    assert p.shape == (1, 0, 0) and sizes.shape == (0,)

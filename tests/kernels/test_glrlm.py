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
    values = dict(zip(FEATURE_NAMES, glrlm_features(p_, n_runs, np.array([1.0, 2.0]))[0, 0], strict=True))
    assert values["RunPercentage"] == pytest.approx(3 / 4)
    assert values["ShortRunEmphasis"] == pytest.approx((2 + 1 / 4) / 3)
    assert values["LongRunEmphasis"] == pytest.approx((2 + 4) / 3)
    assert values["HighGrayLevelRunEmphasis"] == pytest.approx((2 * 1 + 1 * 4) / 3)


@pytest.mark.parametrize("seed", range(6))
def test_glrlm_many_levels_and_long_runs_equal_naive(seed):
    # Stripes give long runs along x, noise short ones elsewhere; 12 levels, holes, a 2-voxel border case.
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(s) for s in rng.integers(2, 9, size=3))
    levels = np.broadcast_to(rng.integers(0, 12, size=shape[:2] + (1,)), shape).astype(np.int32).copy()
    noisy = rng.random(shape) < 0.3
    levels[noisy] = rng.integers(0, 12, size=int(noisy.sum()))
    levels[rng.random(shape) < 0.2] = -1
    angles = generate_angles(shape, (1,))
    np.testing.assert_array_equal(glrlm_matrix(levels, angles, 12), naive_glrlm(levels, angles, 12))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_gapped_line_is_not_flat(axis):
    # No two ROI voxels touch along ``axis``, but one line holds two (a hole between them): PyRadiomics keeps
    # the direction (its runs are two single voxels); the run walk alone never sees two adjacent ROI voxels.
    shape = [3, 3, 3]
    shape[axis] = 5
    levels = np.full(shape, -1, dtype=np.int32)
    index = [1, 1, 1]
    index[axis] = 0
    levels[tuple(index)] = 0
    index[axis] = 3
    levels[tuple(index)] = 1
    angles = generate_angles(levels.shape, (1,))
    counts = glrlm_matrix(levels, angles, 2)
    np.testing.assert_array_equal(counts, naive_glrlm(levels, angles, 2))
    along = [a for a, angle in enumerate(angles) if np.count_nonzero(angle) == 1 and angle[axis] != 0]
    assert counts[along[0]].sum() == 2
    assert sum(counts[a].sum() for a in range(len(angles)) if a not in along) == 0


def test_thread_count_does_not_change_the_counts():
    import numba

    rng = np.random.default_rng(7)
    levels = random_levels(rng, (9, 23, 31), n_levels=40, roi_fraction=0.8)
    angles = generate_angles(levels.shape, (1,))
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = glrlm_matrix(levels, angles, 40)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = glrlm_matrix(levels, angles, 40)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, naive_glrlm(levels, angles, 40))


@pytest.mark.parametrize("seed", range(8))
def test_one_pass_for_runs_and_pairs_equals_each_kernel(seed):
    """glrlm_glcm_matrices gives glrlm_matrix's and glcm_matrix's counts exactly (3D, force2D, thin boxes)."""
    from spinerad.kernels import glcm_matrix
    from spinerad.kernels.glrlm import glrlm_glcm_matrices

    rng = np.random.default_rng(300 + seed)
    for _ in range(40):
        shape = tuple(int(s) for s in rng.integers(1, 9, size=3))
        n_levels = int(rng.integers(1, 8))
        levels = random_levels(rng, shape, n_levels, rng.uniform(0.2, 1.0))
        angles = generate_angles(shape, (1,), bool(rng.random() < 0.3), int(rng.integers(0, 3)))
        if rng.random() < 0.5:  # offsets pointing back too: their pairs are counted forward, then transposed
            angles = np.concatenate([angles, -angles[rng.random(len(angles)) < 0.5]])
        runs, pairs = glrlm_glcm_matrices(levels, angles, n_levels)
        np.testing.assert_array_equal(runs, glrlm_matrix(levels, angles, n_levels))
        np.testing.assert_array_equal(pairs, glcm_matrix(levels, angles, n_levels))

"""The neighbour scan GLDM and NGTDM share: both histograms in one pass equal the naive loops."""

import numba
import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.neighbours import neighbour_scan
from tests.naive import naive_gldm, naive_ngtdm, random_levels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("distances", [(1,), (1, 3)])
def test_both_histograms_in_one_pass_equal_naive(seed, distances):
    """GLDM counts exact, NGTDM sums to rounding, and asking for one leaves the other out."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 9, size=3))
    levels = random_levels(rng, shape, n_levels=5, roi_fraction=rng.uniform(0.3, 1.0))
    grey_levels = np.sort(rng.choice(np.arange(1, 20), size=5, replace=False)).astype(float)
    angles = generate_angles(shape, distances, bidirectional=True)
    dependence, differences = neighbour_scan(
        levels, angles, grey_levels, 2, dependence=True, differences=True
    )
    np.testing.assert_array_equal(dependence, naive_gldm(levels, angles, grey_levels, 2))
    np.testing.assert_allclose(differences, naive_ngtdm(levels, angles, grey_levels), rtol=1e-13, atol=0)
    only = neighbour_scan(levels, angles, grey_levels, differences=True)
    assert only[0] is None
    np.testing.assert_array_equal(only[1], differences)


def test_thread_count_does_not_change_the_sums():
    """Fixed chunks: 1 and all threads add the same terms in the same order."""
    rng = np.random.default_rng(3)
    levels = random_levels(rng, (7, 40, 33), n_levels=30, roi_fraction=0.7)
    grey_levels = np.arange(1.0, 31.0)
    angles = generate_angles(levels.shape, (1,), bidirectional=True)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = neighbour_scan(levels, angles, grey_levels, 1, dependence=True, differences=True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = neighbour_scan(levels, angles, grey_levels, 1, dependence=True, differences=True)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])

"""First-order kernel pieces that replace a NumPy call: they must give NumPy's values exactly."""

import numpy as np
import pytest

from spinerad.kernels.firstorder import percentiles


@pytest.mark.parametrize("seed", range(6))
def test_percentiles_equal_numpy_bit_for_bit(seed):
    """Random sizes (1 voxel up), scales, ties and integer-valued data: identical to numpy.percentile."""
    rng = np.random.default_rng(seed)
    q = np.array([10.0, 25.0, 50.0, 75.0, 90.0])
    for _ in range(300):
        n = int(rng.choice([1, 2, 3, 4, 5, 7, 10, 11, 100, 1001, 4096])) + int(rng.integers(0, 3))
        x = rng.normal(size=n) * 10 ** rng.uniform(-8, 8) + rng.uniform(-1e3, 1e3)
        if rng.random() < 0.5:
            x = np.round(x)  # CT-like integer intensities: many ties
        expected = np.percentile(x, q)
        got = percentiles(x, q)
        assert np.array_equal(got, expected), (n, got, expected)


def test_percentiles_of_other_quantiles_and_nan_input():
    """Any percentile list, the end points, and NaN input (NumPy's own call) agree with NumPy."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=999)
    q = np.array([0.0, 1.0, 33.3, 50.0, 99.9, 100.0])
    assert np.array_equal(percentiles(x, q), np.percentile(x, q))
    x[5] = np.nan
    assert np.array_equal(percentiles(x, q), np.percentile(x, q), equal_nan=True)

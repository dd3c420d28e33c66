"""The bin lookup against numpy.digitize (PyRadiomics' call) on PyRadiomics' own bin edges."""

import numpy as np
import pytest

from spinerad.kernels.discretise import digitize
from spinerad.preprocess import bin_edges


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("seed", range(25))
def test_digitize_equals_numpy(dtype, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(rng.uniform(-500, 500), rng.uniform(0.01, 800), rng.integers(1, 400)).astype(dtype)
    if seed % 5 == 0:
        values[:] = values[0]  # flat region: PyRadiomics' one-bin edges
    width = float(rng.choice([0.1, 0.5, 1, 5, 7.3, 25]))
    count = int(rng.integers(2, 64)) if seed % 3 == 0 else None
    edges = np.asarray(bin_edges(values, width, count))
    np.testing.assert_array_equal(digitize(values, edges), np.digitize(values, edges))


def test_values_outside_edges():
    edges = np.array([0.0, 1.0, 2.0])
    values = np.array([-5.0, 0.0, 0.999, 1.0, 2.0, 7.0])
    np.testing.assert_array_equal(digitize(values, edges), np.digitize(values, edges))

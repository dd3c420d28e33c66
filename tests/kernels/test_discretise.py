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


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32])
def test_edges_of_integer_voxels_at_their_type_limits(dtype):
    """Min - min % width and max + 2 width computed without wrapping around the voxel type.

    A corrupt upload can hold -32768; by the definition: int16 -32768 -> first edge -32768 - 7 = -32775.
    """
    info = np.iinfo(dtype)
    values = np.array([info.min, 0 if info.min < 0 else 1, info.max], dtype=dtype)
    edges = np.asarray(bin_edges(values, 25))
    first = int(info.min) - int(info.min) % 25
    assert edges[0] == first and edges[-1] >= int(info.max) + 25
    np.testing.assert_array_equal(np.diff(edges), 25)
    np.testing.assert_array_equal(digitize(values, edges), np.digitize(values, edges))

"""GLSZM's zones and GLDM's dependence counts from one flood fill (``glszm_zones_and_dependence``).

Each must equal what its own kernel computes, bit for bit: the zone counts of ``glszm_occurring_sizes`` and
the dependence counts of ``gldm_matrix`` with ``gldm_a`` = 0 (a dependent neighbour has the same level).
"""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.gldm import gldm_matrix
from spinerad.kernels.glszm import glszm_occurring_sizes, glszm_zones, glszm_zones_and_dependence


def _random_levels(rng):
    shape = tuple(int(n) for n in rng.integers(1, 13, size=3))
    n_levels = int(rng.integers(1, 9))
    levels = rng.integers(0, n_levels, size=shape).astype(np.int32)
    levels[rng.random(shape) < rng.uniform(0, 0.5)] = -1
    return levels, n_levels


@pytest.mark.parametrize("seed", range(40))
def test_one_pass_equals_both_kernels(seed):
    rng = np.random.default_rng(seed)
    levels, n_levels = _random_levels(rng)
    force2d = bool(seed % 3 == 0)
    angles = generate_angles(levels.shape, (1,), force2d, int(rng.integers(3)), bidirectional=True)
    if len(angles) == 0:
        pytest.skip("no neighbour offset fits this box")
    p, sizes, dependence = glszm_zones_and_dependence(levels, angles, n_levels)
    want_p, want_sizes = glszm_occurring_sizes(levels, angles, n_levels)
    assert np.array_equal(p, want_p) and np.array_equal(sizes, want_sizes)
    grey_levels = np.sort(rng.choice(np.arange(1, 60), size=n_levels, replace=False)).astype(np.float64)
    assert np.array_equal(dependence, gldm_matrix(levels, angles, grey_levels, 0))
    assert dependence.sum() == np.count_nonzero(levels >= 0)


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 8])
def test_dependence_does_not_depend_on_level_chunks(n_chunks):
    """Chunks of levels label side by side; each writes only its own levels' dependence rows."""
    rng = np.random.default_rng(7)
    levels = rng.integers(0, 6, size=(9, 11, 10)).astype(np.int32)
    levels[rng.random(levels.shape) < 0.2] = -1
    angles = generate_angles(levels.shape, (1,), bidirectional=True)
    dependence = np.zeros((6, len(angles) + 1))
    glszm_zones(levels, angles, 6, n_chunks, dependence=dependence)
    assert np.array_equal(dependence, gldm_matrix(levels, angles, np.arange(1.0, 7.0), 0))

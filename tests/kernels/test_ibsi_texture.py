"""IBSI zone kernel (GLSZM/GLDZM zones) against SciPy labelling, one grey level at a time."""

import numpy as np
import pytest
from scipy import ndimage

from spinerad.kernels import ibsi_texture


def _naive_zones(levels, distance, two_d):
    """Sorted (first slice, level, size, smallest distance) of each connected zone, by ``ndimage.label``."""
    structure = np.ones((3, 3, 3), dtype=bool)
    if two_d:
        structure[0] = structure[2] = False
    zones = []
    for level in np.unique(levels[levels > 0]):
        labels, n = ndimage.label(levels == level, structure=structure)
        for label in range(1, n + 1):
            where = labels == label
            first_slice = int(np.argwhere(where)[0, 0])
            zones.append((first_slice, int(level), int(where.sum()), int(distance[where].min())))
    return sorted(zones)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("two_d", [True, False], ids=["2D", "3D"])
def test_zones_equal_scipy_labelling(seed, two_d):
    rng = np.random.default_rng(seed)
    shape = (5, 9, 8) if seed % 2 else (7, 6, 11)
    levels = rng.integers(1, 4 + seed, size=shape).astype(np.int64)
    levels[rng.random(shape) < 0.25] = 0  # outside the ROI, also on the array's faces
    distance = rng.integers(1, 6, size=shape).astype(np.int64)
    got = ibsi_texture.equal_level_zones(levels, distance, two_d)
    assert sorted(zip(*(a.tolist() for a in got), strict=True)) == _naive_zones(levels, distance, two_d)


def test_level_groups_balance_and_cover_every_level():
    counts = np.array([0, 50, 7, 300, 0, 120, 9])
    groups = ibsi_texture.level_groups(counts, 2)
    present = sorted(g for g in groups.ravel() if g > 0)
    assert present == [2, 3, 4, 6, 7]  # levels (1-based) with voxels, each once
    loads = [counts[[g - 1 for g in row if g > 0]].sum() for row in groups]
    assert sorted(loads) == [186, 300]


def _naive_neighbourhood(levels, two_d, n_levels):
    """Per slice NGTDM (count, sum |g - mean neighbour|) and NGLDM counts by explicit loops."""
    nz, ny, nx = levels.shape
    ngtdm = np.zeros((nz, n_levels, 2))
    ngldm = np.zeros((nz, n_levels, 9 if two_d else 27))
    for z, y, x in np.argwhere(levels > 0):
        g = levels[z, y, x]
        others = []
        for dz, dy, dx in ibsi_texture.neighbour_offsets(two_d):
            zz, yy, xx = z + dz, y + dy, x + dx
            if 0 <= zz < nz and 0 <= yy < ny and 0 <= xx < nx and levels[zz, yy, xx] > 0:
                others.append(levels[zz, yy, xx])
        if others:
            ngtdm[z, g - 1] += (1, abs(g - np.mean(others)))
        ngldm[z, g - 1, sum(o == g for o in others)] += 1
    return ngtdm, ngldm


@pytest.mark.parametrize("two_d", [True, False], ids=["2D", "3D"])
def test_neighbourhood_counts_equal_explicit_loops(two_d):
    rng = np.random.default_rng(2)
    levels = rng.integers(1, 6, size=(4, 7, 9)).astype(np.int64)
    levels[rng.random(levels.shape) < 0.3] = 0
    padded = np.pad(levels, 1)
    steps = ibsi_texture.flat_offsets(ibsi_texture.neighbour_offsets(two_d), padded.shape)
    ngtdm = np.zeros((4, 5, 2))
    ngldm = np.zeros((4, 5, 9 if two_d else 27))
    ibsi_texture.neighbourhood_kernel(padded, steps, ngtdm, ngldm)
    expected_ngtdm, expected_ngldm = _naive_neighbourhood(levels, two_d, 5)
    np.testing.assert_allclose(ngtdm, expected_ngtdm, rtol=1e-14)
    np.testing.assert_array_equal(ngldm, expected_ngldm)

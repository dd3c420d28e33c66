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

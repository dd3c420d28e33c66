"""First-order maps: the sliding sorted window gives what sorting each kernel afresh gives.

``firstorder_maps`` reuses the previous voxel's sorted values when the kernel moves by one along x; a call
with one voxel sorts afresh (that path is checked against PyRadiomics' voxel mode in
tests/test_voxel_oracle.py). Random grids with ties, masked-out voxels, clipped kernels and force2D.
"""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.voxel_firstorder import FEATURE_NAMES, firstorder_maps, slide_offsets


def _case(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 10, size=3))
    values = rng.normal(50, 20, size=shape)
    if seed % 2:
        values = np.round(values / 10) * 10  # ties and flat kernels
    valid = rng.random(shape) < 0.7
    valid.flat[int(rng.integers(0, valid.size))] = True
    bins = np.floor(values / 10).astype(np.int64)
    present = np.unique(bins[valid])
    levels = np.full(shape, -1, dtype=np.int32)
    levels[valid] = np.searchsorted(present, bins[valid]).astype(np.int32)
    coords = np.argwhere(valid).astype(np.int64)
    radius = int(rng.integers(1, 4))
    force2d = seed % 3 == 0
    axis = int(rng.integers(0, 3))
    offsets = generate_angles(
        np.minimum(shape, 2 * radius + 1), range(1, radius + 1), force2d, axis, bidirectional=True
    )
    offsets = np.ascontiguousarray(np.vstack([offsets, np.zeros((1, 3), dtype=np.int64)]))
    if force2d:
        coords = coords[coords[:, axis] == coords[0, axis]]
    return values, levels, coords, offsets, len(present)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("blocks", [1, 3])
def test_sliding_window_equals_fresh_sort(seed, blocks):
    values, levels, coords, offsets, n_levels = _case(seed)
    slid = np.empty((len(coords), len(FEATURE_NAMES)))
    firstorder_maps(values, levels, coords, offsets, n_levels, 0.0, 1.5, blocks, slid)
    fresh = np.empty_like(slid)
    for v in range(len(coords)):
        firstorder_maps(values, levels, coords[v : v + 1], offsets, n_levels, 0.0, 1.5, 1, fresh[v : v + 1])
    np.testing.assert_array_equal(slid, fresh)


def test_slide_offsets_of_a_box():
    # a 3 x 3 x 3 kernel loses the x = -1 plane and gains the x = +1 plane: 9 voxels each
    offsets = np.array(
        [(z, y, x) for z in (-1, 0, 1) for y in (-1, 0, 1) for x in (-1, 0, 1)], dtype=np.int64
    )
    leaving, entering = slide_offsets(offsets)
    assert sorted(offsets[leaving, 2]) == [-1] * 9
    assert sorted(offsets[entering, 2]) == [1] * 9

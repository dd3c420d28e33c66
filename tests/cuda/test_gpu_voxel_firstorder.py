"""CUDA first-order maps: equal to the CPU voxel kernel (itself checked against PyRadiomics' voxel mode)."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.gpu_voxel_firstorder import FEATURE_NAMES, gpu_firstorder_maps
from spinerad.kernels.voxel_firstorder import firstorder_maps

pytestmark = pytest.mark.cudasim


def _case(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 6, size=3))
    values = rng.normal(50, 20, size=shape)
    if rng.random() < 0.5:
        values = np.round(values / 10) * 10  # ties and flat kernels
    roi = rng.random(shape) < 0.5
    roi.flat[int(rng.integers(0, roi.size))] = True
    masked = rng.random() < 0.6
    valid = roi if masked else np.ones(shape, dtype=bool)
    bins = np.floor(values / 10).astype(np.int64)
    present = np.unique(bins[valid])
    levels = np.full(shape, -1, dtype=np.int32)
    levels[valid] = np.searchsorted(present, bins[valid]).astype(np.int32)
    coords = np.argwhere(roi).astype(np.int64)[:10]
    radius = int(rng.integers(1, 3))
    force2d = rng.random() < 0.3
    offsets = generate_angles(
        np.minimum(shape, 2 * radius + 1), range(1, radius + 1), force2d, 0, bidirectional=True
    )
    offsets = np.vstack([offsets, np.zeros((1, 3), dtype=np.int64)])
    return values, levels, coords, offsets, len(present)


@pytest.mark.parametrize("seed", range(6))
def test_gpu_firstorder_maps_equal_cpu(seed):
    values, levels, coords, offsets, n_levels = _case(seed)
    expected = np.empty((len(coords), len(FEATURE_NAMES)))
    firstorder_maps(values, levels, coords, offsets, n_levels, 0.0, 1.5, 2, expected)
    result = np.empty_like(expected)
    gpu_firstorder_maps(values, levels, coords, offsets, n_levels, 0.0, 1.5, result)
    scale = np.max(np.abs(expected), axis=0, keepdims=True)
    assert np.all(np.abs(result - expected) <= 1e-12 * np.maximum(np.abs(expected), scale))

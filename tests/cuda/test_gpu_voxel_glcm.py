"""CUDA GLCM feature maps: equal to the CPU voxel kernel (itself checked against PyRadiomics' voxel mode).

The GPU twin runs the CPU's own per-voxel body compiled for CUDA, so the bar is 1e-10 (the same operations
in the same order; only ``libm`` and the device's math library may round differently).
"""

import numpy as np
import pytest

from spinerad.kernels import generate_angles, gpu_voxel_glcm
from spinerad.kernels.gpu_voxel_glcm import gpu_glcm_maps
from spinerad.kernels.voxel_glcm import N_FEATURES, glcm_maps

pytestmark = pytest.mark.cudasim


def _case(seed, n_levels_max=6):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 6, size=3))
    n_levels = int(rng.integers(1, n_levels_max))
    levels = rng.integers(0, n_levels, size=shape).astype(np.int32)
    roi = rng.random(shape) < 0.5
    roi.flat[0] = True
    if rng.random() < 0.6:  # maskedKernel: only ROI voxels are valid
        levels[~roi] = -1
    present = np.unique(levels[levels >= 0])
    remap = np.full(n_levels, -1, dtype=np.int32)
    remap[present] = np.arange(len(present), dtype=np.int32)
    levels = np.where(levels >= 0, remap[np.maximum(levels, 0)], -1).astype(np.int32)
    grey_levels = np.sort(rng.choice(np.arange(1, 20), size=len(present), replace=False)).astype(np.float64)
    coords = np.argwhere(roi & (levels >= 0)).astype(np.int64)[:10]
    force2d = rng.random() < 0.3
    axis = int(rng.integers(0, 3))
    distances = [(1,), (1, 2)][int(rng.integers(0, 2))]
    angles = generate_angles(shape, distances, force2d, axis)
    radius = int(rng.integers(1, 3))
    symmetrical = bool(rng.random() < 0.8)
    return levels, coords, radius, axis if force2d else -1, angles, grey_levels, symmetrical


def _both(case, want_mcc=True):
    levels, coords, radius, axis2d, angles, grey_levels, symmetrical = case
    expected = np.empty((len(coords), N_FEATURES))
    glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, 2, expected)
    result = np.empty_like(expected)
    gpu_glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, result)
    return expected, result


@pytest.mark.parametrize("seed", range(6))
def test_gpu_glcm_maps_equal_cpu(seed):
    """Random kernels (masked or not, force2D, distances 1 and 2, symmetric or not): the CPU's values."""
    expected, result = _both(_case(seed))
    assert np.isfinite(expected).any()
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_kernels_with_more_levels_than_the_gpu_holds_fall_back_to_the_cpu(monkeypatch):
    """A kernel with more levels than the thread-local matrices hold is computed by the CPU kernel."""
    # the simulator reads the module constant when the kernel runs: thread-local 2 x 2 matrices
    monkeypatch.setattr(gpu_voxel_glcm, "MAX_LEVELS", 2)
    case = _case(5, n_levels_max=9)
    levels, coords, radius = case[:3]
    most = max(
        len(np.unique(box[box >= 0]))
        for box in (levels[max(z - radius, 0) : z + radius + 1, max(y - radius, 0) : y + radius + 1,
                           max(x - radius, 0) : x + radius + 1] for z, y, x in coords)
    )  # fmt: skip
    assert most > 2, "the case must hold kernels the GPU hands back"
    expected, result = _both(case)
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_gpu_glcm_maps_refuse_large_radius():
    """Thread-local arrays are sized for kernelRadius <= 3: a larger one is one clear error."""
    levels, coords, _, axis2d, angles, grey_levels, symmetrical = _case(0)
    with pytest.raises(ValueError, match="kernelRadius <= 3"):
        out = np.empty((len(coords), 24))
        gpu_glcm_maps(levels, coords, 4, axis2d, angles, grey_levels, symmetrical, True, out)

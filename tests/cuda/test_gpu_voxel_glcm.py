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


def _case(draw, seed, n_levels_max=6):
    rng, levels, coords, radius, axis2d, grey_levels, distances, force2d, axis = draw(seed, n_levels_max)
    angles = generate_angles(levels.shape, distances, force2d, axis)
    symmetrical = bool(rng.random() < 0.8)
    return levels, coords, radius, axis2d, angles, grey_levels, symmetrical


def _both(case, want_mcc=True):
    levels, coords, radius, axis2d, angles, grey_levels, symmetrical = case
    expected = np.empty((len(coords), N_FEATURES))
    glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, 2, expected)
    result = np.empty_like(expected)
    gpu_glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, result)
    return expected, result


@pytest.mark.parametrize("seed", range(6))
def test_gpu_glcm_maps_equal_cpu(random_voxel_case, seed):
    """Random kernels (masked or not, force2D, distances 1 and 2, symmetric or not): the CPU's values."""
    expected, result = _both(_case(random_voxel_case, seed))
    assert np.isfinite(expected).any()
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_kernels_with_more_levels_than_the_gpu_holds_fall_back_to_the_cpu(
    random_voxel_case, most_levels_per_kernel, monkeypatch
):
    """A kernel with more levels than the thread-local matrices hold is computed by the CPU kernel."""
    # the simulator reads the module constant when the kernel runs: thread-local 2 x 2 matrices
    monkeypatch.setattr(gpu_voxel_glcm, "MAX_LEVELS", 2)
    case = _case(random_voxel_case, 5, n_levels_max=9)
    levels, coords, radius = case[:3]
    assert most_levels_per_kernel(levels, coords, radius) > 2, "the case must hold kernels the GPU hands back"
    expected, result = _both(case)
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_gpu_glcm_maps_refuse_large_radius(random_voxel_case):
    """Thread-local arrays are sized for kernelRadius <= 3: a larger one is one clear error."""
    levels, coords, _, axis2d, angles, grey_levels, symmetrical = _case(random_voxel_case, 0)
    with pytest.raises(ValueError, match="kernelRadius <= 3"):
        out = np.empty((len(coords), 24))
        gpu_glcm_maps(levels, coords, 4, axis2d, angles, grey_levels, symmetrical, True, out)

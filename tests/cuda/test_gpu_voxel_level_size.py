"""CUDA GLRLM, GLSZM and GLDM feature maps: equal to the CPU voxel kernels.

The CPU kernels are themselves checked against PyRadiomics' voxel mode in tests/test_voxel_oracle.py.

Each GPU twin runs the CPU's own per-voxel body compiled for CUDA, so the bar is 1e-10 (the same operations
in the same order; only ``libm`` and the device's math library may round differently).
"""

import importlib
import os

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.gpu_voxel_gldm import gpu_gldm_maps
from spinerad.kernels.gpu_voxel_glrlm import gpu_glrlm_maps
from spinerad.kernels.gpu_voxel_glszm import gpu_glszm_maps
from spinerad.kernels.voxel_gldm import gldm_maps
from spinerad.kernels.voxel_glrlm import glrlm_maps
from spinerad.kernels.voxel_glszm import glszm_maps

pytestmark = pytest.mark.cudasim


def _glrlm(case):
    levels, coords, radius, axis2d, grey_levels, _, force2d, axis = case
    angles = generate_angles(levels.shape, (1,), force2d, axis)
    expected = np.empty((len(coords), 16))
    glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, 2, expected)
    result = np.empty_like(expected)
    gpu_glrlm_maps(levels, coords, radius, axis2d, angles, grey_levels, result)
    return expected, result


def _glszm(case):
    levels, coords, radius, axis2d, grey_levels, _, force2d, axis = case
    angles = generate_angles(levels.shape, (1,), force2d, axis, bidirectional=True)
    expected = np.empty((len(coords), 16))
    glszm_maps(levels, coords, radius, axis2d, angles, grey_levels, 2, expected)
    result = np.empty_like(expected)
    gpu_glszm_maps(levels, coords, radius, axis2d, angles, grey_levels, result)
    return expected, result


def _gldm(case, alpha=0.0):
    levels, coords, radius, axis2d, grey_levels, distances, force2d, axis = case
    angles = generate_angles(levels.shape, distances, force2d, axis, bidirectional=True)
    expected = np.empty((len(coords), 14))
    gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, 2, expected)
    result = np.empty_like(expected)
    gpu_gldm_maps(levels, coords, radius, axis2d, angles, grey_levels, alpha, result)
    return expected, result


CLASSES = {"glrlm": _glrlm, "glszm": _glszm, "gldm": _gldm}


def _draw(random_voxel_case, seed, n_levels_max=6):
    _, levels, coords, radius, axis2d, grey_levels, distances, force2d, axis = random_voxel_case(
        seed, n_levels_max
    )
    return levels, coords, radius, axis2d, grey_levels, distances, force2d, axis


@pytest.mark.parametrize("class_name", sorted(CLASSES))
@pytest.mark.parametrize("seed", range(5))
def test_gpu_maps_equal_cpu(random_voxel_case, class_name, seed):
    """Random kernels (masked or not, force2D, radius 1 and 2, distances 1 and (1, 2)): the CPU's values."""
    expected, result = CLASSES[class_name](_draw(random_voxel_case, seed))
    assert np.isfinite(expected).any()
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_gldm_alpha_on_the_gpu(random_voxel_case):
    """gldm_a > 0 (neighbours within alpha of the voxel's level are dependent) gives the CPU's values."""
    case = _draw(random_voxel_case, 3)
    expected, result = _gldm(case, alpha=3.0)
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("class_name", sorted(CLASSES))
def test_kernels_with_more_levels_than_the_gpu_holds_fall_back_to_the_cpu(
    random_voxel_case, most_levels_per_kernel, monkeypatch, class_name
):
    """A kernel with more levels than the thread-local matrices hold is computed by the CPU kernel."""
    # the simulator reads the module constant when the kernel runs: thread-local matrices of 2 levels
    gpu_module = importlib.import_module(f"spinerad.kernels.gpu_voxel_{class_name}")
    cpu_module = importlib.import_module(f"spinerad.kernels.voxel_{class_name}")
    monkeypatch.setattr(gpu_module, "MAX_LEVELS", 2)
    cpu_maps = getattr(cpu_module, f"{class_name}_maps")
    handed_back = []

    def spy(levels, coords, *rest):
        handed_back.append(len(coords))
        return cpu_maps(levels, coords, *rest)

    monkeypatch.setattr(cpu_module, f"{class_name}_maps", spy)
    case = _draw(random_voxel_case, 5, n_levels_max=9)
    levels, coords, radius = case[:3]
    assert most_levels_per_kernel(levels, coords, radius) > 2, "the case must hold kernels the GPU hands back"
    expected, result = CLASSES[class_name](case)
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        # a real GPU compiles MAX_LEVELS into the kernel at its first launch; the simulator reads it now
        assert handed_back and 0 < handed_back[0] <= len(coords)


def test_gpu_maps_refuse_large_radius(random_voxel_case):
    """Thread-local arrays are sized for kernelRadius <= 3: a larger one is one clear error."""
    levels, coords, _, axis2d, grey_levels, _, force2d, axis = _draw(random_voxel_case, 0)
    angles = generate_angles(levels.shape, (1,), force2d, axis)
    with pytest.raises(ValueError, match="kernelRadius <= 3"):
        gpu_glrlm_maps(levels, coords, 4, axis2d, angles, grey_levels, np.empty((len(coords), 16)))


def test_feature_maps_on_cuda_equal_cpu(assert_pipeline_maps_equal):
    """The pipeline with device='cuda' (GLRLM, GLSZM and GLDM on their GPU twins) gives the CPU maps."""
    assert_pipeline_maps_equal(7, {"binWidth": 10, "gldm_a": 1}, ("glrlm", "glszm", "gldm"), 16 + 16 + 14)

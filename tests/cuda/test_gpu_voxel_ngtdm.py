"""CUDA NGTDM feature maps: equal to the CPU voxel kernel (itself checked against PyRadiomics' voxel mode)."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.gpu_voxel_ngtdm import FEATURE_NAMES, gpu_ngtdm_maps
from spinerad.kernels.voxel_ngtdm import ngtdm_maps

pytestmark = pytest.mark.cudasim


def _case(draw, seed):
    _, levels, coords, radius, axis2d, grey_levels, distances, force2d, axis = draw(seed)
    angles = generate_angles(levels.shape, distances, force2d, axis, bidirectional=True)
    return levels, coords, radius, axis2d, angles, grey_levels


@pytest.mark.parametrize("seed", range(6))
def test_gpu_ngtdm_maps_equal_cpu(random_voxel_case, seed):
    levels, coords, radius, axis2d, angles, grey_levels = _case(random_voxel_case, seed)
    expected = np.empty((len(coords), len(FEATURE_NAMES)))
    ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, 2, expected)
    result = np.empty_like(expected)
    gpu_ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, result)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=0)


def test_gpu_ngtdm_maps_refuse_large_radius(random_voxel_case):
    levels, coords, _, axis2d, angles, grey_levels = _case(random_voxel_case, 0)
    with pytest.raises(ValueError, match="kernelRadius <= 3"):
        gpu_ngtdm_maps(levels, coords, 4, axis2d, angles, grey_levels, np.empty((len(coords), 5)))


def test_feature_maps_on_cuda_equal_cpu(assert_pipeline_maps_equal):
    """The pipeline with device='cuda' (firstorder, GLCM and NGTDM on the GPU twins) gives the CPU maps."""
    assert_pipeline_maps_equal(5, {"binWidth": 10}, ("firstorder", "glcm", "ngtdm"), 18 + 24 + 5)

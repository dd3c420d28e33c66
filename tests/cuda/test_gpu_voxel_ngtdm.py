"""CUDA NGTDM feature maps: equal to the CPU voxel kernel (itself checked against PyRadiomics' voxel mode)."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.gpu_voxel_ngtdm import FEATURE_NAMES, gpu_ngtdm_maps
from spinerad.kernels.voxel_ngtdm import ngtdm_maps

pytestmark = pytest.mark.cudasim


def _case(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 6, size=3))
    n_levels = int(rng.integers(1, 6))
    levels = rng.integers(0, n_levels, size=shape).astype(np.int32)
    masked = rng.random() < 0.6
    roi = rng.random(shape) < 0.5
    roi.flat[0] = True
    if masked:
        levels[~roi] = -1
    # keep every level index present, as the pipeline's compact levels are
    present = np.unique(levels[levels >= 0])
    remap = np.full(n_levels, -1, dtype=np.int32)
    remap[present] = np.arange(len(present), dtype=np.int32)
    levels = np.where(levels >= 0, remap[np.maximum(levels, 0)], -1).astype(np.int32)
    grey_levels = np.sort(rng.choice(np.arange(1, 20), size=len(present), replace=False)).astype(np.float64)
    coords = np.argwhere(roi & (levels >= 0)).astype(np.int64)[:12]
    force2d = rng.random() < 0.3
    axis = int(rng.integers(0, 3))
    distances = [(1,), (1, 2)][int(rng.integers(0, 2))]
    angles = generate_angles(shape, distances, force2d, axis, bidirectional=True)
    radius = int(rng.integers(1, 3))
    return levels, coords, radius, axis if force2d else -1, angles, grey_levels


@pytest.mark.parametrize("seed", range(6))
def test_gpu_ngtdm_maps_equal_cpu(seed):
    levels, coords, radius, axis2d, angles, grey_levels = _case(seed)
    expected = np.empty((len(coords), len(FEATURE_NAMES)))
    ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, 2, expected)
    result = np.empty_like(expected)
    gpu_ngtdm_maps(levels, coords, radius, axis2d, angles, grey_levels, result)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=0)


def test_gpu_ngtdm_maps_refuse_large_radius():
    levels, coords, _, axis2d, angles, grey_levels = _case(0)
    with pytest.raises(ValueError, match="kernelRadius <= 3"):
        gpu_ngtdm_maps(levels, coords, 4, axis2d, angles, grey_levels, np.empty((len(coords), 5)))


def test_feature_maps_on_cuda_equal_cpu():
    """The pipeline with device='cuda' (firstorder, GLCM and NGTDM on the GPU twins) gives the CPU maps."""
    import SimpleITK as sitk

    import spinerad.voxel as voxel_maps

    rng = np.random.default_rng(5)
    image = sitk.GetImageFromArray(rng.normal(100, 20, size=(5, 6, 6)))
    mask_array = np.zeros((5, 6, 6), dtype=np.uint8)
    mask_array[1:4, 2:4, 1:5] = rng.random((3, 2, 4)) < 0.7
    mask_array[2, 2, 2] = 1
    mask = sitk.GetImageFromArray(mask_array)
    params = {
        "setting": {"binWidth": 10},
        "featureClass": {"firstorder": [], "glcm": [], "ngtdm": []},
        "voxelSetting": {"kernelRadius": 1},
    }
    cpu = voxel_maps.feature_maps(image, mask, params)
    gpu = voxel_maps.feature_maps(image, mask, params, device="cuda")
    assert sorted(gpu) == sorted(cpu) and len(cpu) == 18 + 24 + 5
    for name in cpu:
        np.testing.assert_allclose(
            sitk.GetArrayFromImage(gpu[name]), sitk.GetArrayFromImage(cpu[name]), rtol=1e-10, atol=1e-12
        )

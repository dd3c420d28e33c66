"""CUDA GLCM kernel: equal, count for count, to a naive NumPy reference, and its own cases.

The contract shared with the CPU kernel (equal counts, dispatcher, degenerate inputs, no CUDA) is tested in
``test_gpu_matrix_twins.py``.
"""

import numpy as np
import pytest
from numba import cuda

from spinerad.kernels.glcm import glcm_matrix
from spinerad.kernels.gpu_glcm import _glcm_on_device, gpu_glcm_matrix

pytestmark = pytest.mark.cudasim


def naive_glcm(levels, angles, n_levels):
    """Co-occurrence counts by the definition: every ROI voxel and its in-box ROI neighbour at each offset."""
    counts = np.zeros((len(angles), n_levels, n_levels))
    shape = np.array(levels.shape)
    for a, offset in enumerate(angles):
        for voxel in np.argwhere(levels >= 0):
            neighbour = voxel + offset
            if np.all(neighbour >= 0) and np.all(neighbour < shape) and levels[tuple(neighbour)] >= 0:
                counts[a, levels[tuple(voxel)], levels[tuple(neighbour)]] += 1
    return counts


@pytest.mark.parametrize("seed", range(100, 103))
def test_equals_naive_reference(random_case, seed):
    """CUDA counts equal the naive reference written from the definition."""
    levels, angles, n_levels = random_case(seed)
    assert np.array_equal(gpu_glcm_matrix(levels, angles, n_levels), naive_glcm(levels, angles, n_levels))


@pytest.mark.parametrize("method", ["shared", "global"])
@pytest.mark.parametrize("seed", [200, 201])
def test_both_kernels_equal_cpu(random_case, seed, method):
    """The shared-memory and the global-atomics kernel each give the CPU counts."""
    levels, angles, n_levels = random_case(seed)
    out = cuda.to_device(np.zeros((len(angles), n_levels, n_levels), dtype=np.uint32))
    _glcm_on_device(cuda.to_device(levels), cuda.to_device(angles), n_levels, out, method=method)
    assert np.array_equal(out.copy_to_host(), glcm_matrix(levels, angles, n_levels))


def test_hand_computed_row():
    """A 1-D row whose co-occurrences are counted by hand."""
    levels = np.array([[[0, 0, 1, -1, 1]]], dtype=np.int32)
    counts = gpu_glcm_matrix(levels, np.array([[0, 0, 1], [0, 0, -1]]), 2)
    # left to right: (0,0) (0,1); (1,-1) and (-1,1) are outside the ROI
    assert np.array_equal(counts[0], [[1, 1], [0, 0]])
    assert np.array_equal(counts[1], [[1, 0], [1, 0]])


def test_accepts_other_dtypes_and_layouts():
    """Other integer dtypes and Fortran order are cast as the CPU wrapper casts them."""
    levels = np.asfortranarray(np.array([[[0, 1], [1, 0]], [[1, 1], [0, -1]]], dtype=np.int64))
    angles = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.int32)
    assert np.array_equal(gpu_glcm_matrix(levels, angles, 2), glcm_matrix(levels.astype(np.int32), angles, 2))


@pytest.mark.parametrize(
    "levels, angles, n_levels, message",
    [
        (np.zeros((3, 4), dtype=np.int32), np.array([[0, 0, 1]]), 1, "3-D"),
        (np.zeros((1, 3, 4), dtype=np.int32), np.array([0, 0, 1]), 1, "n_angles, 3"),
        (np.full((1, 3, 4), 2, dtype=np.int32), np.array([[0, 0, 1]]), 2, "n_levels is 2"),
    ],
)
def test_rejects_inputs_that_would_write_out_of_bounds(levels, angles, n_levels, message):
    """Malformed inputs raise ValueError before any launch."""
    with pytest.raises(ValueError, match=message):
        gpu_glcm_matrix(levels, angles, n_levels)

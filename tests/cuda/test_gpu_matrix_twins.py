"""The contract both CUDA matrix twins share with their CPU kernels (GLCM, GLRLM), tested once for each.

Kernel-specific checks (naive references, hand-computed matrices, launch methods) stay in
``test_gpu_glcm.py`` and ``test_gpu_glrlm.py``.
"""

import numpy as np
import pytest

from spinerad import kernels
from spinerad.kernels.glcm import glcm_matrix
from spinerad.kernels.glrlm import glrlm_matrix
from spinerad.kernels.gpu_glcm import gpu_glcm_matrix
from spinerad.kernels.gpu_glrlm import gpu_glrlm_matrix

pytestmark = pytest.mark.cudasim

#: name -> (CUDA wrapper, CPU kernel, the dispatcher's entry)
TWINS = {
    "glcm": (gpu_glcm_matrix, glcm_matrix, kernels.glcm_matrix),
    "glrlm": (gpu_glrlm_matrix, glrlm_matrix, kernels.glrlm_matrix),
}

#: Empty ROI, no angle, and offsets longer than the box, per matrix.
DEGENERATE = [
    ("glcm", np.full((2, 3, 4), -1, dtype=np.int32), np.array([[0, 0, 1]]), 0),  # empty ROI
    ("glcm", np.zeros((2, 3, 4), dtype=np.int32), np.zeros((0, 3), dtype=np.int64), 1),  # no angle
    ("glcm", np.zeros((1, 1, 3), dtype=np.int32), np.array([[0, 0, 5]]), 1),  # offset longer than the box
    ("glrlm", np.full((2, 3, 4), -1, dtype=np.int32), np.array([[0, 0, 1]]), 0),  # empty ROI
    ("glrlm", np.zeros((2, 3, 4), dtype=np.int32), np.zeros((0, 3), dtype=np.int64), 1),  # no angle
    # offsets past the box
    ("glrlm", np.array([[[0, 1, 1]]], dtype=np.int32), np.array([[0, 0, 5], [0, -4, 0]]), 2),
]


@pytest.mark.parametrize("name", TWINS)
@pytest.mark.parametrize("seed", range(8))
def test_equals_cpu_kernel(random_case, name, seed):
    """CUDA counts equal the CPU kernel, count for count, on random volumes and angles."""
    gpu, cpu, _ = TWINS[name]
    levels, angles, n_levels = random_case(seed)
    result = gpu(levels, angles, n_levels)
    expected = cpu(levels, angles, n_levels)
    assert result.dtype == np.float64
    assert result.shape == expected.shape
    assert np.array_equal(result, expected)


@pytest.mark.parametrize("name", TWINS)
def test_dispatcher_routes_to_cuda(random_case, name):
    """The device dispatcher sends device="cuda" to the CUDA kernel."""
    _, cpu, dispatcher = TWINS[name]
    levels, angles, n_levels = random_case(3)
    assert np.array_equal(dispatcher(levels, angles, n_levels, device="cuda"), cpu(levels, angles, n_levels))


@pytest.mark.parametrize("name, levels, angles, n_levels", DEGENERATE)
def test_degenerate_inputs_match_cpu(name, levels, angles, n_levels):
    """Empty ROI, no angle and offsets longer than the box give what the CPU gives."""
    gpu, cpu, _ = TWINS[name]
    result = gpu(levels, angles, n_levels)
    expected = cpu(levels, angles, n_levels)
    assert result.shape == expected.shape
    assert np.array_equal(result, expected)


@pytest.mark.parametrize("name", TWINS)
def test_unavailable_cuda_raises_clear_error(unavailable_cuda, name):
    """Without CUDA the wrapper and the dispatcher raise the one clear RuntimeError."""
    gpu, _, dispatcher = TWINS[name]
    levels = np.zeros((1, 2, 2), dtype=np.int32)
    angles = np.array([[0, 0, 1]])
    with pytest.raises(RuntimeError, match="CUDA kernels unavailable: no CUDA GPU"):
        gpu(levels, angles, 1)
    with pytest.raises(RuntimeError, match="CUDA kernels unavailable"):
        dispatcher(levels, angles, 1, device="cuda")

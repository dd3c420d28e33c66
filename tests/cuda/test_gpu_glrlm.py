"""CUDA GLRLM kernel: equal, count for count, to the CPU kernel and to a naive NumPy reference."""

import numpy as np
import pytest

from spinerad import kernels
from spinerad.kernels.glrlm import glrlm_matrix
from spinerad.kernels.gpu_glrlm import _line_start_counts, gpu_glrlm_matrix

pytestmark = pytest.mark.cudasim


def naive_glrlm(levels, angles, n_levels):
    """Run-length counts by the definition, without walking lines.

    A run of grey level g along offset d starts at a ROI voxel of level g whose predecessor (voxel - d) is
    outside the box, outside the ROI or of another level; its length is the number of steps it keeps level
    g inside the ROI. An angle along which no two ROI voxels lie on one line (voxel + k d, k >= 1) is zeroed,
    as PyRadiomics does.
    """
    shape = np.array(levels.shape)
    counts = np.zeros((len(angles), n_levels, shape.max()))

    def level_at(point):
        inside = np.all(point >= 0) and np.all(point < shape)
        return levels[tuple(point)] if inside else -1

    for a, offset in enumerate(angles):
        several = False
        for voxel in np.argwhere(levels >= 0):
            g = levels[tuple(voxel)]
            point = voxel + offset
            while np.all(point >= 0) and np.all(point < shape):
                several = several or levels[tuple(point)] >= 0
                point = point + offset
            if level_at(voxel - offset) == g:
                continue
            length = 1
            while level_at(voxel + length * offset) == g:
                length += 1
            counts[a, g, length - 1] += 1
        if not several:
            counts[a] = 0
    return counts


@pytest.mark.parametrize("seed", range(8))
def test_equals_cpu_kernel(random_case, seed):
    """CUDA counts equal the CPU kernel, count for count, on random volumes and angles."""
    levels, angles, n_levels = random_case(seed)
    result = gpu_glrlm_matrix(levels, angles, n_levels)
    expected = glrlm_matrix(levels, angles, n_levels)
    assert result.dtype == np.float64
    assert result.shape == expected.shape
    assert np.array_equal(result, expected)


@pytest.mark.parametrize("seed", range(100, 103))
def test_equals_naive_reference(random_case, seed):
    """CUDA counts equal the naive reference written from the definition."""
    levels, angles, n_levels = random_case(seed)
    assert np.array_equal(gpu_glrlm_matrix(levels, angles, n_levels), naive_glrlm(levels, angles, n_levels))


def test_runs_hand_computed():
    """Runs of a 1-D row counted by hand, in both directions."""
    levels = np.array([[[0, 0, 0, 1, -1, 1, 1]]], dtype=np.int32)
    counts = gpu_glrlm_matrix(levels, np.array([[0, 0, 1], [0, 0, -1]]), 2)
    for direction in counts:
        assert direction[0, 2] == 1  # 0 0 0
        assert direction[1, 0] == 1  # the lone 1 before the hole
        assert direction[1, 1] == 1  # 1 1
        assert direction.sum() == 3


def test_flat_angle_is_zeroed():
    """PyRadiomics' rule: an angle whose lines hold one ROI voxel each is zeroed."""
    # One row along x: along z every line holds a single ROI voxel, so PyRadiomics zeroes that angle;
    # along x the row's runs count, and a line with two ROI voxels apart (a hole between) also counts.
    levels = np.array([[[0, 1, 0]], [[-1, -1, -1]]], dtype=np.int32)
    counts = gpu_glrlm_matrix(levels, np.array([[1, 0, 0], [0, 0, 1]]), 2)
    assert counts[0].sum() == 0
    assert counts[1].sum() == 3
    gapped = gpu_glrlm_matrix(np.array([[[0, -1, 1]]], dtype=np.int32), np.array([[0, 0, 1]]), 2)
    assert gapped.sum() == 2


def test_line_starts_are_the_voxels_without_predecessor():
    """The slab count of line starts equals a brute-force count."""
    shape = (3, 4, 5)
    angles = np.array([[1, 0, 0], [0, -1, 1], [-1, 1, -1], [0, 0, 2], [2, -2, 0], [0, 0, 9]])
    grid = np.indices(shape).reshape(3, -1).T
    for offset, count in zip(angles, _line_start_counts(shape, angles), strict=True):
        before = grid - offset
        outside = np.any((before < 0) | (before >= np.array(shape)), axis=1)
        assert count == outside.sum()


def test_dispatcher_routes_to_cuda(random_case):
    """The device dispatcher sends device="cuda" to this kernel."""
    levels, angles, n_levels = random_case(3)
    assert np.array_equal(
        kernels.glrlm_matrix(levels, angles, n_levels, device="cuda"), glrlm_matrix(levels, angles, n_levels)
    )


@pytest.mark.parametrize(
    "levels, angles, n_levels",
    [
        (np.full((2, 3, 4), -1, dtype=np.int32), np.array([[0, 0, 1]]), 0),  # empty ROI
        (np.zeros((2, 3, 4), dtype=np.int32), np.zeros((0, 3), dtype=np.int64), 1),  # no angle
        # offsets past the box
        (np.array([[[0, 1, 1]]], dtype=np.int32), np.array([[0, 0, 5], [0, -4, 0]]), 2),
    ],
)
def test_degenerate_inputs_match_cpu(levels, angles, n_levels):
    """Empty ROI, no angle and offsets longer than the box give what the CPU gives."""
    result = gpu_glrlm_matrix(levels, angles, n_levels)
    expected = glrlm_matrix(levels, angles, n_levels)
    assert result.shape == expected.shape
    assert np.array_equal(result, expected)


def test_rejects_level_out_of_range():
    """A level index >= n_levels raises ValueError before any launch."""
    with pytest.raises(ValueError, match="n_levels is 1"):
        gpu_glrlm_matrix(np.ones((1, 2, 2), dtype=np.int32), np.array([[0, 0, 1]]), 1)


def test_unavailable_cuda_raises_clear_error(unavailable_cuda):
    """Without CUDA the wrapper and the dispatcher raise the one clear RuntimeError."""
    levels = np.zeros((1, 2, 2), dtype=np.int32)
    angles = np.array([[0, 0, 1]])
    with pytest.raises(RuntimeError, match="CUDA kernels unavailable: no CUDA GPU"):
        gpu_glrlm_matrix(levels, angles, 1)
    with pytest.raises(RuntimeError, match="CUDA kernels unavailable"):
        kernels.glrlm_matrix(levels, angles, 1, device="cuda")

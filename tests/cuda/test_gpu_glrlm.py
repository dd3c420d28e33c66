"""CUDA GLRLM kernel: equal, count for count, to a naive NumPy reference, and its own cases.

The contract shared with the CPU kernel (equal counts, dispatcher, degenerate inputs, no CUDA) is tested in
``test_gpu_matrix_twins.py``.
"""

import numpy as np
import pytest

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


def test_rejects_level_out_of_range():
    """A level index >= n_levels raises ValueError before any launch."""
    with pytest.raises(ValueError, match="n_levels is 1"):
        gpu_glrlm_matrix(np.ones((1, 2, 2), dtype=np.int32), np.array([[0, 0, 1]]), 1)

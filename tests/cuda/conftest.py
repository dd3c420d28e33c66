"""CUDA kernel tests: collected only under the Numba CUDA simulator or on a machine with a real GPU.

``NUMBA_ENABLE_CUDASIM`` must be set before Numba is first imported and then holds for the whole process,
so the simulator run is its own pytest process::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

The default run (``python -m pytest``) skips collecting these files on a machine without a GPU; on a
machine with one, they run there against the real device.
"""

import os
import warnings

import numpy as np
import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _real_gpu():
    # pytest turns warnings into errors while it imports conftests; a warning from the probe (a deprecation
    # in numba-cuda, say) must not pass for "no GPU" and silently drop the whole CUDA suite.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from numba import cuda

            return bool(cuda.is_available())
        except Exception:  # no CUDA target, or a driver probe that fails: either way no GPU to test on
            return False


if not (SIMULATOR or _real_gpu()):
    collect_ignore_glob = ["test_*.py"]


#: Block size for the tests: the simulator runs a Python thread per CUDA thread, so tiny blocks keep it
#: fast and make even a 6x7x8 volume span many blocks; on a GPU one warp still gives many blocks.
TEST_THREADS_PER_BLOCK = 8 if SIMULATOR else 32


@pytest.fixture(autouse=True)
def no_low_occupancy_warnings():
    """Let tiny test grids launch on a real GPU without failing on numba-cuda's occupancy advice.

    numba-cuda warns on grids under 128 blocks with its own ``NumbaPerformanceWarning`` class, which the
    project-wide ignore of ``numba.core.errors.NumbaPerformanceWarning`` does not cover; the simulator never
    warns.
    """
    try:
        from numba.cuda.core.errors import NumbaPerformanceWarning
    except ImportError:  # numba's own CUDA target raises numba.core's class
        from numba.core.errors import NumbaPerformanceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        yield


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Launch many small blocks, so block-boundary and cross-block merge bugs show on tiny volumes."""
    from spinerad.kernels import _config

    monkeypatch.setattr(_config, "THREADS_PER_BLOCK", TEST_THREADS_PER_BLOCK)
    return TEST_THREADS_PER_BLOCK


def _random_levels(rng, shape, n_levels, roi_fraction):
    """int32 compact levels with a random ROI (holes included) that uses every level 0..n_levels-1 once."""
    levels = rng.integers(0, n_levels, size=shape).astype(np.int32)
    levels[rng.random(shape) >= roi_fraction] = -1
    # Pin every level into the ROI so ``n_levels`` is the true count of levels present, as in the pipeline.
    flat = levels.reshape(-1)
    spots = rng.choice(flat.size, size=min(n_levels, flat.size), replace=False)
    flat[spots] = np.arange(spots.size, dtype=np.int32)
    return levels


@pytest.fixture
def unavailable_cuda(monkeypatch):
    """Make ``require_cuda`` report CUDA as unavailable.

    ``cuda_unavailable_reason`` is lru-cached, so the function itself is patched.
    """
    from spinerad.kernels import _cuda

    reason = "no CUDA GPU or driver was found (test)"
    monkeypatch.setattr(_cuda, "cuda_unavailable_reason", lambda: reason)
    return reason


def _random_case(seed, max_shape=(6, 7, 8)):
    """Draw a random small volume, its angles and level count: the inputs of a matrix kernel.

    Shapes include flat ones (an axis of 1), distances 1, 2 or both, with and without ``force2D``; the
    costly 3-D (1, 2) case (62 angles) is limited to 3-D boxes no larger than 4x4x4 to keep the simulator
    quick.
    """
    from spinerad.kernels import generate_angles

    rng = np.random.default_rng(seed)
    shape = tuple(int(rng.integers(1, m + 1)) for m in max_shape)
    distances = [(1,), (2,), (1, 2)][int(rng.integers(3))]
    force2d = bool(rng.random() < 0.4)
    if distances == (1, 2) and not force2d:
        shape = tuple(min(s, 4) for s in shape)
    n_levels = int(rng.integers(1, 6))
    levels = _random_levels(rng, shape, n_levels, roi_fraction=rng.uniform(0.3, 1.0))
    angles = generate_angles(shape, distances, force2d=force2d, force2d_axis=int(rng.integers(3)))
    return levels, angles, n_levels


@pytest.fixture
def random_case():
    """``random_case(seed) -> (levels, angles, n_levels)``; see :func:`_random_case`."""
    return _random_case


def _random_voxel_case(seed, n_levels_max=6):
    """Draw the inputs of a feature-map kernel: compact levels on a small grid and a few kernel centres.

    Returns ``(rng, levels, coords, radius, axis2d, grey_levels, distances, force2d, axis)``: masked or
    unmasked kernels (levels -1 outside the ROI or not), every level index present as in the pipeline,
    kernel radius 1 or 2, ``force2D`` on a random axis (``axis2d`` -1 without), distances 1 or (1, 2).
    """
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
    force2d = bool(rng.random() < 0.3)
    axis = int(rng.integers(0, 3))
    distances = [(1,), (1, 2)][int(rng.integers(0, 2))]
    radius = int(rng.integers(1, 3))
    return rng, levels, coords, radius, axis if force2d else -1, grey_levels, distances, force2d, axis


@pytest.fixture
def random_voxel_case():
    """``random_voxel_case(seed, n_levels_max=6)``; see :func:`_random_voxel_case`."""
    return _random_voxel_case


def _most_levels_per_kernel(levels, coords, radius):
    """The most distinct levels in any kernel box around ``coords`` (unmasked levels, clipped at the grid)."""
    return max(
        len(np.unique(box[box >= 0]))
        for box in (levels[max(z - radius, 0) : z + radius + 1, max(y - radius, 0) : y + radius + 1,
                           max(x - radius, 0) : x + radius + 1] for z, y, x in coords)
    )  # fmt: skip


@pytest.fixture
def most_levels_per_kernel():
    """``most_levels_per_kernel(levels, coords, radius)``; see :func:`_most_levels_per_kernel`."""
    return _most_levels_per_kernel


def _assert_pipeline_maps_equal(seed, setting, classes, n_maps):
    """``spinerad.voxel.feature_maps`` with device='cuda' gives the CPU maps (radius 1, a random 5x6x6 case)."""
    import SimpleITK as sitk

    import spinerad.voxel as voxel_maps

    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.normal(100, 20, size=(5, 6, 6)))
    mask_array = np.zeros((5, 6, 6), dtype=np.uint8)
    mask_array[1:4, 2:4, 1:5] = rng.random((3, 2, 4)) < 0.7
    mask_array[2, 2, 2] = 1
    mask = sitk.GetImageFromArray(mask_array)
    params = {
        "setting": setting,
        "featureClass": {name: [] for name in classes},
        "voxelSetting": {"kernelRadius": 1},
    }
    cpu = voxel_maps.feature_maps(image, mask, params)
    gpu = voxel_maps.feature_maps(image, mask, params, device="cuda")
    assert sorted(gpu) == sorted(cpu) and len(cpu) == n_maps
    for name in cpu:
        np.testing.assert_allclose(
            sitk.GetArrayFromImage(gpu[name]), sitk.GetArrayFromImage(cpu[name]), rtol=1e-10, atol=1e-12
        )


@pytest.fixture
def assert_pipeline_maps_equal():
    """``assert_pipeline_maps_equal(seed, setting, classes, n_maps)``; see :func:`_assert_pipeline_maps_equal`."""
    return _assert_pipeline_maps_equal

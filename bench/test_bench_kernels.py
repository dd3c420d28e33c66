"""GLCM matrix kernel vs the plain scatter-add bound on the same voxel pairs.

The bound does only what any co-occurrence count must do: one ``out[idx] += 1`` per valid voxel pair,
reading a precomputed flat index ``angle * Ng * Ng + i * Ng + j`` per pair (built outside the timing, in
the kernel's own traversal order). It skips everything the real kernel also has to do: walking the
cropped box, reading two levels per pair and testing both against the ROI. Two flavours:

- ``bound-serial``: one thread, one pass over the index stream;
- ``bound-parallel``: the stream cut into one contiguous chunk per Numba thread, each chunk counting into
  its own matrix, summed at the end (race-free and perfectly balanced).

``kernel`` is :func:`spinerad.kernels.glcm_matrix` (one angle per thread). Before timing, all three run
once (JIT warm-up) and must return the same counts. The session summary prints voxel pairs per second
(pairs / median) and the ratio kernel / fastest bound (target <= 2).
"""

import numpy as np
import pytest
from numba import get_num_threads, njit, prange

from spinerad.kernels import generate_angles, glcm_matrix


@njit(nogil=True, cache=True)
def _scatter_serial(flat_index, out):
    for k in range(flat_index.shape[0]):
        out[flat_index[k]] += 1.0


@njit(nogil=True, cache=True, parallel=True)
def _scatter_parallel(flat_index, chunk_starts, partial):
    for c in prange(partial.shape[0]):
        counts = partial[c]
        for k in range(chunk_starts[c], chunk_starts[c + 1]):
            counts[flat_index[k]] += 1.0


def bound_serial(flat_index, size):
    """Co-occurrence counts (flat) by one serial scatter-add over the pair stream."""
    out = np.zeros(size)
    _scatter_serial(flat_index, out)
    return out


def bound_parallel(flat_index, size, n_chunks):
    """Co-occurrence counts (flat) by per-chunk scatter-adds in parallel, then a serial sum."""
    partial = np.zeros((n_chunks, size))
    chunk_starts = np.linspace(0, flat_index.shape[0], n_chunks + 1).astype(np.int64)
    _scatter_parallel(flat_index, chunk_starts, partial)
    return partial.sum(axis=0)


def valid_pair_index(levels, angles, n_levels):
    """Flat matrix index of every valid (centre, neighbour) pair, angle by angle in C order (int32)."""
    n_z, n_y, n_x = levels.shape
    parts = []
    for a, (dz, dy, dx) in enumerate(angles):
        z0, z1 = max(0, -dz), min(n_z, n_z - dz)
        y0, y1 = max(0, -dy), min(n_y, n_y - dy)
        x0, x1 = max(0, -dx), min(n_x, n_x - dx)
        centre = levels[z0:z1, y0:y1, x0:x1]
        neighbour = levels[z0 + dz : z1 + dz, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        valid = (centre >= 0) & (neighbour >= 0)
        parts.append((a * n_levels + centre[valid].astype(np.int64)) * n_levels + neighbour[valid])
    flat_index = np.concatenate(parts)
    assert flat_index.max() < np.iinfo(np.int32).max
    return flat_index.astype(np.int32)


def synthetic_roi():
    """128 x 128 x 64 voxels, all in the ROI, 32 grey levels drawn uniformly (seeded)."""
    rng = np.random.default_rng(20240601)
    return rng.integers(0, 32, size=(64, 128, 128), dtype=np.int32), 32


def lung2_roi(load_case, bin_width=25):
    """lung2's ROI cropped to its box and discretised as PyRadiomics does: compact levels, -1 outside.

    Plain NumPy on purpose (only the public kernel API is benchmarked): fixed bin width, edges from
    ``min - min % width``, ``numpy.digitize``, absent levels dropped.
    """
    import SimpleITK as sitk

    image, mask = load_case("lung2")
    in_mask = sitk.GetArrayViewFromImage(mask) == 1
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(in_mask))
    in_roi = in_mask[box]
    values = sitk.GetArrayViewFromImage(image)[box][in_roi]
    low = values.min() - values.min() % bin_width
    bins = np.digitize(values, np.arange(low, values.max() + 2 * bin_width, bin_width))
    present, compact = np.unique(bins, return_inverse=True)
    levels = np.full(in_roi.shape, -1, dtype=np.int32)
    levels[in_roi] = compact
    return levels, len(present)


@pytest.fixture(
    scope="module", params=["synthetic-128x128x64-ng32", pytest.param("lung2", marks=pytest.mark.shared)]
)
def roi(request, load_case):
    """(name, levels, angles, Ng, flat pair index, matrix size); the three implementations cross-checked."""
    if request.param == "lung2":
        levels, n_levels = lung2_roi(load_case)
    else:
        levels, n_levels = synthetic_roi()
    angles = generate_angles(levels.shape)
    flat_index = valid_pair_index(levels, angles, n_levels)
    size = len(angles) * n_levels * n_levels
    # Warm every JIT and check that all three count exactly the same pairs.
    expected = glcm_matrix(levels, angles, n_levels).ravel()
    assert expected.sum() == flat_index.shape[0]
    np.testing.assert_array_equal(bound_serial(flat_index, size), expected)
    np.testing.assert_array_equal(bound_parallel(flat_index, size, get_num_threads()), expected)
    return request.param, levels, angles, n_levels, flat_index, size


def _label(benchmark, roi, side):
    name, *_, flat_index, _ = roi
    benchmark.group = f"glcm-kernel[{name}]"
    benchmark.extra_info["side"] = side
    benchmark.extra_info["pairs"] = int(flat_index.shape[0])


def test_glcm_kernel(benchmark, roi):
    """spinerad.kernels.glcm_matrix (wrapper included: it allocates the output, as the bounds do)."""
    _label(benchmark, roi, "kernel")
    _, levels, angles, n_levels, flat_index, _ = roi
    counts = benchmark(glcm_matrix, levels, angles, n_levels)
    assert counts.sum() == flat_index.shape[0]


def test_scatter_bound_serial(benchmark, roi):
    """One thread, one scatter-add per valid pair."""
    _label(benchmark, roi, "bound-serial")
    *_, flat_index, size = roi
    counts = benchmark(bound_serial, flat_index, size)
    assert counts.sum() == flat_index.shape[0]


def test_scatter_bound_parallel(benchmark, roi):
    """One private matrix per thread over a contiguous chunk of pairs, summed at the end."""
    _label(benchmark, roi, "bound-parallel")
    *_, flat_index, size = roi
    counts = benchmark(bound_parallel, flat_index, size, get_num_threads())
    assert counts.sum() == flat_index.shape[0]

"""Slow, obviously-correct reference implementations of the texture matrices (pure Python/NumPy loops)."""

import numpy as np


def naive_glcm(levels, angles, n_levels):
    """Count (centre level, neighbour level) pairs for each offset; levels < 0 are outside the ROI."""
    out = np.zeros((len(angles), n_levels, n_levels))
    n_z, n_y, n_x = levels.shape
    for a, (dz, dy, dx) in enumerate(angles):
        for z, y, x in np.ndindex(levels.shape):
            nz, ny, nx = z + dz, y + dy, x + dx
            if not (0 <= nz < n_z and 0 <= ny < n_y and 0 <= nx < n_x):
                continue
            i, j = levels[z, y, x], levels[nz, ny, nx]
            if i >= 0 and j >= 0:
                out[a, i, j] += 1
    return out


def naive_glrlm(levels, angles, n_levels):
    """Runs of equal level along each offset; an offset with no line holding 2+ ROI voxels is zeroed."""
    n_runs = max(levels.shape)
    out = np.zeros((len(angles), n_levels, n_runs))
    shape = np.array(levels.shape)
    for a, step in enumerate(np.asarray(angles)):
        several = False
        for start in np.ndindex(levels.shape):
            before = np.array(start) - step
            if np.all((before >= 0) & (before < shape)):
                continue  # not the first voxel of its line
            line = []
            point = np.array(start)
            while np.all((point >= 0) & (point < shape)):
                line.append(levels[tuple(point)])
                point = point + step
            several |= sum(v >= 0 for v in line) > 1
            run_level, run_length = -1, 0
            for v in line + [-1]:
                if v >= 0 and v == run_level:
                    run_length += 1
                    continue
                if run_level >= 0:
                    out[a, run_level, run_length - 1] += 1
                run_level, run_length = v, 1
        if not several:
            out[a] = 0
    return out


def random_levels(rng, shape, n_levels, roi_fraction=0.7):
    """Random compact-level volume with -1 holes."""
    levels = rng.integers(0, n_levels, size=shape).astype(np.int32)
    levels[rng.random(shape) > roi_fraction] = -1
    return levels

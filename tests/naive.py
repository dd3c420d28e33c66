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


def _neighbours(point, angles, shape):
    """In-bounds voxels at ``point + offset`` for every offset (offsets already hold both directions)."""
    for offset in angles:
        neighbour = tuple(int(p + o) for p, o in zip(point, offset, strict=True))
        if all(0 <= n < s for n, s in zip(neighbour, shape, strict=True)):
            yield neighbour


def naive_glszm(levels, angles, n_levels):
    """Zones: connected sets of equal level under the (bidirectional) offsets; counts (level, size - 1).

    Returns (n_levels, number of ROI voxels): a zone can be at most as large as the ROI.
    """
    n_voxels = int(np.sum(levels >= 0))
    out = np.zeros((n_levels, max(n_voxels, 1)))
    seen = np.zeros(levels.shape, dtype=bool)
    for start in np.ndindex(levels.shape):
        level = levels[start]
        if level < 0 or seen[start]:
            continue
        seen[start] = True
        zone, frontier = 1, [start]
        while frontier:
            point = frontier.pop()
            for neighbour in _neighbours(point, angles, levels.shape):
                if not seen[neighbour] and levels[neighbour] == level:
                    seen[neighbour] = True
                    zone += 1
                    frontier.append(neighbour)
        out[level, zone - 1] += 1
    return out


def naive_gldm(levels, angles, grey_levels, alpha):
    """Per ROI voxel, the number of ROI neighbours whose real level differs by at most ``alpha``.

    Returns (n_levels, len(angles) + 1): column k counts voxels with k dependent neighbours.
    """
    out = np.zeros((len(grey_levels), len(angles) + 1))
    for point in np.ndindex(levels.shape):
        level = levels[point]
        if level < 0:
            continue
        dependent = 0
        for neighbour in _neighbours(point, angles, levels.shape):
            other = levels[neighbour]
            if other >= 0 and abs(grey_levels[level] - grey_levels[other]) <= alpha:
                dependent += 1
        out[level, dependent] += 1
    return out


def naive_ngtdm(levels, angles, grey_levels):
    """Per level: voxel count and sum of |level - mean level of the ROI neighbours| (0 without neighbours).

    Returns (n_levels, 2).
    """
    out = np.zeros((len(grey_levels), 2))
    for point in np.ndindex(levels.shape):
        level = levels[point]
        if level < 0:
            continue
        values = [grey_levels[levels[n]] for n in _neighbours(point, angles, levels.shape) if levels[n] >= 0]
        difference = abs(grey_levels[level] - sum(values) / len(values)) if values else 0.0
        out[level, 0] += 1
        out[level, 1] += difference
    return out

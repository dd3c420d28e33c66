"""Neighbour offsets ("angles") for the texture matrices, in PyRadiomics' order and with its pruning rules.

An angle is a (dz, dy, dx) offset. For each requested distance d, the angles are the offsets whose infinity
norm is d, that fit inside the ROI bounding box (|offset| < size per axis) and that do not move along the
axis excluded by ``force2D``. Only one of each pair (a, -a) is kept unless ``bidirectional``. The order is
PyRadiomics': offsets run from +max_d down to -max_d, slowest on the first axis, which is what makes
``nanmean`` over directions and the per-direction matrices line up with the reference.
"""

from functools import lru_cache

import numpy as np


def _angle_count(size, distances, force2d_axis, bidirectional):
    """Number of angles PyRadiomics generates (its counting rule, duplicated distances included)."""
    total = 0
    for d in distances:
        full, inner = 1, 1
        for axis, extent in enumerate(size):
            if axis == force2d_axis:
                continue
            if d < extent:
                full *= 2 * d + 1
                inner *= 2 * d - 1
            else:
                full *= 2 * (extent - 1) + 1
                inner *= 2 * (extent - 1) + 1
        total += full - inner
    return total if bidirectional else total // 2


def generate_angles(size, distances=(1,), force2d=False, force2d_axis=0, bidirectional=False):
    """Return the neighbour offsets for a ROI bounding box of ``size`` (z, y, x).

    Parameters
    ----------
    size : sequence of int
        Bounding-box size per axis, in array (z, y, x) order.
    distances : sequence of int
        Infinity-norm distances (each >= 1).
    force2d : bool
        Keep only in-plane offsets (zero along ``force2d_axis``).
    force2d_axis : int
        Axis that is held fixed when ``force2d`` is set.
    bidirectional : bool
        Keep both a and -a.

    Returns
    -------
    numpy.ndarray
        int64 array of shape (n_angles, 3).
    """
    distances = tuple(int(d) for d in distances)
    if any(d < 1 for d in distances):
        raise ValueError("distances must be >= 1")
    # An extent beyond max(d) + 1 prunes nothing more, so every larger box shares one cached answer
    # (the enumeration below is pure Python: it cost more than some matrix kernels when called per class).
    limit = max(distances, default=0) + 1
    key_size = tuple(min(int(s), limit) for s in size)
    options = (bool(force2d), int(force2d_axis), bool(bidirectional))
    return np.array(_cached_angles(key_size, distances, *options))


@lru_cache(maxsize=256)
def _cached_angles(size, distances, force2d, force2d_axis, bidirectional):
    excluded = force2d_axis if force2d else -1
    n_angles = _angle_count(size, distances, excluded, bidirectional)
    max_d = max(distances)
    wanted = set(distances)
    span = range(max_d, -max_d - 1, -1)
    valid = []
    for dz in span:
        for dy in span:
            for dx in span:
                offset = (dz, dy, dx)
                if any(o != 0 for axis, o in enumerate(offset) if axis == excluded):
                    continue
                if any(abs(o) >= extent for o, extent in zip(offset, size, strict=True)):
                    continue
                if max(abs(o) for o in offset) in wanted:
                    valid.append(offset)
    if not valid:
        return np.zeros((0, 3), dtype=np.int64)
    # Duplicated distances make the count exceed the valid offsets; PyRadiomics then wraps around and
    # repeats them from the start, and so do we.
    repeats = -(-n_angles // len(valid))
    return np.array((valid * repeats)[:n_angles], dtype=np.int64).reshape(-1, 3)

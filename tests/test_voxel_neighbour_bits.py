"""The neighbour bit masks of the GLDM and GLSZM feature maps, against their definitions."""

import numpy as np
import pytest

from spinerad.kernels import generate_angles
from spinerad.kernels.voxel_neighbour_bits import (
    WORD,
    batch_region,
    inbox_table,
    lowest_bit,
    popcount,
    region_bits,
)


def test_popcount_and_lowest_bit_on_random_words():
    rng = np.random.default_rng(0)
    for x in [1, 2**31, 2**32 - 1, *rng.integers(1, 2**32, size=200).tolist()]:
        assert popcount(x) == bin(x).count("1")
        index, rest = lowest_bit(x)
        assert index == (x & -x).bit_length() - 1 and rest == x - (1 << index)
    assert popcount(0) == 0


@pytest.mark.parametrize("seed", range(4))
def test_region_bits_and_inbox_table_follow_the_definition(seed):
    """A box voxel's in-box matching neighbours, from the bits, equal a direct test of every offset."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(3, 7, size=3))
    levels = rng.integers(-1, 4, size=shape).astype(np.int32)
    grey = np.array([1.0, 2.0, 4.0, 5.0])
    distances = [(1,), (1, 2)][seed % 2]
    angles = generate_angles(shape, distances, False, 0, bidirectional=True)
    alpha = float(seed % 3)
    radius = 1 + seed % 2
    coords = np.argwhere(levels >= 0)[:6].astype(np.int64)
    region = batch_region(shape, coords, radius, -1)
    bits = region_bits(levels, region, angles, grey, alpha)
    inbox = inbox_table(angles, radius)
    for z, y, x in coords:
        z0, y0, x0 = (max(c - radius, 0) for c in (z, y, x))
        z1, y1, x1 = (min(c + radius, n - 1) for c, n in zip((z, y, x), shape, strict=True))
        size = (z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1)
        for p in np.ndindex(*size):
            point = np.array((z0, y0, x0)) + p
            if levels[tuple(point)] < 0:
                continue
            word = bits[tuple(point - region[:3])].copy()
            for axis in range(3):
                word &= inbox[axis, size[axis] - 1, p[axis]]
            for a, offset in enumerate(angles):
                q = np.array(p) + offset
                inside = all(0 <= q[d] < size[d] for d in range(3))
                match = inside and levels[tuple(point + offset)] >= 0
                match = (
                    match and abs(grey[levels[tuple(point)]] - grey[levels[tuple(point + offset)]]) <= alpha
                )
                assert bool((word[a // WORD] >> (a % WORD)) & 1) == match

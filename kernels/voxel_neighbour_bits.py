"""Neighbour bit masks for the GLDM and GLSZM feature maps: each voxel's matching neighbours, found once.

A kernel box of radius r holds (2 r + 1)^3 voxels and each has up to 26 neighbours (distance 1), so testing
them again in every box that holds the voxel repeats the same work (2 r + 1)^3 times. Here each voxel of
the region the batch's boxes cover gets, once, a bit per neighbour offset: set when the neighbour is on the
grid, valid and within ``alpha`` of the voxel's real level (GLDM's dependence; with ``alpha`` 0 the
same-level neighbours GLSZM's zones connect). Which offsets stay *inside* a box depends only on the box's
size and the voxel's place in it, per axis: :func:`inbox_table` tabulates that, and a box voxel's in-box
matching neighbours are ``bits & inbox_z & inbox_y & inbox_x``. Words of :data:`WORD` bits, so any
``distances`` setting fits. Plain-Python bodies (:data:`BODIES`): one source for the CPU and CUDA.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL

#: Bits used per int64 word (32 keeps every product below 2**63 in :func:`popcount`).
WORD = 32

#: Bit index of a power of two from its de Bruijn product (``(bit * 0x077CB531) & 0xFFFFFFFF) >> 27``).
DE_BRUIJN = np.zeros(32, dtype=np.int64)
for _k in range(32):
    DE_BRUIJN[((1 << _k) * 0x077CB531 & 0xFFFFFFFF) >> 27] = _k


def n_words(n_angles):
    """Words of :data:`WORD` bits holding one bit per neighbour offset."""
    return max(1, (n_angles + WORD - 1) // WORD)


def popcount_body(x):
    """Set bits of ``x`` (0 <= x < 2**32), by parallel bit sums."""
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


def lowest_bit_body(x):
    """(index of the lowest set bit of ``x`` (0 < x < 2**32), ``x`` without it)."""
    low = x & -x
    return DE_BRUIJN[((low * 0x077CB531) & 0xFFFFFFFF) >> 27], x ^ low


def neighbour_bits_body(levels, z, y, x, angles, grey_levels, alpha, bits):
    """Set bit ``a`` of ``bits`` (words) when voxel (z, y, x) + ``angles[a]`` matches.

    It matches when it is on the grid, valid and within ``alpha`` of the voxel's real level; ``bits`` is
    all zero for a voxel that is not valid.
    """
    for w in range(bits.shape[0]):
        bits[w] = 0
    i = levels[z, y, x]
    if i < 0:
        return
    gi = grey_levels[i]
    n_z, n_y, n_x = levels.shape
    for a in range(angles.shape[0]):
        nz, ny, nx = z + angles[a, 0], y + angles[a, 1], x + angles[a, 2]
        if 0 <= nz < n_z and 0 <= ny < n_y and 0 <= nx < n_x:
            j = levels[nz, ny, nx]
            if j >= 0 and abs(gi - grey_levels[j]) <= alpha:
                bits[a // WORD] |= 1 << (a % WORD)


def inbox_table_body(angles, span, table):
    """Fill ``table[axis, s - 1, p, w]``: the offsets that stay inside a box of size ``s`` along ``axis``.

    From position ``p`` of the box (words of bits), for every size up to ``span``.
    """
    for axis in range(3):
        for s in range(span):
            for p in range(span):
                for w in range(table.shape[3]):
                    table[axis, s, p, w] = 0
                if p > s:
                    continue
                for a in range(angles.shape[0]):
                    q = p + angles[a, axis]
                    if 0 <= q <= s:
                        table[axis, s, p, a // WORD] |= 1 << (a % WORD)


def box_neighbours_body(bits, oz, oy, ox, inbox, sz, sy, sx, bz, by, bx, w):
    """Word ``w`` of box voxel (bz, by, bx)'s matching neighbours inside its box.

    ``bits`` covers the batch region, the box sits at (oz, oy, ox) in it.
    """
    return (
        bits[oz + bz, oy + by, ox + bx, w]
        & inbox[0, sz - 1, bz, w]
        & inbox[1, sy - 1, by, w]
        & inbox[2, sx - 1, bx, w]
    )


popcount = njit(**JIT)(popcount_body)
lowest_bit = njit(**JIT)(lowest_bit_body)
neighbour_bits = njit(**JIT)(neighbour_bits_body)
inbox_table_fill = njit(**JIT)(inbox_table_body)
box_neighbours = njit(**JIT)(box_neighbours_body)

#: The bodies shared with the CUDA twins, by the names the compiled functions carry, callees first.
BODIES = (
    ("popcount", popcount_body),
    ("lowest_bit", lowest_bit_body),
    ("neighbour_bits", neighbour_bits_body),
    ("box_neighbours", box_neighbours_body),
)


@njit(**JIT)
def inbox_table(angles, radius):
    """:func:`inbox_table_body` for boxes of ``radius`` (int64 (3, span, span, words))."""
    span = 2 * radius + 1
    table = np.empty((3, span, span, n_words_jit(angles.shape[0])), dtype=np.int64)
    inbox_table_fill(angles, span, table)
    return table


n_words_jit = njit(**JIT)(n_words)


@njit(**JIT)
def batch_region(shape, coords, radius, axis2d):
    """(z0, y0, x0, nz, ny, nx): the part of the grid the kernel boxes of ``coords`` cover."""
    lo = [shape[0], shape[1], shape[2]]
    hi = [-1, -1, -1]
    for v in range(coords.shape[0]):
        for d in range(3):
            lo[d] = min(lo[d], coords[v, d])
            hi[d] = max(hi[d], coords[v, d])
    out = np.empty(6, dtype=np.int64)
    for d in range(3):
        r = 0 if axis2d == d else radius
        out[d] = max(lo[d] - r, 0)
        out[3 + d] = min(hi[d] + r, shape[d] - 1) - out[d] + 1
    return out


@njit(**JIT_PARALLEL)
def region_bits(levels, region, angles, grey_levels, alpha):
    """:func:`neighbour_bits` of every voxel of ``region`` (from :func:`batch_region`): (nz, ny, nx, words)."""
    z0, y0, x0, nz, ny, nx = region[0], region[1], region[2], region[3], region[4], region[5]
    bits = np.empty((nz, ny, nx, n_words_jit(angles.shape[0])), dtype=np.int64)
    for dz in prange(nz):
        for dy in range(ny):
            for dx in range(nx):
                neighbour_bits(
                    levels, z0 + dz, y0 + dy, x0 + dx, angles, grey_levels, alpha, bits[dz, dy, dx]
                )
    return bits


__all__ = ["BODIES", "WORD", "batch_region", "inbox_table", "n_words", "region_bits"]

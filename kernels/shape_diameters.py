"""Maximum diameters of a shape mesh: the largest vertex-to-vertex distances, in 3D and per plane.

The largest distance between two mesh vertices, in 3D and among vertices sharing a z (slice), y (column) or
x (row) coordinate. PyRadiomics compares all vertex pairs (quadratic); here the vertices are grouped into
spatial cells and a pair of cells is skipped when an upper bound of its distances cannot beat the best
distance found so far. The bound is evaluated with the same rounded operations as a vertex distance, which
are monotonic, so a skipped pair can never be the maximum: the result is the very maximum PyRadiomics finds,
bit for bit.
"""

import math

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL

# Vertices per spatial cell aimed at by the diameter search: the search costs ~(n / k)^2 cell-bound tests
# plus ~k^2 distances per cell pair it cannot skip (a few dozen pairs), so k grows like sqrt(n).
_MIN_VERTICES_PER_CELL = 32
# Most promising cell pairs per maximum searched in full first, to prune the rest against.
_SEED_PAIRS = 8


@njit(**JIT)
def _pair_maxima(vz, vy, vx, i0, i1, j0, j1, same_cell, m_slice, m_column, m_row, m_3d):
    """Raise the four squared maxima over the vertex pairs of two cells (i < j within one cell).

    The distance is PyRadiomics' expression ((dz² + dy²) + dx²); a plane diameter takes only pairs whose
    coordinate on that axis is exactly equal.
    """
    for i in range(i0, i1):
        az = vz[i]
        ay = vy[i]
        ax = vx[i]
        start = i + 1 if same_cell else j0
        for j in range(start, j1):
            dz = az - vz[j]
            dy = ay - vy[j]
            dx = ax - vx[j]
            d = dz * dz + dy * dy + dx * dx
            if d > m_3d:
                m_3d = d
            if az == vz[j] and d > m_slice:
                m_slice = d
            if ay == vy[j] and d > m_column:
                m_column = d
            if ax == vx[j] and d > m_row:
                m_row = d
    return m_slice, m_column, m_row, m_3d


@njit(**JIT)
def _cell_bounds(lo, hi, a, b):
    """Upper bounds of the four squared distances over the pairs of cells a and b (-1: no such pair).

    Each per-axis gap bounds |coordinate difference| after rounding too (rounded subtraction, squaring
    and addition are monotonic), so a bound below a found distance excludes every pair of the two cells.
    """
    # (Conditional expressions: Numba's builtin max() on floats is several times slower here.)
    g, h = hi[a, 0] - lo[b, 0], hi[b, 0] - lo[a, 0]
    gz = g if g > h else h
    g, h = hi[a, 1] - lo[b, 1], hi[b, 1] - lo[a, 1]
    gy = g if g > h else h
    g, h = hi[a, 2] - lo[b, 2], hi[b, 2] - lo[a, 2]
    gx = g if g > h else h
    gz *= gz
    gy *= gy
    gx *= gx
    # A plane diameter pairs vertices with one equal coordinate: the cells must overlap on that axis.
    # (Bitwise & keeps these branch-free: short-circuit `and` mispredicts and costs 5x in this loop.)
    overlap_z = (lo[a, 0] <= hi[b, 0]) & (lo[b, 0] <= hi[a, 0])
    overlap_y = (lo[a, 1] <= hi[b, 1]) & (lo[b, 1] <= hi[a, 1])
    overlap_x = (lo[a, 2] <= hi[b, 2]) & (lo[b, 2] <= hi[a, 2])
    b_slice = gy + gx if overlap_z else -1.0
    b_column = gz + gx if overlap_y else -1.0
    b_row = gz + gy if overlap_x else -1.0
    return b_slice, b_column, b_row, gz + gy + gx


@njit(**JIT_PARALLEL)
def _farthest_cell_kernel(lo, hi, partner, reach):
    """For each cell a and each of the four maxima: the cell b >= a with the largest bound, and that bound.

    (Every cell pair is some row's candidate, so the rows with the largest reach hold the best pairs.)
    """
    n_cells = lo.shape[0]
    for a in prange(n_cells):
        r0, r1, r2, r3 = -1.0, -1.0, -1.0, -1.0
        p0, p1, p2, p3 = -1, -1, -1, -1
        for b in range(a, n_cells):
            b0, b1, b2, b3 = _cell_bounds(lo, hi, a, b)
            if b0 > r0:
                r0, p0 = b0, b
            if b1 > r1:
                r1, p1 = b1, b
            if b2 > r2:
                r2, p2 = b2, b
            if b3 > r3:
                r3, p3 = b3, b
        reach[a, 0], reach[a, 1], reach[a, 2], reach[a, 3] = r0, r1, r2, r3
        partner[a, 0], partner[a, 1], partner[a, 2], partner[a, 3] = p0, p1, p2, p3


@njit(**JIT_PARALLEL)
def _cell_pairs_kernel(vz, vy, vx, starts, pairs, out):
    """Search each listed cell pair in full: its four squared maxima in one row of ``out``."""
    for k in prange(pairs.shape[0]):
        a = pairs[k, 0]
        b = pairs[k, 1]
        maxima = _pair_maxima(
            vz, vy, vx, starts[a], starts[a + 1], starts[b], starts[b + 1], a == b, 0.0, 0.0, 0.0, 0.0
        )
        for m in range(4):
            out[k, m] = maxima[m]


@njit(**JIT_PARALLEL)
def _diameter_kernel(vz, vy, vx, starts, lo, hi, seeds, out):
    """Squared maxima over all cell pairs (a <= b) that can still beat the seeds; one row of ``out`` per cell.

    Rows are visited as 0, n-1, 1, n-2, ... so that contiguous chunks of the parallel loop mix the long
    rows (small a: many partners b >= a) with the short ones.
    """
    n_cells = lo.shape[0]
    for k in prange(n_cells):
        a = k // 2 if k % 2 == 0 else n_cells - 1 - k // 2
        m_slice, m_column, m_row, m_3d = seeds[0], seeds[1], seeds[2], seeds[3]
        for b in range(a, n_cells):
            b_slice, b_column, b_row, b_3d = _cell_bounds(lo, hi, a, b)
            if (b_slice <= m_slice) & (b_column <= m_column) & (b_row <= m_row) & (b_3d <= m_3d):
                continue
            m_slice, m_column, m_row, m_3d = _pair_maxima(
                vz,
                vy,
                vx,
                starts[a],
                starts[a + 1],
                starts[b],
                starts[b + 1],
                a == b,
                m_slice,
                m_column,
                m_row,
                m_3d,
            )
        out[a, 0] = m_slice
        out[a, 1] = m_column
        out[a, 2] = m_row
        out[a, 3] = m_3d


@njit(**JIT)
def _cell_key_kernel(vertices, origin, cell_size, dims, keys, counts):
    """Cell of each vertex (cubes of ``cell_size`` mm, row-major over ``dims``) and vertices per cell."""
    for i in range(vertices.shape[0]):
        key = 0
        for d in range(3):
            k = int((vertices[i, d] - origin[d]) / cell_size)
            key = key * dims[d] + min(k, dims[d] - 1)
        keys[i] = key
        counts[key] += 1


@njit(**JIT)
def _cell_fill_kernel(vertices, keys, slot, vz, vy, vx, cell_of_key, lo, hi):
    """Counting-sort the vertices into cell order (z, y, x columns); find each cell's bounding box.

    ``slot[key]`` is the next free position of cell ``key``; ``cell_of_key`` its compact index.
    """
    for c in range(lo.shape[0]):
        for d in range(3):
            lo[c, d] = np.inf
            hi[c, d] = -np.inf
    for i in range(vertices.shape[0]):
        key = keys[i]
        j = slot[key]
        slot[key] += 1
        vz[j] = vertices[i, 0]
        vy[j] = vertices[i, 1]
        vx[j] = vertices[i, 2]
        c = cell_of_key[key]
        for d in range(3):
            v = vertices[i, d]
            if v < lo[c, d]:
                lo[c, d] = v
            if v > hi[c, d]:
                hi[c, d] = v


@njit(**JIT)
def _extent_kernel(vertices, lo, hi):
    """Bounding box of the vertices (NumPy's axis-0 min/max on an (n, 3) array is many times slower)."""
    for d in range(3):
        lo[d] = np.inf
        hi[d] = -np.inf
    for i in range(vertices.shape[0]):
        for d in range(3):
            v = vertices[i, d]
            if v < lo[d]:
                lo[d] = v
            if v > hi[d]:
                hi[d] = v


def _vertex_cells(vertices, cell_size, origin, top):
    """Group vertices by cubic cells of ``cell_size`` mm: ((z, y, x) columns in cell order, starts, lo, hi).

    ``origin`` and ``top`` are the vertices' bounding box.
    """
    dims = np.floor((top - origin) / cell_size).astype(np.int64) + 1
    n = vertices.shape[0]
    keys = np.empty(n, dtype=np.int64)
    counts = np.zeros(int(np.prod(dims)), dtype=np.int64)
    _cell_key_kernel(vertices, origin, float(cell_size), dims, keys, counts)
    occupied = np.flatnonzero(counts)
    cell_of_key = np.full(counts.shape[0], -1, dtype=np.int64)
    cell_of_key[occupied] = np.arange(occupied.shape[0])
    slot = np.zeros(counts.shape[0], dtype=np.int64)
    slot[1:] = np.cumsum(counts)[:-1]
    starts = np.append(slot[occupied], n).astype(np.int64)
    columns = (np.empty(n), np.empty(n), np.empty(n))
    lo = np.empty((occupied.shape[0], 3))
    hi = np.empty((occupied.shape[0], 3))
    _cell_fill_kernel(vertices, keys, slot, *columns, cell_of_key, lo, hi)
    return columns, starts, lo, hi


def _diameter_seeds(vz, vy, vx, starts, lo, hi):
    """Squared distances of real vertex pairs, close to the four maxima: what the search prunes against.

    The cell pairs with the largest bounds are the likeliest to hold the maxima; the pairs of the
    ``_SEED_PAIRS`` most promising cells (each with its farthest partner) are searched in full.
    Returns the four squared seeds [slice, column, row, 3D].
    """
    n_cells = lo.shape[0]
    partner = np.empty((n_cells, 4), dtype=np.int64)
    reach = np.empty((n_cells, 4), dtype=np.float64)
    _farthest_cell_kernel(lo, hi, partner, reach)
    chosen = []
    for m in range(4):
        rows = np.argsort(reach[:, m])[::-1][:_SEED_PAIRS]
        rows = rows[partner[rows, m] >= 0]
        chosen.append(np.stack([rows, partner[rows, m]], axis=1))
    pairs = np.unique(np.sort(np.concatenate(chosen), axis=1), axis=0).astype(np.int64)
    out = np.zeros((max(len(pairs), 1), 4), dtype=np.float64)
    _cell_pairs_kernel(vz, vy, vx, starts, pairs, out)
    return out.max(axis=0)


def maximum_diameters(vertices, surface_area=None):
    """Largest vertex-to-vertex distances of a mesh: in z-planes, y-planes, x-planes and in 3D.

    Parameters
    ----------
    vertices : numpy.ndarray
        (n, 3) float64 vertices (z, y, x) in mm, from :func:`marching_cubes_mesh`.
    surface_area : float or None
        Mesh area, used only to size the search cells (estimated from the vertices when None).

    Returns
    -------
    numpy.ndarray
        float64 [slice, column, row, 3D] diameters in mm: PyRadiomics' ``Maximum2DDiameterSlice``,
        ``...Column``, ``...Row`` and ``Maximum3DDiameter``. 0 where no two vertices share such a plane.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    n = vertices.shape[0]
    if n < 2:
        return np.zeros(4)
    origin = np.empty(3)
    top = np.empty(3)
    _extent_kernel(vertices, origin, top)
    extent = top - origin
    if surface_area is None or not surface_area > 0:
        surface_area = max(float(np.sort(extent)[1:].prod()), 1e-12)
    # A cell of side l holds about n / area * l^2 vertices of a locally flat surface.
    per_cell = max(_MIN_VERTICES_PER_CELL, math.sqrt(n) / 3)
    cell_size = math.sqrt(per_cell * surface_area / n)
    # Scattered components make a sparse grid: keep it at most a few times larger than the vertex count.
    while np.prod(np.floor(extent / cell_size) + 1) > 4 * n + 4096:
        cell_size *= 1.25
    (vz, vy, vx), starts, lo, hi = _vertex_cells(vertices, cell_size, origin, top)
    n_cells = lo.shape[0]
    seeds = _diameter_seeds(vz, vy, vx, starts, lo, hi)
    rows = np.empty((n_cells, 4), dtype=np.float64)
    _diameter_kernel(vz, vy, vx, starts, lo, hi, seeds, rows)
    return np.sqrt(np.maximum(rows.max(axis=0), seeds))

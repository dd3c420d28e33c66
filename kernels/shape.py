r"""Shape (3D) features of the ROI mask: marching-cubes mesh, maximum diameters and principal axes.

PyRadiomics-exact (its ``shape`` class and the ``_cshape`` C extension). The mask is padded by one voxel
of background; a 2x2x2 cube marches over it and every cube index (8 corner bits) selects triangles from
PyRadiomics' own lookup table (:data:`TRIANGLES`, copied as data). The mask is binary, so every mesh
vertex is the midpoint of a grid edge between an ROI voxel and a background voxel, i.e. the centre of a
boundary face. Coordinates are physical, in array order (z, y, x), measured from the padded origin:
``(index + offset) * spacing``, evaluated in PyRadiomics' order so the mesh sums agree to the last bit.
PyRadiomics' table resolves some ambiguous cube faces (voxels touching only along an edge)
inconsistently, so such a mesh is not closed and consistently oriented and its signed volume depends on
the origin: the origin is therefore PyRadiomics' own (the ROI bounding box padded by one voxel).

- Mesh volume: signed volumes of the tetrahedra (origin, triangle); a cube with more than half of its
  corners inside is looked up by its complement, with the sign flipped.
- Surface area: half the norm of each triangle's cross product.
- Maximum diameters: the largest distance between two mesh vertices, in 3D and among vertices sharing a
  z (slice), y (column) or x (row) coordinate. PyRadiomics compares all vertex pairs (quadratic); here
  the vertices are grouped into spatial cells and a pair of cells is skipped when an upper bound of its
  distances cannot beat the best distance found so far. The bound is evaluated with the same rounded
  operations as a vertex distance, which are monotonic, so a skipped pair can never be the maximum: the
  result is the very maximum PyRadiomics finds, bit for bit.
- Principal axes: eigenvalues of the covariance of the physical voxel-centre coordinates (the mesh is not
  used), computed with NumPy exactly as PyRadiomics does.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL

#: Feature names (PyRadiomics spelling, its documentation order). The three in :data:`DEPRECATED` are
#: deprecated in PyRadiomics and computed only when asked for by name.
FEATURE_NAMES = (
    "MeshVolume",
    "VoxelVolume",
    "SurfaceArea",
    "SurfaceVolumeRatio",
    "Sphericity",
    "Compactness1",
    "Compactness2",
    "SphericalDisproportion",
    "Maximum3DDiameter",
    "Maximum2DDiameterSlice",
    "Maximum2DDiameterColumn",
    "Maximum2DDiameterRow",
    "MajorAxisLength",
    "MinorAxisLength",
    "LeastAxisLength",
    "Elongation",
    "Flatness",
)
DEPRECATED = frozenset({"Compactness1", "Compactness2", "SphericalDisproportion"})

DIAMETER_NAMES = (
    "Maximum2DDiameterSlice",
    "Maximum2DDiameterColumn",
    "Maximum2DDiameterRow",
    "Maximum3DDiameter",
)
AXIS_NAMES = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength", "Elongation", "Flatness")

# --------------------------------------------------------------------------------------------------------
# Marching-cubes tables (PyRadiomics' cshape.c)

#: (z, y, x) offset of each cube corner; bit k of a cube index is set when corner k is in the ROI.
CUBE_CORNERS = np.array(
    [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1], [1, 1, 1], [1, 1, 0]], dtype=np.int64
)
#: Position of the vertex on each of the 12 cube edges, relative to corner 0: always the edge midpoint.
#: Edge k joins corners (1,0) (2,1) (3,2) (3,0) (5,4) (6,5) (7,6) (7,4) (4,0) (5,1) (6,2) (7,3).
EDGE_MIDPOINTS = np.array(
    [
        [0, 0, 0.5], [0, 0.5, 1], [0, 1, 0.5], [0, 0.5, 0],
        [1, 0, 0.5], [1, 0.5, 1], [1, 1, 0.5], [1, 0.5, 0],
        [0.5, 0, 0], [0.5, 0, 1], [0.5, 1, 1], [0.5, 1, 0],
    ],
    dtype=np.float64,
)  # fmt: skip
#: Triangles (as edge triples, normals pointing out of the ROI) of the cube indices 0..127; an index with
#: corner 7 set is looked up by its complement. PyRadiomics 3.0.1's table, verbatim.
TRIANGLES = (
    (),  # 0
    ((0, 8, 3),),  # 1
    ((1, 9, 0),),  # 2
    ((1, 8, 3), (1, 9, 8)),  # 3
    ((1, 2, 10),),  # 4
    ((0, 8, 3), (1, 2, 10)),  # 5
    ((9, 2, 10), (0, 2, 9)),  # 6
    ((2, 8, 3), (2, 10, 8), (10, 9, 8)),  # 7
    ((11, 2, 3),),  # 8
    ((11, 2, 0), (0, 8, 11)),  # 9
    ((1, 9, 0), (11, 2, 3)),  # 10
    ((11, 2, 1), (1, 9, 11), (9, 8, 11)),  # 11
    ((3, 10, 1), (11, 10, 3)),  # 12
    ((10, 1, 0), (0, 8, 10), (8, 11, 10)),  # 13
    ((9, 0, 3), (3, 11, 9), (11, 10, 9)),  # 14
    ((9, 8, 10), (11, 10, 8)),  # 15
    ((4, 7, 8),),  # 16
    ((0, 4, 3), (4, 7, 3)),  # 17
    ((1, 9, 0), (4, 7, 8)),  # 18
    ((1, 9, 4), (1, 4, 7), (1, 7, 3)),  # 19
    ((1, 2, 10), (4, 7, 8)),  # 20
    ((3, 4, 7), (3, 0, 4), (1, 2, 10)),  # 21
    ((9, 2, 10), (9, 0, 2), (4, 7, 8)),  # 22
    ((2, 10, 9), (2, 9, 7), (2, 7, 3), (4, 7, 9)),  # 23
    ((4, 7, 8), (11, 2, 3)),  # 24
    ((11, 4, 7), (11, 2, 4), (2, 0, 4)),  # 25
    ((1, 9, 0), (4, 7, 8), (11, 2, 3)),  # 26
    ((4, 7, 11), (9, 4, 11), (11, 2, 9), (1, 9, 2)),  # 27
    ((3, 10, 1), (11, 10, 3), (4, 7, 8)),  # 28
    ((11, 10, 1), (1, 4, 11), (1, 0, 4), (4, 7, 11)),  # 29
    ((4, 7, 8), (9, 0, 3), (3, 11, 9), (11, 10, 9)),  # 30
    ((4, 7, 11), (4, 11, 9), (9, 11, 10)),  # 31
    ((9, 5, 4),),  # 32
    ((9, 5, 4), (0, 8, 3)),  # 33
    ((0, 5, 4), (0, 1, 5)),  # 34
    ((8, 5, 4), (8, 3, 5), (3, 1, 5)),  # 35
    ((1, 2, 10), (9, 5, 4)),  # 36
    ((0, 8, 3), (1, 2, 10), (9, 5, 4)),  # 37
    ((2, 10, 5), (5, 4, 2), (2, 4, 0)),  # 38
    ((2, 10, 5), (3, 2, 5), (3, 5, 4), (8, 3, 4)),  # 39
    ((9, 5, 4), (11, 2, 3)),  # 40
    ((11, 2, 0), (0, 8, 11), (9, 5, 4)),  # 41
    ((0, 5, 4), (0, 1, 5), (11, 2, 3)),  # 42
    ((2, 1, 5), (2, 5, 8), (11, 2, 8), (5, 4, 8)),  # 43
    ((3, 10, 1), (11, 10, 3), (9, 5, 4)),  # 44
    ((5, 4, 9), (10, 1, 0), (0, 8, 10), (8, 11, 10)),  # 45
    ((5, 4, 0), (5, 0, 11), (10, 5, 11), (11, 0, 3)),  # 46
    ((5, 4, 8), (10, 5, 8), (11, 10, 8)),  # 47
    ((7, 8, 9), (5, 7, 9)),  # 48
    ((3, 0, 9), (5, 3, 9), (3, 5, 7)),  # 49
    ((7, 8, 0), (0, 1, 7), (7, 1, 5)),  # 50
    ((1, 5, 7), (1, 7, 3)),  # 51
    ((7, 8, 9), (5, 7, 9), (1, 2, 10)),  # 52
    ((1, 2, 10), (3, 0, 9), (3, 9, 5), (3, 5, 7)),  # 53
    ((0, 2, 8), (8, 2, 5), (8, 5, 7), (2, 10, 5)),  # 54
    ((2, 10, 5), (2, 5, 3), (3, 5, 7)),  # 55
    ((5, 7, 9), (7, 8, 9), (11, 2, 3)),  # 56
    ((5, 7, 9), (9, 7, 2), (2, 0, 9), (11, 2, 7)),  # 57
    ((11, 2, 3), (0, 1, 8), (1, 7, 8), (1, 5, 7)),  # 58
    ((2, 1, 11), (1, 7, 11), (1, 5, 7)),  # 59
    ((7, 8, 9), (5, 7, 9), (3, 10, 1), (11, 10, 3)),  # 60
    ((5, 7, 0), (5, 0, 9), (7, 11, 0), (10, 1, 0), (11, 10, 0)),  # 61
    ((11, 10, 0), (0, 3, 11), (10, 5, 0), (0, 7, 8), (5, 7, 0)),  # 62
    ((11, 10, 5), (5, 7, 11)),  # 63
    ((6, 5, 10),),  # 64
    ((0, 8, 3), (6, 5, 10)),  # 65
    ((1, 9, 0), (6, 5, 10)),  # 66
    ((1, 8, 3), (1, 9, 8), (6, 5, 10)),  # 67
    ((1, 6, 5), (1, 2, 6)),  # 68
    ((1, 6, 5), (1, 2, 6), (0, 8, 3)),  # 69
    ((9, 6, 5), (9, 0, 6), (0, 2, 6)),  # 70
    ((5, 9, 8), (5, 8, 2), (5, 2, 6), (8, 3, 2)),  # 71
    ((11, 2, 3), (6, 5, 10)),  # 72
    ((11, 2, 0), (0, 8, 11), (6, 5, 10)),  # 73
    ((1, 9, 0), (11, 2, 3), (6, 5, 10)),  # 74
    ((11, 2, 1), (1, 9, 11), (9, 8, 11), (6, 5, 10)),  # 75
    ((6, 3, 11), (6, 5, 3), (5, 1, 3)),  # 76
    ((0, 8, 11), (0, 11, 5), (0, 5, 1), (5, 11, 6)),  # 77
    ((6, 3, 11), (0, 3, 6), (0, 6, 5), (0, 5, 9)),  # 78
    ((6, 5, 9), (6, 9, 11), (11, 9, 8)),  # 79
    ((4, 7, 8), (6, 5, 10)),  # 80
    ((0, 4, 3), (4, 7, 3), (6, 5, 10)),  # 81
    ((1, 9, 0), (4, 7, 8), (6, 5, 10)),  # 82
    ((1, 9, 4), (1, 4, 7), (1, 7, 3), (6, 5, 10)),  # 83
    ((4, 7, 8), (1, 6, 5), (1, 2, 6)),  # 84
    ((0, 4, 3), (4, 7, 3), (1, 6, 5), (1, 2, 6)),  # 85
    ((4, 7, 8), (9, 6, 5), (9, 0, 6), (0, 2, 6)),  # 86
    ((7, 3, 9), (4, 7, 9), (3, 2, 9), (5, 9, 6), (2, 6, 9)),  # 87
    ((11, 2, 3), (4, 7, 8), (6, 5, 10)),  # 88
    ((11, 4, 7), (11, 2, 4), (2, 0, 4), (6, 5, 10)),  # 89
    ((1, 9, 0), (11, 2, 3), (4, 7, 8), (6, 5, 10)),  # 90
    ((4, 7, 11), (9, 4, 11), (11, 2, 9), (1, 9, 2), (6, 5, 10)),  # 91
    ((4, 7, 8), (6, 3, 11), (6, 5, 3), (5, 1, 3)),  # 92
    ((5, 1, 11), (5, 11, 6), (1, 0, 11), (4, 7, 11), (0, 4, 11)),  # 93
    ((4, 7, 8), (6, 3, 11), (0, 3, 6), (0, 6, 5), (0, 5, 9)),  # 94
    ((6, 5, 9), (6, 9, 11), (4, 7, 9), (7, 11, 9)),  # 95
    ((10, 4, 9), (6, 4, 10)),  # 96
    ((10, 4, 9), (6, 4, 10), (0, 8, 3)),  # 97
    ((0, 1, 10), (10, 6, 0), (6, 4, 0)),  # 98
    ((1, 8, 3), (1, 6, 8), (8, 6, 4), (6, 1, 10)),  # 99
    ((1, 4, 9), (1, 2, 4), (2, 6, 4)),  # 100
    ((1, 4, 9), (1, 2, 4), (2, 6, 4), (0, 8, 3)),  # 101
    ((0, 2, 4), (4, 2, 6)),  # 102
    ((8, 3, 2), (8, 2, 4), (4, 2, 6)),  # 103
    ((11, 2, 3), (10, 4, 9), (6, 4, 10)),  # 104
    ((11, 2, 0), (0, 8, 11), (10, 4, 9), (6, 4, 10)),  # 105
    ((11, 2, 3), (0, 1, 10), (10, 6, 0), (6, 4, 0)),  # 106
    ((6, 4, 1), (6, 1, 10), (1, 4, 8), (11, 2, 1), (1, 8, 11)),  # 107
    ((9, 6, 4), (3, 6, 9), (1, 3, 9), (11, 6, 3)),  # 108
    ((1, 8, 11), (0, 8, 1), (11, 6, 1), (1, 4, 9), (6, 4, 1)),  # 109
    ((6, 3, 11), (0, 3, 6), (6, 4, 0)),  # 110
    ((8, 6, 4), (6, 8, 11)),  # 111
    ((6, 7, 10), (7, 8, 10), (8, 9, 10)),  # 112
    ((6, 7, 10), (0, 10, 7), (0, 9, 10), (0, 7, 3)),  # 113
    ((6, 7, 10), (1, 10, 7), (1, 7, 8), (0, 1, 8)),  # 114
    ((6, 7, 10), (1, 10, 7), (1, 7, 3)),  # 115
    ((1, 2, 6), (1, 6, 8), (1, 8, 9), (6, 7, 8)),  # 116
    ((2, 6, 9), (1, 2, 9), (6, 7, 9), (3, 0, 9), (7, 3, 9)),  # 117
    ((0, 7, 8), (7, 0, 6), (6, 0, 2)),  # 118
    ((2, 7, 3), (2, 6, 7)),  # 119
    ((11, 2, 3), (6, 7, 10), (7, 8, 10), (8, 9, 10)),  # 120
    ((2, 0, 7), (11, 2, 7), (0, 9, 7), (6, 7, 10), (9, 10, 7)),  # 121
    ((6, 7, 10), (1, 10, 7), (1, 7, 8), (0, 1, 8), (11, 2, 3)),  # 122
    ((11, 2, 1), (1, 7, 11), (10, 6, 1), (1, 6, 7)),  # 123
    ((8, 9, 6), (6, 7, 8), (1, 6, 9), (11, 6, 3), (1, 3, 6)),  # 124
    ((0, 9, 1), (6, 7, 11)),  # 125
    ((0, 7, 8), (7, 0, 6), (0, 3, 11), (11, 6, 0)),  # 126
    ((6, 7, 11),),  # 127
)
#: Each grid edge is edge 6, 7 or 11 (the three that meet at corner 7) of exactly one cube. After the flip
#: corner 7 is outside, so such an edge carries a vertex when its other corner (6, 4, 3) is inside.
OWN_EDGES = np.array([6, 7, 11], dtype=np.int64)
OWN_EDGE_CORNERS = np.array([6, 4, 3], dtype=np.int64)


def _triangle_table(triangles):
    """(128, 16) int64: the edge triples in a row, -1 after the last (the C layout the kernel walks)."""
    table = np.full((len(triangles), 16), -1, dtype=np.int64)
    for index, row in enumerate(triangles):
        flat = [edge for triangle in row for edge in triangle]
        table[index, : len(flat)] = flat
    return table


TRIANGLE_TABLE = _triangle_table(TRIANGLES)


def _cube_of_columns(corners):
    """(16, 16) cube index of two neighbouring 4-voxel columns along x.

    A column code holds bit 0: (z, y), bit 1: (z, y+1), bit 2: (z+1, y), bit 3: (z+1, y+1); the first
    column is at x, the second at x+1. Derived from :data:`CUBE_CORNERS`.
    """
    table = np.zeros((16, 16), dtype=np.int64)
    for first, second in np.ndindex(16, 16):
        for k, (dz, dy, dx) in enumerate(corners):
            code = second if dx else first
            if code >> (dz * 2 + dy) & 1:
                table[first, second] |= 1 << k
    return table


CUBE_OF_COLUMNS = _cube_of_columns(CUBE_CORNERS)

# Vertices per spatial cell aimed at by the diameter search: the search costs ~(n / k)^2 cell-bound tests
# plus ~k^2 distances per cell pair it cannot skip (a few dozen pairs), so k grows like sqrt(n).
_MIN_VERTICES_PER_CELL = 32
# Most promising cell pairs per maximum searched in full first, to prune the rest against.
_SEED_PAIRS = 8


# --------------------------------------------------------------------------------------------------------
# Mesh


@njit(**JIT)
def _mesh_kernel(
    mask, spacing, cube_of_columns, midpoints, triangles, own_edges, own_corners, vertices, totals
):
    """March over the padded mask: totals = [surface area, volume, vertex count]; vertices (z, y, x) mm.

    Serial on purpose: the area and volume are accumulated in PyRadiomics' cube order, which makes them
    equal to its values to the last bit; the pass is linear and cheap next to the diameter search.
    A cube's index comes from the 4-voxel columns (z, y)..(z+1, y+1) at x and x+1, so each voxel is read
    once per row instead of eight times; cubes entirely inside or outside carry no vertex and are skipped.
    """
    n_z, n_y, n_x = mask.shape
    s0, s1, s2 = spacing[0], spacing[1], spacing[2]
    area = 0.0
    volume6 = 0.0
    n_vertices = 0
    for iz in range(n_z - 1):
        for iy in range(n_y - 1):
            low = mask[iz, iy]
            high = mask[iz, iy + 1]
            low_up = mask[iz + 1, iy]
            high_up = mask[iz + 1, iy + 1]
            column = low[0] | (high[0] << 1) | (low_up[0] << 2) | (high_up[0] << 3)
            for ix in range(n_x - 1):
                following = low[ix + 1] | (high[ix + 1] << 1) | (low_up[ix + 1] << 2) | (high_up[ix + 1] << 3)
                cube = cube_of_columns[column, following]
                column = following
                if cube == 0 or cube == 0xFF:
                    continue
                sign = 1.0
                if cube & 0x80:
                    cube ^= 0xFF
                    sign = -1.0
                for t in range(3):
                    if cube & (1 << own_corners[t]):
                        e = own_edges[t]
                        vertices[n_vertices, 0] = (iz + midpoints[e, 0]) * s0
                        vertices[n_vertices, 1] = (iy + midpoints[e, 1]) * s1
                        vertices[n_vertices, 2] = (ix + midpoints[e, 2]) * s2
                        n_vertices += 1
                t = 0
                while triangles[cube, 3 * t] >= 0:
                    ea = triangles[cube, 3 * t]
                    eb = triangles[cube, 3 * t + 1]
                    ec = triangles[cube, 3 * t + 2]
                    a0 = (iz + midpoints[ea, 0]) * s0
                    a1 = (iy + midpoints[ea, 1]) * s1
                    a2 = (ix + midpoints[ea, 2]) * s2
                    b0 = (iz + midpoints[eb, 0]) * s0
                    b1 = (iy + midpoints[eb, 1]) * s1
                    b2 = (ix + midpoints[eb, 2]) * s2
                    c0 = (iz + midpoints[ec, 0]) * s0
                    c1 = (iy + midpoints[ec, 1]) * s1
                    c2 = (ix + midpoints[ec, 2]) * s2
                    # Signed volume of the tetrahedron (origin, a, b, c), times 6: (a x b) . c
                    x0 = a1 * b2 - b1 * a2
                    x1 = a2 * b0 - b2 * a0
                    x2 = a0 * b1 - b0 * a1
                    volume6 += sign * (x0 * c0 + x1 * c1 + x2 * c2)
                    # Area: half the norm of (a - c) x (b - c)
                    a0 -= c0
                    a1 -= c1
                    a2 -= c2
                    b0 -= c0
                    b1 -= c1
                    b2 -= c2
                    x0 = a1 * b2 - b1 * a2
                    x1 = a2 * b0 - b2 * a0
                    x2 = a0 * b1 - b0 * a1
                    area += 0.5 * math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
                    t += 1
    totals[0] = area
    totals[1] = volume6 / 6
    totals[2] = n_vertices


class Mesh(NamedTuple):
    """The marching-cubes mesh of a mask: its area (mm²), volume (mm³) and vertices ((n, 3), z y x in mm)."""

    surface_area: float
    volume: float
    vertices: np.ndarray


def _padded(mask):
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"shape features need a 3-D mask, got {mask.ndim}-D")
    if not mask.any():
        raise ValueError("the mask is empty")
    return np.pad(mask.astype(bool, copy=False), 1).view(np.uint8)


def _spacing(spacing):
    spacing = np.asarray(spacing, dtype=np.float64)
    if spacing.shape != (3,) or not np.all(spacing > 0):
        raise ValueError(f"spacing must be 3 positive values (z, y, x), got {spacing!r}")
    return spacing


def marching_cubes_mesh(mask, spacing):
    """Triangle mesh of a binary mask, as PyRadiomics builds it (mask padded by one background voxel).

    Parameters
    ----------
    mask : numpy.ndarray
        bool (z, y, x) ROI, cropped to its bounding box as PyRadiomics crops it: the coordinates (and, for
        a mesh left open by an ambiguous cube face, the volume) depend on where the grid starts.
    spacing : sequence of float
        Voxel spacing in array order (z, y, x), mm.

    Returns
    -------
    Mesh
        Surface area, volume, and the vertices: one per boundary face of the ROI, at
        ``(padded index + edge midpoint) * spacing``.
    """
    padded = _padded(mask)
    spacing = _spacing(spacing)
    # One vertex per pair of face-neighbours that differ (np.diff of booleans is "not equal"): exactly the
    # vertices the kernel writes, so ``vertices`` is allocated at its final size.
    n_vertices = sum(int(np.count_nonzero(np.diff(padded.view(bool), axis=axis))) for axis in range(3))
    vertices = np.empty((n_vertices, 3), dtype=np.float64)
    totals = np.zeros(3, dtype=np.float64)
    _mesh_kernel(
        padded,
        spacing,
        CUBE_OF_COLUMNS,
        EDGE_MIDPOINTS,
        TRIANGLE_TABLE,
        OWN_EDGES,
        OWN_EDGE_CORNERS,
        vertices,
        totals,
    )
    if int(totals[2]) != n_vertices:  # pragma: no cover - the two counts are the same by construction
        raise RuntimeError(f"mesh kernel wrote {int(totals[2])} vertices, expected {n_vertices}")
    return Mesh(float(totals[0]), float(totals[1]), vertices)


# --------------------------------------------------------------------------------------------------------
# Maximum diameters


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


# --------------------------------------------------------------------------------------------------------
# Principal component analysis


def principal_moments(mask, spacing):
    """Eigenvalues (ascending) of the covariance of the physical voxel-centre coordinates of the ROI.

    PyRadiomics' computation, step for step (coordinates of the padded mask, NumPy reductions, the general
    eigenvalue solver), so the values agree to the last bit. Eigenvalues in (-1e-10, 0) are rounding noise
    of flat ROIs and set to 0, as PyRadiomics does; a larger negative value is kept (its features are NaN).
    """
    mask = np.asarray(mask, dtype=bool)
    spacing = _spacing(spacing)
    index = np.array(np.nonzero(mask), dtype="int")
    n = index.shape[1]
    if n == 0:
        raise ValueError("the mask is empty")
    index += 1  # PyRadiomics takes the coordinates in the mask padded by one voxel
    coordinates = index.transpose((1, 0)) * spacing[None, :]
    coordinates -= np.mean(coordinates, axis=0)
    coordinates /= np.sqrt(n)
    covariance = np.dot(coordinates.T.copy(), coordinates)
    eigenvalues = np.linalg.eigvals(covariance)
    if np.iscomplexobj(eigenvalues):  # a symmetric matrix: imaginary parts are rounding noise
        eigenvalues = eigenvalues.real.copy()
    eigenvalues[(eigenvalues < 0) & (eigenvalues > -1e-10)] = 0
    eigenvalues.sort()
    return eigenvalues


# --------------------------------------------------------------------------------------------------------
# Feature formulas


class ShapeMeasures(NamedTuple):
    """What the formulas read. Notation: V mesh volume, A surface area, λ eigenvalues (ascending)."""

    volume: float
    surface_area: float
    diameters: np.ndarray  # [slice, column, row, 3D]
    eigenvalues: np.ndarray  # [least, minor, major]
    n_voxels: int
    spacing: tuple


def mesh_volume(m):
    r"""Mesh Volume (IBSI RNU0): volume enclosed by the triangle mesh.

    .. math:: V = \sum_{f=1}^{N_f} \frac{Oa_f \cdot (Ob_f \times Oc_f)}{6}

    Signed volumes of the tetrahedra spanned by the origin and each outward-oriented triangle.
    """
    return m.volume


def voxel_volume(m):
    r"""Voxel Volume (IBSI YEKZ, approximate volume): number of ROI voxels times the volume of one voxel.

    .. math:: V_{voxel} = N_v \, \Delta z \, \Delta x \, \Delta y
    """
    z, y, x = m.spacing
    return m.n_voxels * (z * x * y)


def surface_area(m):
    r"""Surface Area (IBSI C0JK): area of the triangle mesh.

    .. math:: A = \sum_{f=1}^{N_f} \frac{1}{2}\left|a_fb_f \times a_fc_f\right|
    """
    return m.surface_area


def surface_volume_ratio(m):
    r"""Surface to Volume ratio (IBSI 2PR5): lower for compact shapes; not dimensionless (1/mm).

    .. math:: \frac{A}{V}
    """
    return m.surface_area / m.volume


def sphericity(m):
    r"""Sphericity (IBSI QCFX): roundness relative to a sphere, in (0, 1], 1 for a perfect sphere.

    .. math:: \frac{\sqrt[3]{36\pi V^2}}{A}
    """
    return (36 * np.pi * m.volume**2) ** (1.0 / 3.0) / m.surface_area


def compactness1(m):
    r"""Compactness 1 (IBSI SKGS; deprecated in PyRadiomics): compactness relative to a sphere.

    .. math:: \frac{V}{\sqrt{\pi A^3}}
    """
    return m.volume / (m.surface_area ** (3.0 / 2.0) * np.sqrt(np.pi))


def compactness2(m):
    r"""Compactness 2 (IBSI BQWJ; deprecated in PyRadiomics): sphericity cubed, in (0, 1].

    .. math:: 36\pi\frac{V^2}{A^3}
    """
    return (36.0 * np.pi) * (m.volume**2.0) / (m.surface_area**3.0)


def spherical_disproportion(m):
    r"""Spherical Disproportion (IBSI KRCK; deprecated in PyRadiomics): inverse of sphericity, >= 1.

    .. math:: \frac{A}{\sqrt[3]{36\pi V^2}}
    """
    return m.surface_area / (36 * np.pi * m.volume**2) ** (1.0 / 3.0)


def maximum_3d_diameter(m):
    r"""Maximum 3D diameter (IBSI L0JK, Feret diameter): largest distance between two mesh vertices.

    .. math:: \max_{i,j} \lVert v_i - v_j \rVert
    """
    return float(m.diameters[3])


def maximum_2d_diameter_slice(m):
    r"""Maximum 2D diameter (Slice), no IBSI tag: largest vertex distance within one z-plane (axial).

    .. math:: \max_{i,j:\ z_i = z_j} \lVert v_i - v_j \rVert
    """
    return float(m.diameters[0])


def maximum_2d_diameter_column(m):
    r"""Maximum 2D diameter (Column), no IBSI tag: largest vertex distance within one y-plane (coronal).

    .. math:: \max_{i,j:\ y_i = y_j} \lVert v_i - v_j \rVert
    """
    return float(m.diameters[1])


def maximum_2d_diameter_row(m):
    r"""Maximum 2D diameter (Row), no IBSI tag: largest vertex distance within one x-plane (sagittal).

    .. math:: \max_{i,j:\ x_i = x_j} \lVert v_i - v_j \rVert
    """
    return float(m.diameters[2])


def _axis_length(eigenvalue):
    return np.nan if eigenvalue < 0 else float(np.sqrt(eigenvalue) * 4)


def _axis_ratio(numerator, denominator):
    if numerator < 0 or denominator < 0:
        return np.nan
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for a single voxel: NaN, as PyRadiomics
        return float(np.sqrt(numerator / denominator))


def major_axis_length(m):
    r"""Major Axis Length (IBSI TDIC): largest axis of the ellipsoid with the ROI's second moments.

    .. math:: 4\sqrt{\lambda_{major}}

    :math:`\lambda` are the eigenvalues of the covariance of the physical voxel-centre coordinates;
    NaN for a negative eigenvalue.
    """
    return _axis_length(m.eigenvalues[2])


def minor_axis_length(m):
    r"""Minor Axis Length (IBSI P9VJ): second-largest axis of the ROI's moment ellipsoid.

    .. math:: 4\sqrt{\lambda_{minor}}
    """
    return _axis_length(m.eigenvalues[1])


def least_axis_length(m):
    r"""Least Axis Length (IBSI 7J51): smallest axis of the moment ellipsoid (0 for a one-slice ROI).

    .. math:: 4\sqrt{\lambda_{least}}
    """
    return _axis_length(m.eigenvalues[0])


def elongation(m):
    r"""Elongation (IBSI Q3CK): 1 for a circular cross-section of the two largest axes, 0 for a line.

    .. math:: \sqrt{\frac{\lambda_{minor}}{\lambda_{major}}}
    """
    return _axis_ratio(m.eigenvalues[1], m.eigenvalues[2])


def flatness(m):
    r"""Flatness (IBSI N17B): 1 for a sphere-like ROI, 0 for a flat one.

    .. math:: \sqrt{\frac{\lambda_{least}}{\lambda_{major}}}
    """
    return _axis_ratio(m.eigenvalues[0], m.eigenvalues[2])


#: name -> formula function, in :data:`FEATURE_NAMES` order.
FEATURES = dict(
    zip(
        FEATURE_NAMES,
        (
            mesh_volume,
            voxel_volume,
            surface_area,
            surface_volume_ratio,
            sphericity,
            compactness1,
            compactness2,
            spherical_disproportion,
            maximum_3d_diameter,
            maximum_2d_diameter_slice,
            maximum_2d_diameter_column,
            maximum_2d_diameter_row,
            major_axis_length,
            minor_axis_length,
            least_axis_length,
            elongation,
            flatness,
        ),
        strict=True,
    )
)


def shape_measures(mask, spacing, diameters=True, axes=True):
    """Mesh, diameters (when ``diameters``) and principal moments (when ``axes``) of one ROI mask.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (z, y, x) ROI.
    spacing : sequence of float
        Voxel spacing (z, y, x) in mm.
    diameters, axes : bool
        Skip the diameter search / the PCA when no feature needs them (their fields are then NaN).

    Returns
    -------
    ShapeMeasures
    """
    mask = np.asarray(mask, dtype=bool)
    mesh = marching_cubes_mesh(mask, spacing)
    max_diameters = maximum_diameters(mesh.vertices, mesh.surface_area) if diameters else np.full(4, np.nan)
    eigenvalues = principal_moments(mask, spacing) if axes else np.full(3, np.nan)
    return ShapeMeasures(
        volume=mesh.volume,
        surface_area=mesh.surface_area,
        diameters=max_diameters,
        eigenvalues=eigenvalues,
        n_voxels=int(np.count_nonzero(mask)),
        spacing=tuple(float(s) for s in spacing),
    )


def shape_features(mask, spacing, names=None):
    """Shape features of one ROI mask, PyRadiomics-exact.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (z, y, x) ROI (cropping to the bounding box does not change any value).
    spacing : sequence of float
        Voxel spacing (z, y, x) in mm.
    names : iterable of str or None
        Features to compute (default: all of :data:`FEATURE_NAMES`).

    Returns
    -------
    dict
        ``{name: float}`` in the order of ``names``.
    """
    names = FEATURE_NAMES if names is None else tuple(names)
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(f"unknown shape feature(s): {', '.join(unknown)}")
    measures = shape_measures(
        mask,
        spacing,
        diameters=any(name in DIAMETER_NAMES for name in names),
        axes=any(name in AXIS_NAMES for name in names),
    )
    return {name: float(FEATURES[name](measures)) for name in names}

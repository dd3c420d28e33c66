"""The marching-cubes triangle mesh of a 3D ROI mask: surface area, volume and vertices, PyRadiomics-exact.

The mask is padded by one voxel of background; a 2x2x2 cube marches over it and every cube index (8 corner
bits) selects triangles from PyRadiomics' own lookup table (:mod:`spinerad.kernels.shape_mesh_tables`).
The mask is binary, so every mesh vertex is the midpoint of a grid edge between an ROI voxel and a
background voxel, i.e. the centre of a boundary face. Coordinates are physical, in array order (z, y, x),
measured from the padded origin: ``(index + offset) * spacing``, evaluated in PyRadiomics' order so the mesh
sums agree to the last bit. PyRadiomics' table resolves some ambiguous cube faces (voxels touching only along
an edge) inconsistently, so such a mesh is not closed and consistently oriented and its signed volume
depends on the origin: the origin is therefore PyRadiomics' own (the ROI bounding box padded by one voxel).

- Volume: signed volumes of the tetrahedra (origin, triangle); a cube with more than half of its corners
  inside is looked up by its complement, with the sign flipped.
- Surface area: half the norm of each triangle's cross product.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ._config import JIT
from .shape_mesh_tables import CUBE_OF_COLUMNS, EDGE_MIDPOINTS, OWN_EDGE_CORNERS, OWN_EDGES, TRIANGLE_TABLE


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


def checked_spacing(spacing):
    """Voxel spacing as float64 (z, y, x); ValueError unless 3 positive values."""
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
    spacing = checked_spacing(spacing)
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

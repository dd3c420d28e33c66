r"""Shape (2D) features of a one-slice ROI mask: marching-squares perimeter mesh, diameter and principal axes.

PyRadiomics-exact (its ``shape2D`` class and ``calculate_coefficients2D`` of the ``_cshape`` C extension).
The 2-D mask is padded by one pixel of background; a 2x2 square marches over it, and every square index
(4 corner bits, corners clockwise from the upper left) selects lines from PyRadiomics' lookup table
(:data:`LINES`, copied as data). Vertices are edge midpoints; coordinates are physical, array order (y, x),
measured from the padded origin and evaluated in PyRadiomics' order, so the sums agree to the last bit.

- Surface: half the sum of the signed cross products of the lines' end points (triangles with the origin).
- Perimeter: the sum of the line lengths.
- Maximum diameter: the largest distance between two stored vertices. PyRadiomics stores, per square, the
  vertices on its left and bottom edges when (after flipping squares with more than two corners in) the
  corresponding corner is inside; the same vertex set is stored here and the maximum found over all
  pairs (the squared distances are exact in any order, so the maximum is PyRadiomics' to the last bit).
- Principal axes: eigenvalues of the covariance of the physical pixel-centre coordinates (NumPy, as
  PyRadiomics computes them).
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .shape import requested_names

#: Feature names (PyRadiomics spelling, its documentation order); :data:`DEPRECATED` ones only on request.
FEATURE_NAMES = (
    "MeshSurface",
    "PixelSurface",
    "Perimeter",
    "PerimeterSurfaceRatio",
    "Sphericity",
    "SphericalDisproportion",
    "MaximumDiameter",
    "MajorAxisLength",
    "MinorAxisLength",
    "Elongation",
)
DEPRECATED = frozenset({"SphericalDisproportion"})

#: Square corners (dy, dx), bit a of the square index = corner a inside: clockwise from the upper left.
CORNERS = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], dtype=np.int64)
#: Edge midpoints (dy, dx): v0 top, v1 right, v2 bottom, v3 left.
EDGE_MIDPOINTS = np.array([[0.0, 0.5], [0.5, 1.0], [1.0, 0.5], [0.5, 0.0]])
#: PyRadiomics' line table: square index -> up to two lines (pairs of edge indices), -1 terminated.
LINES = np.array(
    [
        [-1, -1, -1, -1, -1],
        [3, 0, -1, -1, -1],
        [0, 1, -1, -1, -1],
        [3, 1, -1, -1, -1],
        [1, 2, -1, -1, -1],
        [1, 2, 3, 0, -1],
        [0, 2, -1, -1, -1],
        [3, 2, -1, -1, -1],
        [2, 3, -1, -1, -1],
        [2, 0, -1, -1, -1],
        [0, 1, 2, 3, -1],
        [2, 1, -1, -1, -1],
        [1, 3, -1, -1, -1],
        [1, 0, -1, -1, -1],
        [0, 3, -1, -1, -1],
        [-1, -1, -1, -1, -1],
    ],
    dtype=np.int64,
)


@njit(**JIT)
def _perimeter_kernel(mask, spacing, corners, midpoints, lines, vertices, out):
    """Perimeter, surface (x2) and the diameter vertices of a padded 2-D mask, PyRadiomics' loop order.

    ``vertices`` (capacity 2 per square) receives (y, x) rows; ``out`` = [perimeter, 2 * surface, n_vertices].
    """
    perimeter = 0.0
    surface = 0.0
    n_vertices = 0
    for iy in range(mask.shape[0] - 1):
        for ix in range(mask.shape[1] - 1):
            square = 0
            for a in range(4):
                if mask[iy + corners[a, 0], ix + corners[a, 1]]:
                    square |= 1 << a
            if square == 0 or square == 15:
                continue
            t = 0
            while lines[square, t * 2] >= 0:
                e0 = lines[square, t * 2]
                e1 = lines[square, t * 2 + 1]
                a0 = (iy + midpoints[e0, 0]) * spacing[0]
                a1 = (ix + midpoints[e0, 1]) * spacing[1]
                b0 = (iy + midpoints[e1, 0]) * spacing[0]
                b1 = (ix + midpoints[e1, 1]) * spacing[1]
                surface += a0 * b1 - b0 * a1
                d0 = a0 - b0
                d1 = a1 - b1
                perimeter += np.sqrt(d0 * d0 + d1 * d1)
                t += 1
            if square > 7:
                square ^= 15
            # corner 0 inside -> vertex on edge 3 (left); corner 2 inside -> vertex on edge 2 (bottom)
            if square & 1:
                vertices[n_vertices, 0] = (iy + midpoints[3, 0]) * spacing[0]
                vertices[n_vertices, 1] = (ix + midpoints[3, 1]) * spacing[1]
                n_vertices += 1
            if square & 4:
                vertices[n_vertices, 0] = (iy + midpoints[2, 0]) * spacing[0]
                vertices[n_vertices, 1] = (ix + midpoints[2, 1]) * spacing[1]
                n_vertices += 1
    out[0] = perimeter
    out[1] = surface
    out[2] = n_vertices


@njit(**JIT_PARALLEL)
def _max_squared_distance_kernel(vertices, n, out):
    """out[i] = max over j < i of the squared distance between vertices i and j (parallel over i)."""
    for i in prange(n):
        best = 0.0
        y = vertices[i, 0]
        x = vertices[i, 1]
        for j in range(i):
            dy = y - vertices[j, 0]
            dx = x - vertices[j, 1]
            d = dy * dy + dx * dx
            if d > best:
                best = d
        out[i] = best


class Shape2DMeasures(NamedTuple):
    """What the formulas read: A mesh surface, P perimeter, diameter, λ eigenvalues (ascending)."""

    surface: float
    perimeter: float
    diameter: float
    eigenvalues: np.ndarray  # [minor, major]
    n_pixels: int
    spacing: tuple


def perimeter_mesh(mask, spacing):
    """(perimeter, surface, maximum diameter) of a 2-D bool mask (y, x) with pixel spacing (y, x) in mm."""
    padded = np.pad(np.asarray(mask, dtype=np.bool_), 1)
    spacing = np.ascontiguousarray(spacing, dtype=np.float64)
    capacity = 2 * max(1, (padded.shape[0] - 1) * (padded.shape[1] - 1))
    vertices = np.empty((capacity, 2), dtype=np.float64)
    out = np.zeros(3, dtype=np.float64)
    _perimeter_kernel(padded, spacing, CORNERS, EDGE_MIDPOINTS, LINES, vertices, out)
    n = int(out[2])
    best = np.zeros(max(n, 1), dtype=np.float64)
    _max_squared_distance_kernel(vertices, n, best)
    return float(out[0]), float(out[1] / 2), float(np.sqrt(best.max()))


def principal_moments_2d(mask, spacing):
    """Eigenvalues (ascending) of the covariance of the physical pixel-centre coordinates, as PyRadiomics."""
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    index = np.where(padded != 0)
    n = len(index[0])
    coordinates = np.array(index, dtype="int").transpose((1, 0))
    physical = coordinates * np.asarray(spacing, dtype=np.float64)[None, :]
    physical -= np.mean(physical, axis=0)
    physical /= np.sqrt(n)
    covariance = np.dot(physical.T.copy(), physical)
    eigenvalues = np.linalg.eigvals(covariance)
    if np.iscomplexobj(eigenvalues):  # symmetric matrix: imaginary parts are rounding noise
        eigenvalues = eigenvalues.real.copy()
    eigenvalues[(eigenvalues < 0) & (eigenvalues > -1e-10)] = 0
    eigenvalues.sort()
    return eigenvalues


def mesh_surface(m):
    r"""Mesh Surface: area enclosed by the perimeter mesh (signed triangles with the origin).

    .. math:: A = \sum_{i=1}^{N_f} \frac{1}{2} Oa_i \times Ob_i
    """
    return m.surface


def pixel_surface(m):
    r"""Pixel Surface: number of ROI pixels times the area of one pixel.

    .. math:: A_{pixel} = N_p A_k
    """
    return m.n_pixels * (m.spacing[1] * m.spacing[0])


def perimeter(m):
    r"""Perimeter: total length of the perimeter mesh's lines.

    .. math:: P = \sum_{i=1}^{N_f} \lVert a_i - b_i \rVert
    """
    return m.perimeter


def perimeter_surface_ratio(m):
    r"""Perimeter to Surface ratio: lower for compact (circle-like) shapes.

    .. math:: \frac{P}{A}
    """
    return m.perimeter / m.surface


def sphericity(m):
    r"""Sphericity: perimeter of the circle of equal area over the ROI's perimeter (1 for a circle).

    .. math:: \frac{2\sqrt{\pi A}}{P}
    """
    return (2 * np.sqrt(np.pi * m.surface)) / m.perimeter


def spherical_disproportion(m):
    r"""Spherical Disproportion (deprecated in PyRadiomics): the inverse of sphericity.

    .. math:: \frac{P}{2\sqrt{\pi A}}
    """
    return 1.0 / sphericity(m)


def maximum_diameter(m):
    r"""Maximum 2D diameter: the largest distance between two perimeter-mesh vertices.

    .. math:: \max_{i,j} \lVert v_i - v_j \rVert
    """
    return m.diameter


def major_axis_length(m):
    r"""Major Axis Length: 4 times the square root of the largest principal moment.

    .. math:: 4 \sqrt{\lambda_{major}}
    """
    return np.sqrt(m.eigenvalues[1]) * 4 if m.eigenvalues[1] >= 0 else np.nan


def minor_axis_length(m):
    r"""Minor Axis Length: 4 times the square root of the second principal moment.

    .. math:: 4 \sqrt{\lambda_{minor}}
    """
    return np.sqrt(m.eigenvalues[0]) * 4 if m.eigenvalues[0] >= 0 else np.nan


def elongation(m):
    r"""Elongation: 1 for a circle-like ROI, 0 for a line.

    .. math:: \sqrt{\frac{\lambda_{minor}}{\lambda_{major}}}
    """
    if m.eigenvalues[0] < 0 or m.eigenvalues[1] < 0:
        return np.nan
    return np.sqrt(m.eigenvalues[0] / m.eigenvalues[1])


FEATURES = dict(
    zip(
        FEATURE_NAMES,
        (
            mesh_surface,
            pixel_surface,
            perimeter,
            perimeter_surface_ratio,
            sphericity,
            spherical_disproportion,
            maximum_diameter,
            major_axis_length,
            minor_axis_length,
            elongation,
        ),
        strict=True,
    )
)


def shape2d_features(mask, spacing, names=None):
    """Shape2D features of a 2-D ROI mask, PyRadiomics-exact.

    Parameters
    ----------
    mask : numpy.ndarray
        bool (y, x) ROI, the plane PyRadiomics keeps after dropping the ``force2Ddimension`` axis.
    spacing : sequence of float
        Pixel spacing of the two remaining axes, array order, in mm.
    names : iterable of str or None
        Features to compute (default: all of :data:`FEATURE_NAMES`).

    Returns
    -------
    dict
        ``{name: float}`` in the order of ``names``.
    """
    names = requested_names(names, FEATURES, "shape2D")
    mask = np.asarray(mask, dtype=bool)
    spacing = tuple(float(s) for s in spacing)
    per, surf, diam = perimeter_mesh(mask, spacing)
    measures = Shape2DMeasures(
        surface=surf,
        perimeter=per,
        diameter=diam,
        eigenvalues=principal_moments_2d(mask, spacing),
        n_pixels=int(np.count_nonzero(mask)),
        spacing=spacing,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return {name: float(FEATURES[name](measures)) for name in names}

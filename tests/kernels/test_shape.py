"""Shape kernels against hand-computed meshes, a naive all-pairs diameter search and closed-form moments.

The marching-cubes mesh of a box of Z x Y x X voxels is the convex hull of its boundary-face centres: a box
[0, Z-1] x [0, Y-1] x [0, X-1] (voxel-centre coordinates) grown by half a voxel on each face, with its
edges bevelled (right-angle prisms, legs half a voxel) and its corners cut by one triangle each. Its area,
volume and vertices follow in closed form; a single voxel is an octahedron.
"""

import itertools
import math

import numpy as np
import pytest

from spinerad.kernels import shape
from spinerad.kernels.shape import (
    FEATURE_NAMES,
    marching_cubes_mesh,
    maximum_diameters,
    principal_moments,
    shape_features,
)


def naive_diameters(vertices):
    """PyRadiomics' definition, all pairs in NumPy: squared (dz^2 + dy^2) + dx^2, max per plane and in 3D."""
    v = np.asarray(vertices)
    best = np.zeros(4)
    for i in range(1, len(v)):
        d = v[i] - v[:i]
        dist = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2]
        for axis in range(3):
            same = v[:i, axis] == v[i, axis]
            if same.any():
                best[axis] = max(best[axis], dist[same].max())
        best[3] = max(best[3], dist.max())
    return np.sqrt(best)


def box_area(dims, spacing):
    """Flat faces + bevelled edges + 8 corner triangles of the box mesh (mm^2)."""
    (nz, ny, nx), (sz, sy, sx) = dims, spacing
    lz, ly, lx = (nz - 1) * sz, (ny - 1) * sy, (nx - 1) * sx  # centre-to-centre lengths
    faces = 2 * (ly * lx + lz * lx + lz * ly)
    edges = 4 * (lx * math.hypot(sz, sy) / 2 + ly * math.hypot(sz, sx) / 2 + lz * math.hypot(sy, sx) / 2)
    a, b, c = sz / 2, sy / 2, sx / 2
    corners = 8 * 0.5 * math.sqrt(a * a * b * b + b * b * c * c + c * c * a * a)
    return faces + edges + corners


def box_volume(dims, spacing):
    """Inner box + half-voxel slabs on the faces + edge prisms (section 1/8) + corner tetrahedra (1/48)."""
    nz, ny, nx = dims
    lz, ly, lx = nz - 1, ny - 1, nx - 1
    unit = lz * ly * lx + 0.5 * 2 * (ly * lx + lz * lx + lz * ly) + 4 * (lx + ly + lz) / 8 + 8 / 48
    return unit * np.prod(spacing)


def box_hull_vertices(dims, spacing):
    """Return the 24 corners of the box mesh: on each face, the face centres of its 4 corner voxels."""
    corners = []
    for axis in range(3):
        others = [d for d in range(3) if d != axis]
        for side in (-0.5, dims[axis] - 0.5):
            for a, b in itertools.product((0, dims[others[0]] - 1), (0, dims[others[1]] - 1)):
                point = [0.0, 0.0, 0.0]
                point[axis], point[others[0]], point[others[1]] = side, a, b
                corners.append(np.multiply(point, spacing))
    return np.array(corners)


BOXES = [((1, 1, 1), (1.0, 1.0, 1.0)), ((1, 1, 1), (3.0, 2.0, 0.5)), ((2, 3, 4), (1.0, 1.0, 1.0)),
         ((5, 2, 7), (2.5, 0.7, 0.7)), ((3, 9, 1), (5.0, 0.6, 1.3))]  # fmt: skip


@pytest.mark.parametrize("dims, spacing", BOXES)
def test_box_mesh_area_and_volume(dims, spacing):
    mask = np.zeros(tuple(d + 2 for d in dims), dtype=bool)
    mask[1:-1, 1:-1, 1:-1] = True
    mesh = marching_cubes_mesh(mask, spacing)
    assert mesh.surface_area == pytest.approx(box_area(dims, spacing), rel=1e-12)
    assert mesh.volume == pytest.approx(box_volume(dims, spacing), rel=1e-12)
    # One vertex per boundary face of the box.
    nz, ny, nx = dims
    assert len(mesh.vertices) == 2 * (ny * nx + nz * nx + nz * ny)


def test_single_voxel_is_an_octahedron():
    sz, sy, sx = 3.0, 2.0, 0.5
    mesh = marching_cubes_mesh(np.ones((1, 1, 1), dtype=bool), (sz, sy, sx))
    assert mesh.volume == pytest.approx(sz * sy * sx / 6, rel=1e-14)
    a, b, c = sz / 2, sy / 2, sx / 2
    assert mesh.surface_area == pytest.approx(
        4 * math.sqrt(a * a * b * b + b * b * c * c + c * c * a * a), rel=1e-14
    )
    assert len(mesh.vertices) == 6


@pytest.mark.parametrize("dims, spacing", BOXES)
def test_box_diameters_are_the_mesh_corner_distances(dims, spacing):
    mask = np.ones(dims, dtype=bool)
    mesh = marching_cubes_mesh(mask, spacing)
    corners = box_hull_vertices(dims, spacing)
    expected = naive_diameters(corners)
    np.testing.assert_allclose(maximum_diameters(mesh.vertices, mesh.surface_area), expected, rtol=1e-12)
    # The cube: corner to corner of opposite faces, sqrt(n^2 + 2 (n-1)^2) voxels.
    if dims == (1, 1, 1) and spacing == (1.0, 1.0, 1.0):
        np.testing.assert_allclose(maximum_diameters(mesh.vertices), [1.0, 1.0, 1.0, 1.0])


def test_cube_3d_diameter_closed_form():
    n, s = 6, 0.8
    mesh = marching_cubes_mesh(np.ones((n, n, n), dtype=bool), (s, s, s))
    d = maximum_diameters(mesh.vertices, mesh.surface_area)
    assert d[3] == pytest.approx(s * math.sqrt(n**2 + 2 * (n - 1) ** 2), rel=1e-14)
    # In one plane: a face centre on one side to the far corner-voxel face centre,
    # e.g. (-1/2, 0) - (n-1/2, n-1).
    in_plane = s * max(math.hypot(n, n - 1), math.hypot(n - 0.5, n - 0.5))
    np.testing.assert_allclose(d[:3], in_plane, rtol=1e-14)


def _random_mask(rng, shape, fill):
    mask = rng.random(shape) < fill
    if not mask.any():
        mask[tuple(rng.integers(0, s) for s in shape)] = True
    return mask


@pytest.mark.parametrize("seed", range(12))
def test_pruned_diameter_search_equals_all_pairs(seed):
    """Bit-for-bit: skipped cell pairs never hold a maximum, and every distance is PyRadiomics' expression."""
    rng = np.random.default_rng(seed)
    shape_zyx = tuple(rng.integers(1, 14, size=3))
    spacing = tuple(rng.choice([0.3, 0.62, 1.0, 2.5, 5.0], size=3))
    mask = _random_mask(rng, shape_zyx, rng.uniform(0.1, 0.9))
    vertices = marching_cubes_mesh(mask, spacing).vertices
    np.testing.assert_array_equal(maximum_diameters(vertices), naive_diameters(vertices))


def test_diameters_of_scattered_components():
    """Two voxels far apart in a large, mostly empty box: the sparse cell grid is capped and still exact."""
    mask = np.zeros((3, 180, 200), dtype=bool)
    mask[0, 0, 0] = mask[2, 179, 199] = mask[1, 90, 3] = True
    vertices = marching_cubes_mesh(mask, (2.0, 0.5, 0.5)).vertices
    np.testing.assert_array_equal(maximum_diameters(vertices), naive_diameters(vertices))


def test_diameters_of_a_large_ball_equal_all_pairs():
    z, y, x = np.ogrid[-9:10, -14:15, -14:15]
    mask = (z / 9.5) ** 2 + (y / 14.5) ** 2 + (x / 14.5) ** 2 <= 1
    vertices = marching_cubes_mesh(mask, (2.0, 0.7, 0.7)).vertices
    assert len(vertices) > 2000  # many cells, so pruning is exercised
    np.testing.assert_array_equal(maximum_diameters(vertices), naive_diameters(vertices))


def test_padding_does_not_change_area_diameters_or_the_volume_of_a_closed_mesh():
    """A box has no ambiguous cube faces: its mesh is closed, so its signed volume is origin-independent.

    (PyRadiomics' table resolves some ambiguous faces inconsistently; such meshes have cracks and their
    volume depends on where the origin lies: see tests/test_oracle_shape.py.)
    """
    rng = np.random.default_rng(7)
    spacing = (2.5, 0.7, 1.1)
    irregular = _random_mask(rng, (5, 6, 7), 0.6)
    box = np.ones((3, 4, 2), dtype=bool)
    for mask in (irregular, box):
        cropped = marching_cubes_mesh(mask, spacing)
        padded = marching_cubes_mesh(np.pad(mask, ((2, 0), (0, 3), (1, 1))), spacing)
        assert padded.surface_area == pytest.approx(cropped.surface_area, rel=1e-12)
        np.testing.assert_allclose(
            maximum_diameters(padded.vertices), maximum_diameters(cropped.vertices), rtol=1e-13
        )
    assert padded.volume == pytest.approx(cropped.volume, rel=1e-12)


def test_holes_reduce_the_volume_by_their_mesh_volume():
    """A hole's surface is oriented inwards: its (octahedron) volume is subtracted."""
    spacing = (1.5, 1.0, 0.5)
    mask = np.ones((5, 5, 5), dtype=bool)
    solid = marching_cubes_mesh(mask, spacing)
    mask[2, 2, 2] = False
    holed = marching_cubes_mesh(mask, spacing)
    assert holed.volume == pytest.approx(solid.volume - np.prod(spacing) / 6, rel=1e-12)
    octahedron = marching_cubes_mesh(np.ones((1, 1, 1), dtype=bool), spacing)
    assert holed.surface_area == pytest.approx(solid.surface_area + octahedron.surface_area, rel=1e-12)


@pytest.mark.parametrize("dims, spacing", BOXES[2:])
def test_principal_moments_of_a_box(dims, spacing):
    """Voxel centres of a box: variance s^2 (n^2 - 1) / 12 per axis, no covariance."""
    eigenvalues = principal_moments(np.ones(dims, dtype=bool), spacing)
    expected = sorted(s * s * (n * n - 1) / 12 for n, s in zip(dims, spacing, strict=True))
    np.testing.assert_allclose(eigenvalues, expected, rtol=1e-12, atol=1e-12)
    values = shape_features(np.ones(dims, dtype=bool), spacing)
    assert values["MajorAxisLength"] == pytest.approx(4 * math.sqrt(expected[2]), rel=1e-12)
    assert values["MinorAxisLength"] == pytest.approx(4 * math.sqrt(expected[1]), rel=1e-12)
    assert values["Elongation"] == pytest.approx(math.sqrt(expected[1] / expected[2]), rel=1e-12)


def pyradiomics_principal_moments(mask, spacing):
    """PyRadiomics 3.0.1's own NumPy steps (``RadiomicsShape._initSegmentBasedCalculation``), eigenvalues sorted."""
    index = np.array(np.nonzero(np.pad(mask, 1)), dtype="int")  # its mask is padded by one voxel
    n = index.shape[1]
    coordinates = index.transpose((1, 0)) * np.asarray(spacing, dtype=np.float64)[None, :]
    coordinates -= np.mean(coordinates, axis=0)
    coordinates /= np.sqrt(n)
    eigenvalues = np.linalg.eigvals(np.dot(coordinates.T.copy(), coordinates))
    if np.iscomplexobj(eigenvalues):
        eigenvalues = eigenvalues.real.copy()
    eigenvalues[(eigenvalues < 0) & (eigenvalues > -1e-10)] = 0
    return np.sort(eigenvalues)


@pytest.mark.parametrize("seed", range(4))
def test_principal_moments_are_pyradiomics_bits(seed):
    """The fused coordinate kernels keep NumPy's layout and rounding steps: the very same eigenvalues."""
    rng = np.random.default_rng(seed)
    for _ in range(60):
        mask = rng.random(rng.integers(1, 13, 3)) < rng.uniform(0.05, 0.95)
        if not mask.any():
            continue
        spacing = rng.uniform(0.3, 5.0, 3)
        ours = principal_moments(mask, spacing)
        np.testing.assert_array_equal(ours, pyradiomics_principal_moments(mask, spacing))


def test_features_of_a_box_follow_from_mesh_and_voxels():
    dims, spacing = (3, 4, 5), (2.0, 1.0, 0.5)
    values = shape_features(np.ones(dims, dtype=bool), spacing)
    assert set(values) == set(FEATURE_NAMES)
    area, volume = box_area(dims, spacing), box_volume(dims, spacing)
    assert values["VoxelVolume"] == pytest.approx(60 * 1.0, rel=1e-15)
    assert values["MeshVolume"] == pytest.approx(volume, rel=1e-12)
    assert values["SurfaceArea"] == pytest.approx(area, rel=1e-12)
    assert values["SurfaceVolumeRatio"] == pytest.approx(area / volume, rel=1e-12)
    sphericity = (36 * math.pi * volume**2) ** (1 / 3) / area
    assert values["Sphericity"] == pytest.approx(sphericity, rel=1e-12)
    assert values["SphericalDisproportion"] == pytest.approx(1 / sphericity, rel=1e-12)
    assert values["Compactness2"] == pytest.approx(sphericity**3, rel=1e-12)
    assert values["Compactness1"] == pytest.approx(math.sqrt(sphericity**3) / (6 * math.pi), rel=1e-12)
    # Slices are z-planes: the largest in-plane distance only uses the y and x extents.
    assert values["Maximum2DDiameterSlice"] == pytest.approx(
        max(math.hypot(4 * 1.0, 4 * 0.5), math.hypot(3 * 1.0, 5 * 0.5), math.hypot(3.5 * 1.0, 4.5 * 0.5)),
        rel=1e-12,
    )


def test_flat_and_single_voxel_axes():
    flat = shape_features(np.ones((1, 4, 6), dtype=bool), (5.0, 1.0, 1.0))
    assert flat["LeastAxisLength"] == 0.0 and flat["Flatness"] == 0.0
    with np.errstate(all="raise"):  # NaN from 0/0 must come without a floating-point warning
        voxel = shape_features(np.ones((1, 1, 1), dtype=bool), (1.0, 2.0, 3.0))
    assert voxel["MajorAxisLength"] == 0.0
    assert math.isnan(voxel["Elongation"]) and math.isnan(voxel["Flatness"])


def test_negative_eigenvalue_gives_nan():
    measures = shape.ShapeMeasures(1.0, 1.0, np.zeros(4), np.array([-1e-3, 1.0, 2.0]), 1, (1.0, 1.0, 1.0))
    assert math.isnan(shape.least_axis_length(measures))
    assert math.isnan(shape.flatness(measures))
    assert shape.elongation(measures) == pytest.approx(math.sqrt(0.5))


def test_only_requested_features_are_computed():
    values = shape_features(np.ones((2, 2, 2), dtype=bool), (1, 1, 1), ["Sphericity", "VoxelVolume"])
    assert list(values) == ["Sphericity", "VoxelVolume"]


@pytest.mark.parametrize(
    "mask, spacing, message",
    [
        (np.zeros((2, 2, 2), dtype=bool), (1, 1, 1), "empty"),
        (np.ones((2, 2), dtype=bool), (1, 1, 1), "3-D"),
        (np.ones((2, 2, 2), dtype=bool), (1, 0, 1), "spacing"),
        (np.ones((2, 2, 2), dtype=bool), (1, 1), "spacing"),
    ],
)
def test_invalid_input(mask, spacing, message):
    with pytest.raises(ValueError, match=message):
        shape_features(mask, spacing)


def test_unknown_feature_name():
    with pytest.raises(ValueError, match="unknown shape feature"):
        shape_features(np.ones((2, 2, 2), dtype=bool), (1, 1, 1), ["Roundness"])


def test_every_feature_has_a_documented_formula():
    for name, function in shape.FEATURES.items():
        assert ".. math::" in function.__doc__, name
    assert tuple(shape.FEATURES) == FEATURE_NAMES

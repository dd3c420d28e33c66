"""Acceptance: the shape class equals the live PyRadiomics 3.0.1 oracle, and PyRadiomics' shape baseline.

(a) The 6 real cases, all 17 features (the three deprecated ones asked for by name), through
    ``spinerad.extract`` and ``RadiomicsFeatureExtractor`` from the same SimpleITK objects and parameters.
(b) The mesh kernels against PyRadiomics' C extension (``cShape.calculate_coefficients``) on random masks
    placed at random offsets in the padded grid, including PyRadiomics' origin-dependent mesh volume.
(c) Hypothesis: random masks (several components and labels, holes, 1-voxel-thick parts, contact with the
    volume border, anisotropic spacing) through both extractors.
(d) ``baseline/baseline_shape.csv``: the plain ``<case>`` columns (written by an older PyRadiomics whose
    mesh values differ by up to 9.2e-4 relative from 3.0.1, hence 1e-3 there).

Tolerance against the live oracle: the exact rule of ``tests/oracle.py`` (1e-10 relative). On the reference
machine every value is bit-for-bit equal; the margin only absorbs a differently compiled C extension or
LAPACK.
"""

import ast
import copy
import csv

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerad
from spinerad.errors import InvalidInput
from spinerad.kernels import shape
from tests.conftest import CASES, PYRADIOMICS_DATA, require, require_oracle
from tests.oracle import mismatches as _mismatches
from tests.oracle import oracle_features, read_case

pytestmark = [
    pytest.mark.oracle,
    # PyRadiomics validates parameter mappings with pykwalify, which loads its schema extension through the
    # deprecated importlib load_module(); the warning is attributed to importlib, not to pykwalify.
    pytest.mark.filterwarnings("ignore:the load_module\\(\\) method is deprecated:DeprecationWarning"),
]

#: the published shape baseline was written by an older PyRadiomics: up to 9.2e-4 relative from 3.0.1
BASELINE_RTOL = 1e-3
ALL_NAMES = list(shape.FEATURE_NAMES)


def _params(setting=None, names=ALL_NAMES):
    return {
        "setting": {"additionalInfo": False, **(setting or {})},
        "imageType": {"Original": {}},
        "featureClass": {"shape": list(names)},
    }


def _oracle_extract(featureextractor, image, mask, label, params):
    return oracle_features(featureextractor, image, mask, params, label=label)


# --------------------------------------------------------------------------------------------------------
# (a) the real cases


@pytest.fixture(scope="module")
def case_features(pyradiomics_data, oracle):
    cache = {}

    def get(case):
        if case not in cache:
            image, mask, label = read_case(pyradiomics_data, case)
            params = _params()
            expected = _oracle_extract(oracle, image, mask, label, params)
            actual = spinerad.extract(image, mask, params=copy.deepcopy(params), label=label)
            cache[case] = actual, expected
        return cache[case]

    return get


@pytest.mark.shared
@pytest.mark.parametrize("case", tuple(CASES))
def test_shape_features_equal_pyradiomics(case, case_features):
    actual, expected = case_features(case)
    assert len(expected) == len(ALL_NAMES), sorted(expected)
    bad = _mismatches(actual, expected)
    assert not bad, f"{len(bad)}/{len(expected)} shape features differ on {case}:\n" + "\n".join(bad)


@pytest.mark.shared
def test_default_shape_names_are_pyradiomics_defaults(pyradiomics_data, oracle):
    """``shape: []`` enables the 14 non-deprecated features in both engines."""
    image, mask, label = read_case(pyradiomics_data, "breast1")
    params = _params(names=[])
    expected = _oracle_extract(oracle, image, mask, label, params)
    actual = spinerad.extract(image, mask, params=copy.deepcopy(params), label=label)
    assert len(expected) == 14
    assert not _mismatches(actual, expected)


# --------------------------------------------------------------------------------------------------------
# (b) the mesh kernels against the C extension


def _c_shape():
    require_oracle()
    from radiomics import cShape

    return cShape


@pytest.mark.parametrize("seed", range(40))
def test_mesh_and_diameters_equal_pyradiomics_c_extension(seed):
    """Area, volume and the four diameters of ``cShape.calculate_coefficients`` on the same padded grid."""
    c_shape = _c_shape()
    rng = np.random.default_rng(seed)
    roi = rng.random(tuple(rng.integers(1, 11, size=3))) < rng.uniform(0.15, 0.95)
    roi.flat[rng.integers(roi.size)] = True
    spacing = rng.uniform(0.2, 6.0, size=3)
    # Zeros before/after the ROI move it in the grid; the kernel pads by one more, as PyRadiomics does.
    mask = np.pad(roi, [tuple(rng.integers(0, 3, size=2)) for _ in range(3)])
    area, volume, diameters = c_shape.calculate_coefficients(np.pad(mask, 1), spacing)
    mesh = shape.marching_cubes_mesh(mask, spacing)
    assert mesh.surface_area == pytest.approx(area, rel=1e-12)
    assert mesh.volume == pytest.approx(volume, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(
        shape.maximum_diameters(mesh.vertices, mesh.surface_area), diameters, rtol=1e-12
    )


def test_mesh_volume_depends_on_the_crop_origin_as_in_pyradiomics():
    """Two voxels touching along an edge: PyRadiomics' table leaves that mesh not closed and oriented.

    The sum of signed tetrahedra then depends on the origin (1/3 mm^3 at the crop, -1/6 mm^3 three slices
    further). spinerad uses PyRadiomics' origin (the bounding-box crop padded by one voxel): both agree.
    """
    c_shape = _c_shape()
    roi = np.zeros((1, 2, 2), dtype=bool)
    roi[0, 0, 1] = roi[0, 1, 0] = True
    for before in (0, 3):
        mask = np.pad(roi, ((before, 0), (0, 0), (0, 0)))
        _, expected, _ = c_shape.calculate_coefficients(np.pad(mask, 1), np.ones(3))
        assert shape.marching_cubes_mesh(mask, (1.0, 1.0, 1.0)).volume == pytest.approx(expected, abs=1e-12)
    assert shape.marching_cubes_mesh(roi, (1.0, 1.0, 1.0)).volume == pytest.approx(1 / 3)


# --------------------------------------------------------------------------------------------------------
# (c) property test on random masks

HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "max_examples": 80,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@st.composite
def shape_studies(draw):
    """``(mask array, spacing (z, y, x), label, minimumROIDimensions)`` of a random multi-part ROI."""
    dims = tuple(draw(st.integers(1, 12)) for _ in range(3))
    spacing = tuple(draw(st.sampled_from([0.25, 0.6269531, 0.7, 1.0, 2.1, 3.3, 5.0, 6.5])) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_labels = draw(st.integers(1, 3))
    label = draw(st.integers(1, n_labels))
    mask = np.zeros(dims, dtype=np.uint8)
    other = rng.random(dims) < draw(st.floats(0.0, 0.5))  # other labels around and between the parts
    mask[other] = rng.integers(1, n_labels + 1, size=int(other.sum()))
    grid = np.indices(dims).transpose(1, 2, 3, 0)
    for _ in range(draw(st.integers(1, 4))):  # several components
        kind = draw(st.sampled_from(["block", "ellipsoid", "noise", "line", "plane"]))
        centre = np.array([draw(st.integers(0, d - 1)) for d in dims])
        if kind == "block":
            half = np.array([draw(st.integers(0, d)) for d in dims])
            part = np.all(np.abs(grid - centre) <= half, axis=-1)
        elif kind == "ellipsoid":
            radii = np.array([draw(st.floats(0.5, d)) for d in dims])
            part = np.sum(((grid - centre) / radii) ** 2, axis=-1) <= 1
        elif kind == "noise":
            part = rng.random(dims) < draw(st.floats(0.1, 0.9))
        else:  # a 1-voxel-thick line or plane through the centre
            keep = draw(
                st.sets(
                    st.integers(0, 2),
                    min_size=1 if kind == "line" else 2,
                    max_size=1 if kind == "line" else 2,
                )
            )
            part = np.zeros(dims, dtype=bool)
            part[tuple(slice(None) if axis in keep else centre[axis] for axis in range(3))] = True
        mask[part] = label
    if draw(st.booleans()):  # holes
        mask[rng.random(dims) < draw(st.floats(0.05, 0.4))] = 0
    if draw(st.booleans()):  # the label on a face of the volume
        axis = draw(st.integers(0, 2))
        face = [slice(None)] * 3
        face[axis] = draw(st.sampled_from([0, dims[axis] - 1]))
        mask[tuple(face)] = np.where(rng.random(mask[tuple(face)].shape) < 0.7, label, mask[tuple(face)])
    if not (mask == label).any():
        mask[tuple(centre)] = label
    if mask.size > 1 and (mask == label).all():
        # PyRadiomics reads a label map holding a single value as "nothing segmented" and refuses it; that
        # intake rule is not what this test is about.
        mask[tuple(centre)] = 0
    return mask, spacing, label, draw(st.sampled_from([1, 1, 2]))


def _images(mask, spacing):
    values = np.random.default_rng(0).normal(100, 20, mask.shape)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    label_map = sitk.GetImageFromArray(mask)
    label_map.CopyInformation(image)
    return image, label_map


@given(study=shape_studies())
@settings(**HYPOTHESIS)
def test_random_masks_equal_pyradiomics(study):
    mask, spacing, label, minimum_dimensions = study
    featureextractor = require_oracle()
    image, label_map = _images(mask, spacing)
    params = _params({"minimumROIDimensions": minimum_dimensions})
    try:
        expected = _oracle_extract(featureextractor, image, label_map, label, params)
    except (ValueError, AssertionError) as refusal:  # PyRadiomics refuses the ROI: spinerad must too
        with pytest.raises(InvalidInput):
            spinerad.extract(image, label_map, params=copy.deepcopy(params), label=label)
        assert str(refusal)
        return
    actual = spinerad.extract(image, label_map, params=copy.deepcopy(params), label=label)
    bad = _mismatches(actual, expected)
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------------------
# (d) PyRadiomics' published baseline

BASELINE_COLUMNS = ("brain1", "brain2", "breast1", "lung1", "lung2")


def _baseline():
    path = require(PYRADIOMICS_DATA / "baseline" / "baseline_shape.csv")
    with path.open(newline="") as handle:
        table = list(csv.reader(handle))
    return table[0][1:], {row[0]: row[1:] for row in table[1:]}


@pytest.mark.shared
@pytest.mark.parametrize(
    "column", BASELINE_COLUMNS, ids=[f"{c}-vs-baseline_shape.csv" for c in BASELINE_COLUMNS]
)
def test_shape_equals_baseline_column(column, pyradiomics_data):
    columns, rows = _baseline()
    index = columns.index(column)
    setting = ast.literal_eval(rows["diagnostics_Configuration_Settings"][index])
    case = rows["diagnostics_Configuration_TestCase"][index]
    image = require(pyradiomics_data / "images" / f"{case}_image.nrrd")
    mask = require(pyradiomics_data / "images" / f"{case}_label.nrrd")
    params = {"setting": setting, "imageType": {"Original": {}}, "featureClass": {"shape": []}}
    actual = spinerad.extract(str(image), str(mask), params=params)
    expected = {
        name: float(values[index]) for name, values in rows.items() if name.startswith("original_shape_")
    }
    assert len(expected) == 14
    bad = _mismatches(actual, expected, rtol=BASELINE_RTOL, reference="baseline")
    assert not bad, f"{len(bad)}/{len(expected)} differ from the baseline:\n" + "\n".join(bad)

"""Acceptance: PyRadiomics' own published baseline (matrices and feature values) is reproduced.

(a) ``baseline/<case>_glcm.npy`` / ``<case>_glrlm.npy``: the texture matrices of the ``<case>`` column
    settings (binWidth 25, distance 1, 3D, no resampling), computed here through spinerad's public kernels.
(b) every firstorder/glcm/glrlm row of ``baseline/baseline_<class>.csv``, for each column (configuration)
    spinerad supports, via ``spinerad.extract`` with that column's own settings.
"""

import ast
import csv

import numpy as np
import pytest

import spinerad
from spinerad import intake, kernels, preprocess
from spinerad.errors import NotSupported
from spinerad.kernels import glcm, glrlm
from tests.conftest import PYRADIOMICS_DATA, require
from tests.oracle import EXACT_RTOL, mismatches

pytestmark = [pytest.mark.shared]

MATRIX_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
CLASSES = ("firstorder", "glcm", "glrlm")
#: PyRadiomics' published firstorder/glcm/glrlm CSVs hold full-precision values that spinerad reproduces as
#: closely as the live oracle: the exact rule of tests/oracle.py (1e-10 relative) holds on every column.
BASELINE_RTOL = EXACT_RTOL
# Matrices hold exact counts (GLRLM) or counts / total (GLCM): equal to rounding.
MATRIX_ATOL = 1e-12


# --------------------------------------------------------------------------------------------------------
# (a) texture matrices


def _discretised_levels(pyradiomics_data, case, label=1, bin_width=25):
    """Build the cropped ROI as compact grey-level indices, as ``spinerad.pipeline.extract`` does."""
    image = intake.read_image(require(pyradiomics_data / "images" / f"{case}_image.nrrd"))
    mask = intake.read_image(require(pyradiomics_data / "images" / f"{case}_label.nrrd"))
    assert intake.is_integer_image(mask), "pipeline.extract would cast a non-integer mask first"
    mask_array = intake.as_zyx(mask)
    # The <case> columns use minimumROIDimensions 1.
    _, box = intake.locate_roi(mask_array, label, 1)
    in_roi = mask_array[box] == label
    roi_values = intake.as_zyx(image)[box][in_roi]
    _, grey_levels, compact, _ = preprocess.discretise(roi_values, bin_width, None)
    levels = np.full(in_roi.shape, -1, dtype=np.int32)
    levels[in_roi] = compact
    return levels, grey_levels


def _drop_empty_run_lengths(matrix):
    """Drop run-length columns that are empty over all grey levels and angles.

    PyRadiomics' ``P_glrlm`` keeps only the run lengths present in the ROI (it deletes empty columns
    anywhere, not just trailing ones, and keeps the true lengths in ``jvector``); spinerad keeps one
    column per possible length. Axis order here: (Ng, Nr, angles).
    """
    return matrix[:, matrix.sum(axis=(0, 2)) != 0]


@pytest.mark.parametrize("case", MATRIX_CASES, ids=[f"{c}-glcm-vs-{c}_glcm.npy" for c in MATRIX_CASES])
def test_glcm_matrix_equals_baseline(case, pyradiomics_data):
    """Symmetric GLCM, each of the 13 directions normalised, axes (Ng, Ng, 13) as PyRadiomics stores it."""
    expected = np.load(require(pyradiomics_data / "baseline" / f"{case}_glcm.npy"))
    levels, grey_levels = _discretised_levels(pyradiomics_data, case)
    angles = kernels.generate_angles(levels.shape, (1,), False, 0)
    counts = kernels.glcm_matrix(levels, angles, len(grey_levels))
    actual = glcm.prepare_glcm(counts, symmetrical=True)[0].transpose(1, 2, 0)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=MATRIX_ATOL)


@pytest.mark.parametrize("case", MATRIX_CASES, ids=[f"{c}-glrlm-vs-{c}_glrlm.npy" for c in MATRIX_CASES])
def test_glrlm_matrix_equals_baseline(case, pyradiomics_data):
    """Raw run counts per direction, axes (Ng, Nr, 13), compared on the run lengths present.

    Dropping empty columns loses which length a column stands for; the true lengths are checked by (b),
    whose run-length features (ShortRunEmphasis, LongRunEmphasis, RunVariance, ...) weight by them.
    """
    expected = np.load(require(pyradiomics_data / "baseline" / f"{case}_glrlm.npy"))
    levels, grey_levels = _discretised_levels(pyradiomics_data, case)
    angles = kernels.generate_angles(levels.shape, (1,), False, 0)
    counts = kernels.glrlm_matrix(levels, angles, len(grey_levels))
    matrix, _ = glrlm.prepare_glrlm(counts)
    actual = _drop_empty_run_lengths(matrix[0].transpose(1, 2, 0))
    expected = _drop_empty_run_lengths(expected)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=MATRIX_ATOL)


# --------------------------------------------------------------------------------------------------------
# (b) feature values of the baseline CSV columns


def _read_baseline(feature_class, data=PYRADIOMICS_DATA):
    """``(columns, rows)``: the CSV's column names and ``{row name: [value per column]}``."""
    path = data / "baseline" / f"baseline_{feature_class}.csv"
    with path.open(newline="") as handle:
        table = list(csv.reader(handle))
    return table[0][1:], {row[0]: row[1:] for row in table[1:]}


def _column_params(settings):
    """Build the parameter mapping of one baseline column: its settings, Original image, three classes."""
    return {"setting": settings, "imageType": {"Original": {}}, "featureClass": {c: [] for c in CLASSES}}


def _unsupported(settings, image_types):
    """Why spinerad cannot reproduce a column (None when it can): asks spinerad's own parameter validation."""
    if image_types != {"Original": {}}:
        return f"image types {sorted(image_types)}"
    try:
        spinerad.load_params(_column_params(settings))
    except NotSupported as exc:
        return str(exc)
    return None


def _short(reason):
    return "".join(c if c.isalnum() else "_" for c in reason)[:60].strip("_")


def _baseline_params():
    """Parametrisation of (b), read from the CSVs at collection (one entry that skips/fails when absent)."""
    if not (PYRADIOMICS_DATA / "baseline").exists():
        return [pytest.param(None, None, id="baseline-data-absent")]
    params = []
    for feature_class in CLASSES:
        columns, rows = _read_baseline(feature_class)
        for index, column in enumerate(columns):
            settings = ast.literal_eval(rows["diagnostics_Configuration_Settings"][index])
            image_types = ast.literal_eval(rows["diagnostics_Configuration_EnabledImageTypes"][index])
            reason = _unsupported(settings, image_types)
            test_id = f"{feature_class}-{column}-vs-baseline_{feature_class}.csv"
            if reason:
                params.append(
                    pytest.param(
                        feature_class,
                        column,
                        id=f"{test_id}-unsupported-{_short(reason)}",
                        marks=pytest.mark.skip(reason=f"spinerad: {reason}"),
                    )
                )
            else:
                params.append(pytest.param(feature_class, column, id=test_id))
    return params


@pytest.fixture(scope="module")
def baseline_features(pyradiomics_data):
    """``column -> spinerad features`` with that column's settings (computed once per column)."""
    cache = {}

    def get(feature_class, column):
        columns, rows = _read_baseline(feature_class, pyradiomics_data)
        index = columns.index(column)
        if column not in cache:
            settings = ast.literal_eval(rows["diagnostics_Configuration_Settings"][index])
            case = rows["diagnostics_Configuration_TestCase"][index]
            image = require(pyradiomics_data / "images" / f"{case}_image.nrrd")
            mask = require(pyradiomics_data / "images" / f"{case}_label.nrrd")
            cache[column] = spinerad.extract(str(image), str(mask), params=_column_params(settings))
        prefix = f"original_{feature_class}_"
        expected = {name: float(values[index]) for name, values in rows.items() if name.startswith(prefix)}
        return cache[column], expected

    return get


@pytest.mark.parametrize("feature_class, column", _baseline_params())
def test_features_equal_baseline_column(feature_class, column, baseline_features, pyradiomics_data):
    """Every ``original_<class>_*`` row of the column, within 1e-10 relative (tests/oracle.py)."""
    if column is None:
        require(pyradiomics_data / "baseline")
    actual, expected = baseline_features(feature_class, column)
    assert expected, f"no original_{feature_class}_* rows in the baseline"
    missing = sorted(set(expected) - set(actual))
    assert not missing, f"spinerad does not compute {missing}"
    bad = mismatches(actual, expected, rtol=BASELINE_RTOL, reference="baseline", same_names=False)
    assert not bad, f"{len(bad)}/{len(expected)} differ:\n" + "\n".join(bad)

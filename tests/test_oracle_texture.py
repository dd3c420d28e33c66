"""Acceptance: GLSZM, GLDM and NGTDM equal the live PyRadiomics 3.0.1 oracle.

Three checks, expectations always from PyRadiomics, never from spinerad:

- every feature of the three classes on the 6 real cases, default settings and variants (binning, ``gldm_a``,
  ``distances``, ``force2D``). PyRadiomics runs one extraction per (case, settings) with only these three
  classes enabled: each class is instantiated on its own from the same cropped image, so this equals
  enabling one class at a time, at a third of the oracle's time;
- the matrices against the upstream baselines ``baseline/<case>_<class>.npy``;
- a Hypothesis property test on small random volumes and masks.

Equal means the exact rule of ``tests/oracle.py`` (1e-10 relative), NaN equal to NaN.
"""

import copy

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import spinerad
from spinerad import intake, preprocess
from spinerad.errors import InvalidInput, RoiTooSmall
from spinerad.kernels import generate_angles, gldm_matrix, glszm_matrix, ngtdm_matrix
from tests.conftest import CASES, require, require_oracle
from tests.oracle import case_reader, oracle_features
from tests.oracle import mismatches as _mismatches

pytestmark = [
    pytest.mark.oracle,
    # PyRadiomics validates parameter mappings with pykwalify, which loads its schema extension through the
    # deprecated importlib load_module(); the warning is attributed to importlib, not to pykwalify.
    pytest.mark.filterwarnings("ignore:the load_module\\(\\) method is deprecated:DeprecationWarning"),
]

CLASSES = ("glszm", "gldm", "ngtdm")

#: Settings variants (PyRadiomics ``setting`` section) applied on top of PyRadiomics' defaults.
SETTINGS = {
    "default": {},
    "binCount-16": {"binCount": 16},
    "binWidth-10": {"binWidth": 10},
    "gldm_a-1": {"gldm_a": 1},
    "gldm_a-2": {"gldm_a": 2},
    "distances-1-2": {"distances": [1, 2]},
    "force2D-dimension0": {"force2D": True, "force2Ddimension": 0},
    "force2D-dimension2": {"force2D": True, "force2Ddimension": 2},
}
BASELINE_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def _both(image, mask, label, params):
    """(spinerad, PyRadiomics) feature dicts for the very same inputs and parameter mapping."""
    expected = oracle_features(require_oracle(), image, mask, params, label=label)
    actual = spinerad.extract(image, mask, params=copy.deepcopy(params), label=label)
    return actual, expected


def _params(setting, classes=CLASSES):
    return {
        "setting": {"additionalInfo": False, **copy.deepcopy(setting)},
        "imageType": {"Original": {}},
        "featureClass": {name: [] for name in classes} if isinstance(classes, tuple) else classes,
    }


@pytest.fixture(scope="module")
def images(pyradiomics_data):
    """Lazily loaded ``case -> (image, mask, label)``; both engines get these very objects."""
    return case_reader(pyradiomics_data)


@pytest.fixture(scope="module")
def extracted(images):
    """``(case, config) -> (spinerad features, PyRadiomics features)``, computed once per module."""
    cache = {}

    def get(case, config):
        if (case, config) not in cache:
            image, mask, label = images(case)
            cache[case, config] = _both(image, mask, label, _params(SETTINGS[config]))
        return cache[case, config]

    return get


@pytest.mark.shared
@pytest.mark.parametrize("feature_class", CLASSES)
@pytest.mark.parametrize("config", tuple(SETTINGS))
@pytest.mark.parametrize("case", tuple(CASES))
def test_features_equal_pyradiomics(case, config, feature_class, extracted):
    actual, expected = extracted(case, config)
    prefix = f"original_{feature_class}_"
    expected = {k: v for k, v in expected.items() if k.startswith(prefix)}
    actual = {k: v for k, v in actual.items() if k.startswith(prefix)}
    assert len(expected) == {"glszm": 16, "gldm": 14, "ngtdm": 5}[feature_class]
    bad = _mismatches(actual, expected)
    assert not bad, f"{len(bad)}/{len(expected)} features differ on {case} [{config}]:\n" + "\n".join(bad)


@pytest.mark.shared
def test_deprecated_gldm_features_give_no_value_as_in_pyradiomics(images):
    image, mask, label = images("brain1")
    requested = {
        "gldm": ["GrayLevelNonUniformityNormalized", "DependencePercentage", "SmallDependenceEmphasis"]
    }
    actual, expected = _both(image, mask, label, _params({}, requested))
    assert sorted(expected) == ["original_gldm_SmallDependenceEmphasis"]
    assert not _mismatches(actual, expected)


@pytest.mark.parametrize("feature_class", CLASSES)
def test_no_offset_fits_the_box_as_in_pyradiomics(feature_class):
    """Refuse distances [2] on a 2x2x2 ROI for GLDM/NGTDM as PyRadiomics does; GLSZM ignores distances."""
    values = np.arange(27, dtype=np.float64).reshape(3, 3, 3) * 10
    mask_array = np.zeros((3, 3, 3), dtype=np.uint8)
    mask_array[:2, :2, :2] = 1
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(mask_array)
    params = _params({"distances": [2]}, (feature_class,))
    extractor = require_oracle().RadiomicsFeatureExtractor(copy.deepcopy(params))
    if feature_class == "glszm":
        actual, expected = _both(image, mask, 1, params)
        assert len(expected) == 16
        assert not _mismatches(actual, expected)
        return
    with pytest.raises(RuntimeError, match="angle count"):
        extractor.execute(image, mask, label=1)
    with pytest.raises(RoiTooSmall):
        spinerad.extract(image, mask, params=copy.deepcopy(params), label=1)


# --------------------------------------------------------------------------------------------------------
# matrices against the upstream baselines (binWidth 25, distance 1, 3D)


def _case_levels(image, mask, label):
    """Compact levels and real grey levels of a case's cropped ROI, discretised with binWidth 25."""
    mask_array = intake.as_zyx(mask)
    _, box = intake.locate_roi(mask_array, label)
    in_roi = mask_array[box] == label
    _, grey_levels, compact, _ = preprocess.discretise(intake.as_zyx(image)[box][in_roi], 25)
    levels = np.full(in_roi.shape, -1, dtype=np.int32)
    levels[in_roi] = compact
    return levels, grey_levels


@pytest.mark.shared
@pytest.mark.parametrize("case", BASELINE_CASES)
def test_matrices_equal_upstream_baseline(case, images, pyradiomics_data):
    levels, grey_levels = _case_levels(*images(case))
    angles = generate_angles(levels.shape, (1,), bidirectional=True)

    def baseline(name):
        return np.load(require(pyradiomics_data / "baseline" / f"{case}_{name}.npy"))

    # PyRadiomics drops the empty zone-size and dependence columns from its matrices
    zones = glszm_matrix(levels, angles, len(grey_levels))
    np.testing.assert_array_equal(zones[:, zones.sum(axis=0) > 0], baseline("glszm"))
    dependence = gldm_matrix(levels, angles, grey_levels, 0)
    np.testing.assert_array_equal(dependence[:, dependence.sum(axis=0) > 0], baseline("gldm"))
    ngtdm = ngtdm_matrix(levels, angles, grey_levels)
    np.testing.assert_allclose(np.column_stack([ngtdm, grey_levels]), baseline("ngtdm"), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------------------
# property test on random small volumes


@st.composite
def studies(draw):
    """Draw a random volume (2..10 voxels per axis, anisotropic spacing), label map and texture settings.

    Intensities are blocky (flat patches make zones larger than one voxel and neighbours dependent) plus
    optional noise; the label map has several components, holes, and may cover faces of the volume.
    """
    shape = tuple(draw(st.integers(2, 10)) for _ in range(3))
    spacing = tuple(draw(st.sampled_from([0.4, 1.0, 1.5, 3.0])) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    block = draw(st.integers(1, 3))
    coarse = rng.integers(0, draw(st.integers(1, 6)), tuple(-(-s // block) for s in shape))
    values = np.kron(coarse, np.ones((block, block, block)))[: shape[0], : shape[1], : shape[2]]
    values = values * draw(st.sampled_from([10.0, 25.0, 40.0])) + draw(st.integers(-100, 100))
    if draw(st.booleans()):
        values = values + rng.normal(0, draw(st.sampled_from([1.0, 8.0, 30.0])), shape)
    mask = (rng.random(shape) < draw(st.floats(0.3, 0.95))).astype(np.uint8)
    if draw(st.booleans()):  # a solid block with holes punched in it: one big component
        corner = [draw(st.integers(0, s - 1)) for s in shape]
        mask[tuple(slice(c, draw(st.integers(c + 1, s))) for c, s in zip(corner, shape, strict=True))] = 1
        mask[rng.random(shape) < draw(st.floats(0.05, 0.3))] = 0
    if draw(st.booleans()):  # another label elsewhere, which must be ignored
        mask[rng.random(shape) < 0.15] = 2
    if draw(st.booleans()):  # the label on a face of the volume
        face = [slice(None)] * 3
        axis = draw(st.integers(0, 2))
        face[axis] = draw(st.sampled_from([0, shape[axis] - 1]))
        mask[tuple(face)] = 1
    setting = {
        **draw(st.sampled_from([{}, {"binWidth": 10}, {"binCount": 5}, {"binWidth": 3}])),
        "gldm_a": draw(st.integers(0, 2)),
        **draw(
            st.sampled_from(
                [{}, {}, {"distances": [1, 2]}, {"distances": [2]}, {"force2D": True, "force2Ddimension": 0}]
                + [{"force2D": True, "force2Ddimension": 2}]
            )
        ),
    }
    return values, mask, spacing, setting


@settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(study=studies())
def test_random_volumes_equal_pyradiomics(study):
    values, mask_array, spacing, setting = study
    image, mask = sitk.GetImageFromArray(values), sitk.GetImageFromArray(mask_array)
    for item in (image, mask):
        item.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    params = _params(setting)
    extractor = require_oracle().RadiomicsFeatureExtractor(copy.deepcopy(params))
    try:
        expected = {name: float(value) for name, value in extractor.execute(image, mask, label=1).items()}
    except (ValueError, RuntimeError):
        # PyRadiomics refuses the ROI (too small, or no neighbour offset fits): spinerad must refuse it too.
        event("refused by PyRadiomics")
        with pytest.raises(InvalidInput):
            spinerad.extract(image, mask, params=copy.deepcopy(params), label=1)
        return
    event("compared")
    actual = spinerad.extract(image, mask, params=copy.deepcopy(params), label=1)
    bad = _mismatches(actual, expected)
    assert not bad, f"{len(bad)}/{len(expected)} features differ [{setting}]:\n" + "\n".join(bad)

"""Acceptance: every firstorder/glcm/glrlm feature equals live PyRadiomics 3.0.1 on the 6 real cases.

Each (case, settings) pair is extracted once per session by both engines from the *same* SimpleITK objects
and the *same* parameter mapping (PyRadiomics' own parameter-file format), then compared feature by feature:
equal by the exact rule of ``tests/oracle.py`` (1e-10 relative), NaN equal to NaN.
"""

import copy

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

import spinerad
from tests.conftest import CASES, require, require_oracle
from tests.oracle import case_reader, close, mismatches, oracle_features

pytestmark = [pytest.mark.oracle, pytest.mark.shared]

CLASSES = ("firstorder", "glcm", "glrlm")

# Percentiles of the ROI intensities that bound the absolute re-segmentation range: read from each case,
# so both bounds cut voxels on every case (CT, MR and phantom intensities share no fixed range).
ABSOLUTE_RESEGMENT_PERCENTILES = (15, 85)

#: Settings variants (PyRadiomics ``setting`` section) applied on top of PyRadiomics' defaults.
SETTINGS = {
    "default": {},
    "binCount-16": {"binCount": 16},
    "binCount-64": {"binCount": 64},
    "binWidth-10": {"binWidth": 10},
    "binWidth-12.5": {"binWidth": 12.5},
    "binWidth-50": {"binWidth": 50},
    "weightingNorm-infinity": {"weightingNorm": "infinity"},
    "weightingNorm-euclidean": {"weightingNorm": "euclidean"},
    "weightingNorm-manhattan": {"weightingNorm": "manhattan"},
    "weightingNorm-no_weighting": {"weightingNorm": "no_weighting"},
    "symmetricalGLCM-False": {"symmetricalGLCM": False},
    "distances-1-2": {"distances": [1, 2]},
    "force2D-dimension0": {"force2D": True, "force2Ddimension": 0},
    "force2D-dimension1": {"force2D": True, "force2Ddimension": 1},
    "force2D-dimension2": {"force2D": True, "force2Ddimension": 2},
    "normalize-scale100-removeOutliers3": {"normalize": True, "normalizeScale": 100, "removeOutliers": 3},
    "normalize-binWidth0.1": {"normalize": True, "binWidth": 0.1},
    "resegment-absolute-p15-p85": {"resegmentMode": "absolute", "resegmentRange": "ROI percentiles"},
    "resegment-relative-0.3-0.95": {"resegmentMode": "relative", "resegmentRange": [0.3, 0.95]},
    "resegment-sigma-1.5": {"resegmentMode": "sigma", "resegmentRange": [-1.5, 1.5]},
    "voxelArrayShift-2000": {"voxelArrayShift": 2000},
}
PARAMS_YAML = "Params.yaml-supported-classes"
CONFIGS = tuple(SETTINGS) + (PARAMS_YAML,)


@pytest.fixture(scope="module")
def images(pyradiomics_data):
    """Lazily loaded ``case -> (image, mask, label)``; both engines get these very objects."""
    return case_reader(pyradiomics_data)


def _params_yaml_restricted(pyradiomics_data):
    """Params.yaml with only the feature classes spinerad computes (it also enables shape, glszm, gldm)."""
    params = yaml.safe_load(require(pyradiomics_data / "settings" / "Params.yaml").read_text())
    params["featureClass"] = {k: v for k, v in params["featureClass"].items() if k in CLASSES}
    assert set(params["featureClass"]) == set(CLASSES), params["featureClass"]
    params["setting"]["additionalInfo"] = False
    return params


def _parameters(config, image, mask, label, pyradiomics_data):
    """Build the one parameter mapping both engines receive for ``config``."""
    if config == PARAMS_YAML:
        return _params_yaml_restricted(pyradiomics_data)
    setting = {"additionalInfo": False, **copy.deepcopy(SETTINGS[config])}
    if setting.get("resegmentRange") == "ROI percentiles":
        values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == label]
        low, high = np.percentile(values, ABSOLUTE_RESEGMENT_PERCENTILES)
        setting["resegmentRange"] = [float(np.floor(low)), float(np.ceil(high))]
    return {
        "setting": setting,
        "imageType": {"Original": {}},
        "featureClass": {name: [] for name in CLASSES},
    }


@pytest.fixture(scope="module")
def extracted(images, pyradiomics_data):
    """``(case, config) -> (spinerad features, PyRadiomics features)``, computed once per module."""
    featureextractor = require_oracle()
    cache = {}

    def get(case, config):
        if (case, config) not in cache:
            image, mask, label = images(case)
            params = _parameters(config, image, mask, label, pyradiomics_data)
            # run as in production, warnings ignored (see tests/oracle.py)
            expected = oracle_features(featureextractor, image, mask, params, label=label)
            actual = spinerad.extract(image, mask, params=copy.deepcopy(params), label=label)
            cache[case, config] = actual, expected
        return cache[case, config]

    return get


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("case", tuple(CASES))
def test_feature_names_equal_pyradiomics(case, config, extracted):
    """Both engines report the same feature names (enabled classes, deprecated/removed names)."""
    actual, expected = extracted(case, config)
    assert expected, "PyRadiomics returned no features: the comparison would be empty"
    only_spinerad = sorted(set(actual) - set(expected))
    only_pyradiomics = sorted(set(expected) - set(actual))
    assert not only_spinerad and not only_pyradiomics, (
        f"only spinerad: {only_spinerad}; only PyRadiomics: {only_pyradiomics}"
    )


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("case", tuple(CASES))
def test_feature_values_equal_pyradiomics(case, config, extracted):
    """Every value within 1e-10 relative (tests/oracle.py); NaN equals NaN."""
    actual, expected = extracted(case, config)
    assert expected, "PyRadiomics returned no features: the comparison would be empty"
    bad = mismatches(actual, expected, same_names=False)  # names: test_feature_names_equal_pyradiomics
    assert not bad, f"{len(bad)}/{len(expected)} features differ on {case} [{config}]:\n" + "\n".join(bad)


@pytest.mark.parametrize("config", tuple(c for c in CONFIGS if c != "default"))
@pytest.mark.parametrize("case", tuple(CASES))
def test_settings_variant_changes_pyradiomics_output(case, config, extracted):
    """Guards the suite itself: a variant that both engines silently ignored would compare nothing new."""
    _, default = extracted(case, "default")
    _, expected = extracted(case, config)
    changed = set(default) ^ set(expected) or {n for n in expected if not close(expected[n], default[n])}
    assert changed, f"PyRadiomics gives the default features for {case} [{config}]: variant not exercised"

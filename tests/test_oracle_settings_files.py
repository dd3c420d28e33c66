"""PyRadiomics' own example parameter files, run unchanged, against the live oracle.

Each file is passed as-is to both engines, except that ``featureClass`` is narrowed to the classes this
version of spinerad computes (the others are rejected as not supported, tested elsewhere).
"""

import pytest
import yaml

import spinerad
from spinerad.features import FEATURE_CLASSES
from tests.oracle import assert_features_match, oracle_features, read_case

SETTINGS_FILES = {
    "exampleCT": ["breast1", "prostate_phantom_subvolume", "lung2"],
    "exampleMR_3mm": ["brain1", "breast1", "lung2"],
    "exampleMR_5mm": ["brain2", "prostate_phantom_subvolume"],
    "exampleMR_NoResampling": ["brain2", "breast1"],
    "Params": ["brain1", "lung1", "prostate_phantom_subvolume"],
}


def _narrow(params):
    classes = params.get("featureClass") or {name: None for name in FEATURE_CLASSES}
    params["featureClass"] = {k: v for k, v in classes.items() if k in FEATURE_CLASSES}
    return params


@pytest.mark.oracle
@pytest.mark.parametrize(
    "settings_file, case", [(f, c) for f, cases in SETTINGS_FILES.items() for c in cases], ids=lambda v: v
)
def test_example_settings_file(pyradiomics_data, oracle, settings_file, case):
    params = _narrow(yaml.safe_load((pyradiomics_data / "settings" / f"{settings_file}.yaml").read_text()))
    image, mask, label = read_case(pyradiomics_data, case)
    params.setdefault("setting", {})["label"] = label
    expected = oracle_features(oracle, image, mask, params)
    # same names; every value by the exact rule (1e-10 relative, tests/oracle.py); NaN where the oracle's is
    assert_features_match(spinerad.extract(image, mask, params=params), expected)

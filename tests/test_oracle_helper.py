"""The comparison rule (tests/oracle.py) is as tight as the method: a 1e-9 slip in one feature fails it.

Run on real output: spinerad's GLCM features of a PyRadiomics test case pass against the live oracle, then
each GLCM value in turn, perturbed by 1e-9 relative, must be reported (and only that one).
"""

import math

import pytest

import spinerad
from tests.oracle import (
    EXACT_ATOL,
    EXACT_RTOL,
    assert_features_match,
    close,
    mismatches,
    oracle_features,
    read_case,
)

PERTURBATION = 1e-9


@pytest.fixture(scope="module")
def glcm_pair(pyradiomics_data, oracle):
    """(spinerad, PyRadiomics) GLCM features of brain1, default settings."""
    image, mask, label = read_case(pyradiomics_data, "brain1")
    params = {"setting": {"label": label}, "imageType": {"Original": {}}, "featureClass": {"glcm": []}}
    expected = oracle_features(oracle, image, mask, params)
    return spinerad.extract(image, mask, params=params), expected


@pytest.mark.oracle
@pytest.mark.shared
def test_exact_output_passes_and_each_perturbed_glcm_value_fails(glcm_pair):
    actual, expected = glcm_pair
    assert len(expected) >= 20 and all(name.startswith("original_glcm_") for name in expected)
    assert_features_match(actual, expected)
    for name, value in actual.items():
        assert abs(value) * PERTURBATION > EXACT_ATOL, f"{name} = {value!r}: too close to 0 to test"
        perturbed = {**actual, name: value * (1 + PERTURBATION)}
        bad = mismatches(perturbed, expected)
        assert len(bad) == 1 and bad[0].startswith(f"{name}:"), (name, bad)
        with pytest.raises(AssertionError, match=name):
            assert_features_match(perturbed, expected)


def test_rule_semantics():
    assert EXACT_RTOL == 1e-10
    assert close(1.0, 1.0) and close(1.0 + 5e-11, 1.0) and not close(1.0 + 2e-10, 1.0)
    assert close(-3e-14, 0.0) and not close(1e-12, 0.0)  # the absolute floor is for rounding residue only
    assert close(math.nan, math.nan) and not close(math.nan, 0.0) and not close(0.0, math.nan)
    assert not close(math.inf, 1e308) and close(math.inf, math.inf)
    assert mismatches({"a": 1.0}, {"a": 1.0, "b": 2.0}) == ["b: missing from spinerad"]
    assert mismatches({"a": 1.0, "c": 3.0}, {"a": 1.0}) == ["c: only in spinerad"]
    assert mismatches({"a": 1.0, "c": 3.0}, {"a": 1.0}, same_names=False) == []
    # zero up to rounding in intensity units (the property test's constant ROI at 12254.61): the floor scales
    assert mismatches({"a": 3.6e-12}, {"a": 0.0})
    assert not mismatches({"a": 3.6e-12}, {"a": 0.0}, scale=12254.61)
    assert mismatches({"a": 1.0 + 1e-9}, {"a": 1.0}, scale=12254.61)  # not a licence for relative slips
    with pytest.raises(AssertionError, match="comparison would be empty"):
        assert_features_match({}, {})

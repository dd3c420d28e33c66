"""Work the classes of one extraction share (spinerad.features.RoiContext.shared) changes no value.

GLDM and NGTDM of one image take their histograms from one neighbour scan when both are requested, GLCM
and GLRLM their counts from one run pass: the values must be those of each class extracted alone, bit for
bit, and PyRadiomics' (live oracle, 1e-10).
"""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad.features import shared_work
from tests.conftest import require_oracle
from tests.oracle import assert_features_match, oracle_features


def _random_study(seed):
    """A noisy random volume and a blob-shaped label map touching the border, anisotropic spacing."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(4, 14, size=3))
    values = rng.normal(100, 40, size=shape).round()
    z, y, x = np.indices(shape)
    centre = rng.uniform(0, 1, size=3) * np.array(shape)
    radius = rng.uniform(0.3, 0.7) * min(shape)
    labels = (((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius**2).astype(
        np.uint8
    )
    labels[tuple(rng.integers(0, n) for n in shape)] = 0
    labels[0, 0, 0] = 0  # a background voxel
    if labels.sum() < 3:
        labels[:2, :2, :2] = 1
    image = sitk.GetImageFromArray(values.astype(np.int16))
    image.SetSpacing(tuple(float(s) for s in rng.uniform(0.5, 2.5, size=3)))
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(image)
    return image, mask, rng


def _params(classes, distances, bin_width):
    return {
        "setting": {"label": 1, "binWidth": bin_width, "distances": distances, "gldm_a": 1},
        "imageType": {"Original": {}},
        "featureClass": {name: None for name in classes},
    }


@pytest.mark.parametrize("pair", [("gldm", "ngtdm"), ("glcm", "glrlm")])
@pytest.mark.parametrize("seed", range(6))
def test_shared_pass_equals_each_class_alone(seed, pair):
    image, mask, rng = _random_study(seed)
    distances = [1] if seed % 2 else [1, 2]  # GLCM shares the run pass at distance 1 only
    bin_width = float(rng.choice([5, 10, 25]))
    both = spinerad.extract(image, mask, params=_params(list(pair), distances, bin_width))
    alone = {}
    for name in pair:
        alone.update(spinerad.extract(image, mask, params=_params([name], distances, bin_width)))
    assert both.keys() == alone.keys() and len(both) > 10
    for name, value in alone.items():
        assert both[name] == value or (np.isnan(both[name]) and np.isnan(value)), name


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(4))
def test_shared_passes_equal_pyradiomics(seed):
    featureextractor = require_oracle()
    image, mask, _ = _random_study(seed)
    classes = ["gldm", "ngtdm", "glszm", "firstorder", "glcm", "glrlm"]
    params = _params(classes, [1] if seed % 2 else [1, 2], 10)
    assert_features_match(
        spinerad.extract(image, mask, params=params), oracle_features(featureextractor, image, mask, params)
    )


@pytest.mark.parametrize("seed", range(6))
def test_zone_pass_equals_each_class_alone(seed):
    """GLSZM and GLDM (gldm_a 0, distance 1) share one flood fill: the values of each class alone."""
    image, mask, rng = _random_study(seed)
    params = {"setting": {"label": 1, "binWidth": float(rng.choice([5, 10, 25])), "gldm_a": 0}}
    settings = spinerad.load_params(params).settings
    assert "zones" in shared_work({"glszm", "gldm"}, settings, "cpu")  # (not with NGTDM or gldm_a >= 1)
    assert "zones" not in shared_work({"glszm", "gldm", "ngtdm"}, settings, "cpu")
    assert "zones" not in shared_work({"glszm", "gldm"}, settings.with_overrides(gldm_a=1), "cpu")
    both = spinerad.extract(image, mask, params={**params, "featureClass": {"glszm": None, "gldm": None}})
    alone = {}
    for name in ("glszm", "gldm"):
        alone.update(spinerad.extract(image, mask, params={**params, "featureClass": {name: None}}))
    assert both.keys() == alone.keys() and len(both) > 10
    for name, value in alone.items():
        assert both[name] == value or (np.isnan(both[name]) and np.isnan(value)), name


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(3))
def test_zone_pass_equals_pyradiomics(seed):
    featureextractor = require_oracle()
    image, mask, _ = _random_study(seed + 20)
    params = _params(["glszm", "gldm", "firstorder"], [1], 10)
    params["setting"]["gldm_a"] = 0
    assert_features_match(
        spinerad.extract(image, mask, params=params), oracle_features(featureextractor, image, mask, params)
    )

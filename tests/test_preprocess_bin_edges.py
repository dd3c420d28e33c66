"""Bin edges of integer images near their type's limits: no wrap-around, features equal to PyRadiomics'."""

import warnings

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad.preprocess import bin_edges
from tests.oracle import assert_features_match

CLASSES = {"firstorder": None, "glcm": None, "glrlm": None, "glszm": None}

#: (dtype, lowest, highest ROI value): ROIs touching the type's limits
NEAR_LIMITS = [
    (np.int16, -32768, -32300),
    (np.int16, 32300, 32767),
    (np.uint16, 65000, 65535),
    (np.uint8, 200, 255),
    (np.int8, -128, -60),
    (np.int32, -(2**31), -(2**31) + 400),
]


@pytest.mark.parametrize("dtype, low, high", NEAR_LIMITS)
@pytest.mark.parametrize("width", [1, 7, 25])
def test_edges_do_not_wrap_and_equal_exact_arithmetic(dtype, low, high, width):
    """No overflow warning; the edges of Python's unbounded integer arithmetic."""
    values = np.random.default_rng(width).integers(low, high, 500, endpoint=True).astype(dtype)
    values[:2] = low, high
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in the edge arithmetic would warn
        edges = np.asarray(bin_edges(values, width))
    lowest = low - low % width  # Python integers: no overflow
    np.testing.assert_array_equal(edges, np.arange(lowest, high + 2 * width, width))
    assert np.all(np.diff(edges) > 0)


def _study(dtype, low, high, seed=0):
    rng = np.random.default_rng(seed)
    array = rng.integers(low, high, (12, 14, 13), endpoint=True).astype(dtype)
    mask = np.zeros(array.shape, dtype=np.uint8)
    mask[2:10, 3:11, 2:11] = 1
    array[4, 5, 5], array[6, 6, 6] = low, high  # both limits inside the ROI
    image, label_map = sitk.GetImageFromArray(array), sitk.GetImageFromArray(mask)
    for item in (image, label_map):
        item.SetSpacing((0.8, 0.8, 2.0))
    return image, label_map


def _oracle(oracle, image, mask, bin_width):
    extractor = oracle.RadiomicsFeatureExtractor(
        {"setting": {"label": 1, "additionalInfo": False, "binWidth": bin_width}, "featureClass": CLASSES}
    )
    with warnings.catch_warnings():
        # PyRadiomics' own edge arithmetic overflows in the image type and says so (RuntimeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: float(v) for k, v in extractor.execute(image, mask).items()}


@pytest.mark.oracle
@pytest.mark.parametrize("dtype, low, high", [(np.int16, 32300, 32767), (np.uint16, 65000, 65535)])
def test_upper_limit_equals_pyradiomics(oracle, dtype, low, high):
    """``max + 2 * binWidth`` wraps in PyRadiomics' integer type; numpy.arange still gives it our edges."""
    image, mask = _study(dtype, low, high)
    ours = spinerad.extract(
        image, mask, params={"setting": {"label": 1, "binWidth": 25}, "featureClass": CLASSES}
    )
    assert_features_match(ours, _oracle(oracle, image, mask, 25), scale=high)


@pytest.mark.oracle
def test_lower_limit_bins_as_pyradiomics_does_without_the_wrap(oracle):
    """int16 -32768 in the ROI: spinerad bins as PyRadiomics does with a float binWidth.

    PyRadiomics' integer lower bound wraps there (non-monotonic edges); with a float binWidth its arithmetic
    is float64 and does not wrap, and that is the binning spinerad gives for either width.
    """
    image, mask = _study(np.int16, -32768, -32000)
    expected = _oracle(oracle, image, mask, 25.0)
    for width in (25, 25.0):
        ours = spinerad.extract(
            image, mask, params={"setting": {"label": 1, "binWidth": width}, "featureClass": CLASSES}
        )
        assert_features_match(ours, expected, scale=32768)

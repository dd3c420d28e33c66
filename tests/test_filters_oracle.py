"""Random filter profiles against the live PyRadiomics oracle at 1e-10.

LoG, wavelets of several families, the intensity filters and the gradient, with and without B-spline
resampling and normalisation: the hand-written LoG, wavelet and B-spline kernels in whole extractions.
"""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from tests.conftest import require_oracle
from tests.oracle import assert_features_match

WAVELETS = ["coif1", "haar", "db2", "sym3", "bior1.3", "coif2", "rbio2.2", "dmey"]


def _random_study(rng, dtype):
    shape = (int(rng.integers(8, 16)), int(rng.integers(20, 40)), int(rng.integers(20, 40)))
    z, y, x = np.indices(shape)
    smooth = 300 * np.sin(x / 5.0) * np.cos(y / 7.0) + 40 * z
    values = smooth + rng.normal(0, 60, shape)
    values[:, :, : shape[2] // 5] = 0  # a flat part: exact zeros in the details
    if np.dtype(dtype).kind == "i":
        values = np.round(values)
    image = sitk.GetImageFromArray(values.astype(dtype))
    lower = [int(rng.integers(0, n // 3)) for n in shape]
    upper = [int(rng.integers(n // 2, n + 1)) for n in shape]
    roi = np.zeros(shape, dtype=np.uint8)
    roi[tuple(slice(lo, hi) for lo, hi in zip(lower, upper, strict=True))] = (
        rng.random(shape)[tuple(slice(lo, hi) for lo, hi in zip(lower, upper, strict=True))] < 0.85
    )
    mask = sitk.GetImageFromArray(roi)
    spacing = tuple(float(s) for s in rng.choice([0.6, 0.9, 1.2, 2.5, 4.0], 3))
    for item in (image, mask):
        item.SetSpacing(spacing)
        item.SetOrigin((3.0, -7.5, 12.0))
    return image, mask


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(8))
def test_random_filter_profile_matches_pyradiomics(seed):
    """Random data type, spacing, ROI (often at the border), sigmas, wavelet, level and preprocessing."""
    oracle = require_oracle()
    rng = np.random.default_rng(4200 + seed)
    image, mask = _random_study(rng, ["int16", "float32", "float64", "uint16"][seed % 4])
    setting = {"label": 1, "binWidth": float(rng.choice([5.0, 10.0, 25.0])), "normalize": bool(seed % 2)}
    if setting["normalize"]:
        setting["normalizeScale"] = 100
    if seed % 3 == 1:
        setting.update(
            {"resampledPixelSpacing": [1.5, 1.5, 2.0], "interpolator": "sitkBSpline", "padDistance": 4}
        )
    wavelet = {"wavelet": WAVELETS[seed % len(WAVELETS)], "level": int(rng.integers(1, 3))}
    if seed % 4 == 3:
        wavelet["start_level"] = 1
    params = {
        "imageType": {
            "Original": {},
            "LoG": {
                "sigma": sorted(float(s) for s in rng.choice([0.5, 1.0, 1.5, 2.5, 4.0], 2, replace=False))
            },
            "Wavelet": wavelet,
            "Square": {},
            "SquareRoot": {},
            "Logarithm": {},
            "Exponential": {},
            "Gradient": {},
        },
        "featureClass": {"firstorder": None, "glcm": None, "glszm": None},
        "setting": setting,
    }
    extractor = oracle.RadiomicsFeatureExtractor({**params, "setting": {**setting, "additionalInfo": False}})
    expected = {k: float(v) for k, v in extractor.execute(image, mask).items()}
    ours = spinerad.extract(image, mask, params=params)
    scale = float(np.max(np.abs(sitk.GetArrayViewFromImage(image))))
    assert_features_match(ours, expected, context=f" (seed {seed}, {params})", scale=scale)

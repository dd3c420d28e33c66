"""The spread schedule of profiles with filtered image types (spinerad.pipeline._extract_spread).

Every filter part (one LoG sigma, the wavelet, ...) and every class of every derived image is a task of a pool
whose workers run single-threaded kernels. The result must be the in-line extraction's, bit for bit and in the
same order, and PyRadiomics' (live oracle, 1e-10); errors must be the same ones.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad import pipeline
from spinerad.errors import InvalidInput
from tests.conftest import require_oracle
from tests.oracle import assert_features_match, oracle_features

CLASSES = ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]


def _study(seed, shape=None, border=True):
    """A smooth random volume (float32) and a blob label map touching the border when ``border``."""
    rng = np.random.default_rng(seed)
    shape = shape or tuple(int(n) for n in rng.integers(10, 22, size=3))
    noise = rng.normal(0, 1, size=shape)
    values = 100 + 40 * noise + 20 * np.cumsum(noise, axis=2) / np.sqrt(shape[2])
    z, y, x = np.indices(shape)
    centre = rng.uniform(0.2, 0.8, size=3) * np.array(shape)
    if border:
        centre[2] = 0.0  # the ROI reaches the x = 0 face
    radius = rng.uniform(0.35, 0.5) * min(shape)
    labels = (((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius**2).astype(
        np.uint8
    )
    labels[0, 0, -1] = 0
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing(tuple(float(s) for s in rng.uniform(0.7, 2.0, size=3)))
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(image)
    return image, mask, rng


def _params(rng, resample=True):
    setting = {"label": 1, "binWidth": float(rng.choice([5, 10])), "normalize": bool(rng.integers(2))}
    if setting["normalize"]:
        setting["normalizeScale"] = 100
    if resample:
        setting["resampledPixelSpacing"] = [float(rng.choice([1.5, 2.0]))] * 3
        setting["interpolator"] = "sitkBSpline"
    return {
        "setting": setting,
        "imageType": {
            "Original": {},
            # a sigma too large for the image is skipped (with a warning), as in PyRadiomics
            "LoG": {"sigma": [1.0, 2.5, 40.0]},
            "Wavelet": {},
            "Square": {},
        },
        "featureClass": {name: None for name in CLASSES},
    }


def _both_schedules(monkeypatch, image, mask, params):
    """(in-line extraction, spread extraction) of the same study."""
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "1")
    assert pipeline._image_type_submitter(spinerad.load_params(params), "cpu") is None
    inline = spinerad.extract(image, mask, params=params)
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")  # a real pool, also on a one-core machine
    assert pipeline._image_type_submitter(spinerad.load_params(params), "cpu") is not None
    spread = spinerad.extract(image, mask, params=params)
    return inline, spread


@pytest.mark.parametrize("seed", range(4))
def test_spread_equals_inline_bit_for_bit(monkeypatch, seed):
    image, mask, rng = _study(seed)
    inline, spread = _both_schedules(monkeypatch, image, mask, _params(rng, resample=seed % 2 == 0))
    assert list(spread) == list(inline)  # same names, same order
    assert any(name.startswith("wavelet-") for name in inline) and any("log-sigma-2-5" in n for n in inline)
    assert not any("log-sigma-40" in name for name in inline)
    for name, value in inline.items():
        assert spread[name] == value or (np.isnan(value) and np.isnan(spread[name])), name


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(3))
def test_spread_equals_pyradiomics(monkeypatch, seed):
    featureextractor = require_oracle()
    image, mask, rng = _study(seed + 10)
    params = _params(rng, resample=seed != 1)
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")
    assert pipeline._image_type_submitter(spinerad.load_params(params), "cpu") is not None
    assert_features_match(
        spinerad.extract(image, mask, params=params), oracle_features(featureextractor, image, mask, params)
    )


def test_spread_raises_the_inline_error(monkeypatch):
    """A filter's error reaches the caller as in line (Wavelet on a 2-D image)."""
    rng = np.random.default_rng(3)
    image = sitk.GetImageFromArray(rng.normal(100, 20, (16, 16)).astype(np.float32))
    labels = np.zeros((16, 16), dtype=np.uint8)
    labels[3:12, 4:13] = 1
    mask = sitk.GetImageFromArray(labels)
    params = {
        "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 2.0]}, "Wavelet": {}},
        "featureClass": {"glcm": None},
    }
    errors = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", threads)
        with pytest.raises(InvalidInput) as raised:
            spinerad.extract(image, mask, params=params)
        errors.append((type(raised.value), str(raised.value)))
    assert errors[0] == errors[1] and "Wavelet" in errors[0][1]


def test_concurrent_spread_extractions(monkeypatch):
    """Extractions from several threads at once (a server's) share the pool and each gets its own answer."""
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")
    studies = [_study(seed) for seed in range(3)]
    params = [_params(rng) for _, _, rng in studies]
    want = [
        spinerad.extract(image, mask, params=p) for (image, mask, _), p in zip(studies, params, strict=True)
    ]
    got = [None] * len(studies)

    def run(index):
        image, mask, _ = studies[index]
        got[index] = spinerad.extract(image, mask, params=params[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(studies)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert got == want


def test_spread_pool_works_in_a_forked_child(tmp_path):
    """A child forked after the parent used the image-type pool gets its own (no hang on dead threads)."""
    from tests.test_cropping import _FORK_SCRIPT

    original_only = (
        'PARAMS = {"featureClass": {"firstorder": None, "glcm": None}, "setting": {"binWidth": 10}}'
    )
    assert original_only in _FORK_SCRIPT
    filtered = 'PARAMS = {"imageType": {"Original": {}, "LoG": {"sigma": [1.0, 2.0]}}, "featureClass": {"glcm": None}}'
    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_SCRIPT.replace(original_only, filtered))
    env = {**os.environ, "SPINERAD_EXTRACT_THREADS": "2"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "ok", done.stderr[-2000:]


@pytest.mark.oracle
@pytest.mark.parametrize("threads", ["1", "2"])
def test_shape_without_any_derived_image(monkeypatch, threads):
    """Every LoG sigma too large for the image: no derived image, but PyRadiomics still computes shape."""
    featureextractor = require_oracle()
    image, mask, _ = _study(5, shape=(10, 12, 12), border=False)
    params = {
        "imageType": {"LoG": {"sigma": [40.0]}},
        "featureClass": {"shape": None, "firstorder": None},
        "setting": {"label": 1},
    }
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", threads)
    ours = spinerad.extract(image, mask, params=params)
    assert len(ours) > 10 and all(name.startswith("original_shape_") for name in ours)
    assert_features_match(ours, oracle_features(featureextractor, image, mask, params))

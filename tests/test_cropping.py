"""Crop before preprocessing (spinerad.cropping): the same values as on the whole image.

Three levels:

- the pieces: normalisation of a crop with whole-image statistics is bit-identical to ``sitk.Normalize`` of
  the whole image; the integer statistics kernel equals ITK's ``StatisticsImageFilter``;
- cropped vs uncropped (``cropping.CROP = False`` computes every step on the whole image, as PyRadiomics):
  resampling and every filter, on random ROIs, ROIs touching the image border, anisotropic spacing,
  ``padDistance`` and ``preCrop``, at float64 rounding level;
- the features against the live PyRadiomics oracle at 1e-10 relative, on the shared cases with the example
  profiles and on synthetic images whose ROI touches the border.
"""

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

import spinerad
from spinerad import cropping, imagetypes, intake, preprocess
from spinerad.kernels.imagestats import integer_statistics
from spinerad.pipeline import StageTimer, _prepare
from spinerad.settings import load_params
from tests.conftest import CASES, IBSI_DATA, require, require_oracle
from tests.oracle import assert_features_match, oracle_features

#: Relative agreement where the computation is exact up to float64 rounding.
RTOL = 1e-10
#: Absolute floor for features that are zero up to rounding (e.g. a symmetric ClusterShade).
ATOL = 1e-12


def _image(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _study(rng, shape, dtype, box, spacing, texture="noise"):
    """A synthetic (image, mask): smooth structure plus noise, ROI = a random blob inside ``box``."""
    z, y, x = np.meshgrid(*(np.linspace(0, 3, n) for n in shape), indexing="ij")
    smooth = 300 * np.sin(z + 2 * y) * np.cos(x - y) + 40 * x
    values = smooth + (rng.normal(0, 25, shape) if texture == "noise" else 0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        values = np.round(values)
    image = _image(values.astype(dtype), spacing, origin=tuple(rng.uniform(-50, 50, 3)))
    mask = np.zeros(shape, dtype=np.uint8)
    region = mask[box]
    region[rng.random(region.shape) < 0.7] = 1
    region[tuple(s // 2 for s in region.shape)] = 1
    mask_image = _image(mask, spacing)
    mask_image.CopyInformation(image)
    return image, mask_image


def _random_box(rng, shape, touch_border):
    box = []
    for n in shape:
        length = int(rng.integers(3, max(4, n // 3)))
        start = int(rng.integers(0, n - length + 1))
        box.append([start, start + length])
    if touch_border:
        axis = int(rng.integers(0, 3))
        if rng.random() < 0.5:
            box[axis] = [0, box[axis][1] - box[axis][0]]
        else:
            box[axis] = [shape[axis] - (box[axis][1] - box[axis][0]), shape[axis]]
    return tuple(slice(a, b) for a, b in box)


@pytest.fixture
def uncropped(monkeypatch):
    """Run a callable with cropping switched off (every step on the whole image)."""

    def run(function, *args, **kwargs):
        with monkeypatch.context() as patch:
            patch.setattr(cropping, "CROP", False)
            return function(*args, **kwargs)

    return run


# ---------------------------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize("dtype", ["int16", "uint8", "uint16", "float32", "float64"])
def test_normalised_crop_equals_sitk_normalize_of_whole_image(dtype):
    rng = np.random.default_rng(3)
    values = rng.normal(300, 120, (9, 31, 27))
    values = np.clip(values, 0, 250) if dtype == "uint8" else values
    image = _image(values.astype(dtype))
    for outliers, scale in ((None, 1), (2.0, 100), (0.5, 7.5)):
        reference = preprocess.normalize_image(image, scale, outliers)
        normaliser = cropping.Normaliser(image, scale, outliers)
        crop = sitk.RegionOfInterest(image, [10, 12, 4], [5, 7, 3])
        got = sitk.GetArrayFromImage(normaliser.image(crop))
        want = sitk.GetArrayFromImage(reference)[3:7, 7:19, 5:15]
        assert got.dtype == want.dtype
        assert np.array_equal(got, want)
        extremes = normaliser.extremes()
        assert np.max(np.abs(extremes)) == np.max(np.abs(sitk.GetArrayFromImage(reference)))


def _assert_statistics_equal_itk(values):
    stats = sitk.StatisticsImageFilter()
    stats.Execute(sitk.GetImageFromArray(values))
    assert integer_statistics(values) == (
        stats.GetMean(),
        stats.GetSigma(),
        stats.GetMinimum(),
        stats.GetMaximum(),
    )


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16"])
def test_integer_statistics_equal_itk(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(11)
    for shape in ((1, 2, 1), (5, 17, 23), (40, 64, 64)):
        _assert_statistics_equal_itk(rng.integers(info.min, int(info.max) + 1, shape).astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_number_float_statistics_equal_itk(dtype):
    """Float images of whole numbers (CT in HU stored as float) take the exact path too."""
    rng = np.random.default_rng(12)
    for shape in ((1, 2, 1), (5, 17, 23), (30, 64, 64)):
        _assert_statistics_equal_itk(rng.integers(-1024, 3072, shape).astype(dtype))


def test_integer_statistics_declines_what_itk_would_round():
    assert integer_statistics(np.zeros((2, 2, 2), dtype=np.int32)) is None
    for spoiler in (0.5, np.nan, np.inf, 2.0**40):  # not a whole number, not finite, beyond the int64 sums
        values = np.zeros((3, 2, 2), dtype=np.float64)
        values[2, 1, 0] = spoiler
        assert integer_statistics(values) is None
        assert integer_statistics(values.astype(np.float32)) is None
    big = np.full((2, 3000, 3000), 32767, dtype=np.int16)  # sum of squares 1.9e16 > 2**53
    assert integer_statistics(big) is None


def test_integer_statistics_on_shared_cases(pyradiomics_data, ibsi_data):
    paths = [pyradiomics_data / CASES[name][0] for name in ("brain1", "lung2")]
    for path in paths + [ibsi_data / "ct_radiomics_phantom" / "image.nii.gz"]:  # the phantom is float32 HU
        image = sitk.ReadImage(str(path))
        stats = sitk.StatisticsImageFilter()
        stats.Execute(image)
        got = integer_statistics(sitk.GetArrayViewFromImage(image))
        assert got == (stats.GetMean(), stats.GetSigma(), stats.GetMinimum(), stats.GetMaximum())


def test_truncation_guard_declines_values_next_to_an_integer():
    assert cropping.truncate_like_itk(np.array([1.5, -2.7, 40000.2]), sitk.sitkInt16, 1000).tolist() == [
        1,
        -2,
        32767,
    ]
    assert cropping.truncate_like_itk(np.array([1.5, 3 - 1e-12]), sitk.sitkInt16, 1000) is None


# ---------------------------------------------------------------------------------- cropped vs uncropped


def _resampled(image, mask, settings):
    count, box = intake.locate_roi(intake.as_zyx(mask), settings.label, 0)
    normaliser = cropping.Normaliser(image, settings.normalize_scale) if settings.normalize else None
    out_image, out_mask = preprocess.resample(image, mask, box, settings, normaliser)
    return sitk.GetArrayFromImage(out_image), sitk.GetArrayFromImage(out_mask)


@pytest.mark.parametrize("seed", range(8))
def test_resampling_a_crop_equals_resampling_the_whole_image(seed, uncropped, monkeypatch):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(12, 30)), int(rng.integers(140, 200)), int(rng.integers(140, 200)))
    spacing = tuple(float(s) for s in rng.choice([0.5, 0.7, 1.0, 2.5, 4.0], 3))
    dtype = ["int16", "float32", "float64", "uint16"][seed % 4]
    box = _random_box(rng, shape, touch_border=seed % 2 == 0)
    image, mask = _study(rng, shape, dtype, box, spacing, "noise" if seed < 6 else "flat")
    if seed % 3 == 1:  # an oblique acquisition: rotated about z, then tilted
        a, b = 0.3 + 0.1 * seed, 0.2
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
        for item in (image, mask):
            item.SetDirection((rz @ rx).ravel().tolist())
    interpolator = ["sitkBSpline", "sitkBSpline", "sitkLinear", "sitkNearestNeighbor"][
        seed % 4 if seed < 4 else 0
    ]
    settings = load_params(
        {
            "setting": {
                "resampledPixelSpacing": [float(rng.choice([0, 0.8, 1.5, 2.0, 3.0])) for _ in range(3)],
                "interpolator": interpolator,
                "padDistance": int(rng.integers(0, 12)),
                "normalize": bool(seed % 3 == 0),
                "normalizeScale": 100,
            }
        }
    ).settings
    regions = []
    monkeypatch.setattr(cropping, "input_region", _spy(cropping.input_region, regions))
    got_image, got_mask = _resampled(image, mask, settings)
    if interpolator == "sitkBSpline" and not np.allclose(
        image.GetSpacing(), [s or t for s, t in zip(settings.resampled_pixel_spacing, spacing, strict=False)]
    ):
        assert regions and regions[0] is not None  # the test must exercise a crop
    want_image, want_mask = uncropped(_resampled, image, mask, settings)
    assert np.array_equal(got_mask, want_mask)
    assert got_image.dtype == want_image.dtype
    if np.issubdtype(got_image.dtype, np.integer):
        assert np.array_equal(got_image, want_image)  # the truncation guard falls back when unsure
    else:
        scale = np.max(np.abs(want_image)) + 1
        assert np.max(np.abs(got_image.astype(np.float64) - want_image)) <= 1e-13 * scale
        if got_image.dtype == np.float32:  # rounding to float32 may flip a last bit, nothing more
            ulp = np.spacing(np.abs(want_image).astype(np.float32))
            assert np.all(np.abs(got_image - want_image) <= ulp)


def _spy(function, calls):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        calls.append(result)
        return result

    return wrapper


def _filtered(image, mask, params):
    """Every image type's filtered ROI box, by prefix."""
    params = load_params(params)
    roi = _prepare(image, mask, params.settings, StageTimer())
    out = {}
    for name, custom in params.image_types:
        settings = params.settings.with_overrides(**dict(custom)) if custom else params.settings
        for prefix, values in imagetypes.IMAGE_TYPES[name](roi.source, settings):
            out[prefix] = np.array(values, dtype=np.float64)
    return out


_FILTERS = {
    "Original": {},
    "LoG": {"sigma": [0.7, 1.5, 3.0]},
    "Wavelet": {},
    "Gradient": {},
    "Square": {},
    "SquareRoot": {},
    "Logarithm": {},
    "Exponential": {},
}


@pytest.mark.parametrize("seed", range(10))
def test_filters_on_a_crop_equal_filters_on_the_whole_image(seed, uncropped, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(10, 24)), int(rng.integers(50, 90)), int(rng.integers(50, 90)))
    spacing = tuple(float(s) for s in rng.choice([0.4, 0.7, 1.0, 2.0, 5.0], 3))
    dtype = ["int16", "float32", "float64"][seed % 3]
    box = _random_box(rng, shape, touch_border=seed % 2 == 0)
    image, mask = _study(rng, shape, dtype, box, spacing)
    wavelet = [{}, {"wavelet": "haar", "level": 2}, {"wavelet": "db3", "start_level": 1}][seed % 3]
    setting = {"normalize": bool(seed % 2), "normalizeScale": 50, "binWidth": 5}
    if seed % 4 == 1:
        setting["removeOutliers"] = 1.5
    if seed % 5 == 3:
        setting["preCrop"] = True
        setting["padDistance"] = int(rng.integers(0, 8))
    if seed % 5 == 4:
        setting["resegmentRange"] = [-100, 200]
    params = {"imageType": {**_FILTERS, "Wavelet": wavelet}, "setting": setting}
    regions = []
    monkeypatch.setattr(cropping.FilterSource, "region", _spy(cropping.FilterSource.region, regions))
    got = _filtered(image, mask, params)
    if "preCrop" not in setting:  # the test must exercise crops smaller than the image
        assert any(np.prod(crop.GetSize()) < np.prod(image.GetSize()) for crop, _ in regions)
    want = uncropped(_filtered, image, mask, params)
    assert sorted(got) == sorted(want)
    for prefix, values in want.items():
        scale = np.max(np.abs(values)) + 1
        assert np.max(np.abs(got[prefix] - values)) <= 1e-13 * scale, prefix


# ---------------------------------------------------------------------------------------- the oracle


def _assert_features_match(expected, got, rtol=RTOL):
    """Same names, NaN where the oracle has NaN, every value within max(ATOL, rtol * |value|)."""
    assert_features_match(got, expected, rtol=rtol, atol=ATOL)


def _oracle(oracle, image, mask, params):
    return oracle_features(oracle, image, mask, params)


_SUPPORTED = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


@pytest.mark.oracle
@pytest.mark.parametrize(
    "profile, case",
    [
        ("exampleMR_3mm", "lung2"),
        ("exampleMR_3mm", "brain1"),
        ("exampleMR_3mm", "ibsi_ct_phantom"),
        ("exampleMR_5mm", "brain2"),
        ("exampleCT", "lung2"),
        ("exampleCT", "breast1"),
    ],
)
def test_example_profiles_match_pyradiomics_at_1e10(pyradiomics_data, oracle, profile, case):
    params = yaml.safe_load((pyradiomics_data / "settings" / f"{profile}.yaml").read_text())
    params["featureClass"] = {k: v for k, v in params["featureClass"].items() if k in _SUPPORTED}
    if case == "ibsi_ct_phantom":
        folder = require(IBSI_DATA / "ct_radiomics_phantom")
        image, mask = (
            sitk.ReadImage(str(folder / "image.nii.gz")),
            sitk.ReadImage(str(folder / "mask.nii.gz")),
        )
        label = 1
    else:
        image_file, mask_file, label = CASES[case]
        image = sitk.ReadImage(str(pyradiomics_data / image_file))
        mask = sitk.ReadImage(str(pyradiomics_data / mask_file))
    params["setting"]["label"] = label
    _assert_features_match(_oracle(oracle, image, mask, params), spinerad.extract(image, mask, params=params))


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(4))
def test_roi_at_the_border_matches_pyradiomics(seed):
    oracle = require_oracle()
    rng = np.random.default_rng(900 + seed)
    shape = (14, 70, 64)
    spacing = [(0.8, 0.8, 3.0), (1.0, 0.6, 2.0), (0.5, 0.5, 0.5), (2.0, 1.0, 1.0)][seed]
    box = _random_box(rng, shape, touch_border=True)
    image, mask = _study(rng, shape, ["int16", "float32"][seed % 2], box, spacing)
    setting = {"normalize": seed < 2, "normalizeScale": 100, "binWidth": 10, "label": 1}
    if seed == 1:
        setting.update(
            {"resampledPixelSpacing": [1.0, 1.0, 1.0], "interpolator": "sitkBSpline", "padDistance": 3}
        )
    if seed == 2:
        setting.update({"preCrop": True, "padDistance": 2})
    if seed == 3:
        setting.update(
            {"resampledPixelSpacing": [1.5, 0, 1.5], "interpolator": "sitkLinear", "padDistance": 8}
        )
    params = {
        "imageType": {
            "Original": {},
            "LoG": {"sigma": [1.0, 2.0]},
            "Wavelet": {},
            "Gradient": {},
            "Square": {},
            "Logarithm": {},
        },
        "featureClass": {"firstorder": None, "glcm": None, "glszm": None},
        "setting": setting,
    }
    _assert_features_match(_oracle(oracle, image, mask, params), spinerad.extract(image, mask, params=params))


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32", "float64"])
@pytest.mark.parametrize("outliers", [None, 1.5])
def test_fused_normalisation_kernel_equals_numpy(dtype, outliers):
    from spinerad.kernels.imagestats import normalise

    rng = np.random.default_rng(5)
    volume = (rng.normal(100, 50, (7, 33, 29)) * (1 if dtype != "uint8" else 0.5)).clip(0, 250).astype(dtype)
    shift, inverse_sigma, scale = -101.37, 1 / 47.3, 100.0
    want = (volume.astype(np.float64) + shift) * inverse_sigma
    if outliers is not None:
        want[want > outliers] = outliers
        want[want < -outliers] = -outliers
    assert np.array_equal(normalise(volume, shift, inverse_sigma, outliers, scale), want * scale)


_FORK_SCRIPT = """
import multiprocessing
import numpy as np
import SimpleITK as sitk
import spinerad

def study():
    image = sitk.GetImageFromArray(np.random.default_rng(1).normal(100, 20, (6, 12, 12)).astype(np.float32))
    mask = np.zeros((6, 12, 12), dtype=np.uint8)
    mask[1:5, 2:10, 2:10] = 1
    return image, sitk.GetImageFromArray(mask)

PARAMS = {"featureClass": {"firstorder": None, "glcm": None}, "setting": {"binWidth": 10}}

def child(_):
    return spinerad.extract(*study(), params=PARAMS)

if __name__ == "__main__":
    want = spinerad.extract(*study(), params=PARAMS)  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(child, (0,)).get(timeout=240) == want
    print("ok")
"""


def test_extraction_pool_works_in_a_forked_child(tmp_path):
    """A child forked after the parent used the worker pool gets its own pool (no hang on dead threads).

    Run in a fresh interpreter: forking this pytest process, with its other libraries' threads, would test
    them rather than spinerad.
    """
    import os
    import subprocess
    import sys

    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_SCRIPT)
    env = {**os.environ, "SPINERAD_EXTRACT_THREADS": "2"}  # a real pool, also on a one-core machine
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    # (TBB may print that it could not join its threads before fork(); the child still works)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "ok", done.stderr[-2000:]

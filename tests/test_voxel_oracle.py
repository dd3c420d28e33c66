"""Acceptance: feature maps equal the live PyRadiomics 3.0.1 voxel mode, map for map, voxel for voxel.

Expectations always come from PyRadiomics (``RadiomicsFeatureExtractor.execute(..., voxelBased=True)``) run
with ``voxelBatch: 1``: every voxel computed alone, which is the semantics spinerad gives every voxel (see
:mod:`spinerad.voxel`: PyRadiomics' batch-dependent results are not copied). PyRadiomics' voxel mode runs
~150-200 voxels/s here, so the ROIs are small (tens of voxels), cut from the shared cases or random.

Equal means: same map names, grid, origin, spacing and direction; NaN exactly where PyRadiomics has NaN;
elsewhere ``|a - b| <= 1e-10 * max(|b|, scale)`` where ``scale`` is the largest magnitude in PyRadiomics'
map (the relative bar of the project, with a floor for values that are rounding noise around 0, e.g.
the Skewness of a symmetric kernel).

MCC is held to an absolute 1e-7 instead: where an angle's co-occurrence matrix has rank one its true
second eigenvalue is 0, and PyRadiomics takes the square root of LAPACK's rounding noise there (~1e-8 for
that angle) while spinerad gives 0 (see :mod:`spinerad.kernels.voxel_glcm`).
"""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad.voxel as voxel_maps
from tests.conftest import PYRADIOMICS_DATA, require, require_oracle

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.filterwarnings("ignore:the load_module\\(\\) method is deprecated:DeprecationWarning"),
]

RTOL = 1e-10
MCC_ATOL = 1e-7
ALL_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _case(name):
    folder = require(PYRADIOMICS_DATA / "images")
    return sitk.ReadImage(str(folder / f"{name}_image.nrrd")), sitk.ReadImage(
        str(folder / f"{name}_label.nrrd")
    )


def _small_roi(mask, label, seed, size=4, fill=0.6):
    """A random ROI of about ``fill * size**3`` voxels inside the case's ROI box, around its centre voxel."""
    array = sitk.GetArrayFromImage(mask)
    points = np.argwhere(array == label)
    centre = points[len(points) // 2]
    rng = np.random.default_rng(seed)
    small = np.zeros(array.shape, dtype=np.uint8)
    lo = [max(int(c) - size // 2, 0) for c in centre]
    box = tuple(slice(s, min(s + size, n)) for s, n in zip(lo, array.shape, strict=True))
    shape = [b.stop - b.start for b in box]
    small[box] = rng.random(shape) < fill
    small[tuple(centre)] = 1
    out = sitk.GetImageFromArray(small)
    out.CopyInformation(mask)
    return out


def _oracle_maps(image, mask, params):
    extractor_module = require_oracle()
    oracle_params = {**params, "voxelSetting": {**params.get("voxelSetting", {}), "voxelBatch": 1}}
    extractor = extractor_module.RadiomicsFeatureExtractor(oracle_params)
    result = extractor.execute(image, mask, voxelBased=True)
    return {k: v for k, v in result.items() if isinstance(v, sitk.Image)}


def assert_maps_equal(expected, actual):
    assert sorted(actual) == sorted(expected)
    for name, ref in expected.items():
        mine = actual[name]
        assert mine.GetSize() == ref.GetSize(), name
        np.testing.assert_allclose(mine.GetOrigin(), ref.GetOrigin(), rtol=0, atol=1e-9, err_msg=name)
        assert mine.GetSpacing() == ref.GetSpacing(), name
        assert mine.GetDirection() == ref.GetDirection(), name
        a = sitk.GetArrayFromImage(mine)
        b = sitk.GetArrayFromImage(ref)
        nan = np.isnan(b)
        assert np.array_equal(np.isnan(a), nan), f"{name}: NaN at other voxels"
        if nan.all():
            continue
        scale = np.max(np.abs(b[~nan]))
        bound = RTOL * np.maximum(np.abs(b[~nan]), scale)
        if name.endswith("_glcm_MCC"):
            bound = np.maximum(bound, MCC_ATOL)
        error = np.abs(a[~nan] - b[~nan])
        worst = int(np.argmax(error - bound))
        assert np.all(error <= bound), f"{name}: {a[~nan][worst]!r} != {b[~nan][worst]!r}"


def _params(setting=None, classes=ALL_CLASSES, radius=1, masked=True, image_types=None, init_value=None):
    voxel = {"kernelRadius": radius, "maskedKernel": masked}
    if init_value is not None:
        voxel["initValue"] = init_value
    return {
        "setting": {"binWidth": 25, **(setting or {})},
        "imageType": image_types or {"Original": {}},
        "featureClass": {c: [] for c in classes},
        "voxelSetting": voxel,
    }


CASE_CONFIGS = {
    # id: (case, seed, params)
    "brain1-r1-masked": ("brain1", 0, _params()),
    "brain1-r1-unmasked": ("brain1", 1, _params(masked=False)),
    "brain2-r2-masked-binCount": ("brain2", 2, _params({"binCount": 16, "binWidth": None}, radius=2)),
    "breast1-r2-unmasked": ("breast1", 3, _params(radius=2, masked=False)),
    "lung1-r3-masked": ("lung1", 4, _params({"binWidth": 50}, radius=3)),
    "lung2-r1-force2D": ("lung2", 5, _params({"force2D": True, "force2Ddimension": 0}, radius=2)),
    "brain1-r2-distances": ("brain1", 6, _params({"distances": [1, 2], "gldm_a": 1}, radius=2)),
    "brain2-init-nan-voxelArrayShift": (
        "brain2",
        7,
        _params({"voxelArrayShift": 1000}, init_value=float("nan")),
    ),
}


@pytest.mark.parametrize("config", sorted(CASE_CONFIGS))
def test_maps_equal_pyradiomics_on_shared_cases(config):
    case, seed, params = CASE_CONFIGS[config]
    params = {**params, "setting": {k: v for k, v in params["setting"].items() if v is not None}}
    image, mask = _case(case)
    small = _small_roi(mask, 1, seed)
    assert_maps_equal(_oracle_maps(image, small, params), voxel_maps.feature_maps(image, small, params))


FILTER_CONFIGS = {
    # id: (image types, settings, kernelRadius)
    "log-r1-masked": ({"LoG": {"sigma": [1.0, 2.0]}}, {"binWidth": 5}, 1),
    "wavelet-r1-unmasked": ({"Wavelet": {}}, {"binWidth": 5}, 1),
    "log-wavelet-r2-force2D-binCount-masked": (
        {"LoG": {"sigma": [1.5]}, "Wavelet": {"start_level": 0, "level": 1}},
        {"binCount": 8, "binWidth": None, "force2D": True, "force2Ddimension": 0},
        2,
    ),
}


@pytest.mark.parametrize("config", sorted(FILTER_CONFIGS))
def test_maps_equal_pyradiomics_on_filtered_images(config):
    image, mask = _case("brain1")
    small = _small_roi(mask, 1, 11, size=3)
    image_types, setting, radius = FILTER_CONFIGS[config]
    params = _params(
        setting,
        radius=radius,
        masked=config.endswith("-masked"),
        image_types={"Original": {}, **image_types},
    )
    params["setting"] = {k: v for k, v in params["setting"].items() if v is not None}
    assert_maps_equal(_oracle_maps(image, small, params), voxel_maps.feature_maps(image, small, params))


def _random_study(seed):
    """A random float image and a random ROI (holes, thin parts, edge contact) on a small volume."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(5, 9, size=3))
    image = rng.normal(100, 30, size=shape)
    if rng.random() < 0.5:
        image = np.round(image / 7) * 7  # repeated values: flat kernels, ties in percentiles
    roi = rng.random(shape) < rng.uniform(0.05, 0.25)
    roi[tuple(rng.integers(0, n) for n in shape)] = True
    roi[tuple(rng.integers(0, n) for n in shape)] = True
    mask_array = roi.astype(np.uint8)
    img = sitk.GetImageFromArray(image)
    img.SetSpacing(tuple(float(s) for s in rng.uniform(0.5, 2.0, size=3)))
    msk = sitk.GetImageFromArray(mask_array)
    msk.CopyInformation(img)
    return img, msk, rng


@pytest.mark.parametrize("seed", range(6))
def test_maps_equal_pyradiomics_on_random_rois(seed):
    image, mask, rng = _random_study(seed)
    setting = {"binWidth": float(rng.choice([5.0, 10.0, 25.0]))}
    if rng.random() < 0.4:
        setting = {"binCount": int(rng.integers(3, 20))}
    if rng.random() < 0.3:
        setting["force2D"] = True
        setting["force2Ddimension"] = int(rng.integers(0, 3))
    params = _params(setting, radius=int(rng.integers(1, 4)), masked=bool(rng.random() < 0.6))
    params["setting"]["minimumROIDimensions"] = 1
    assert_maps_equal(_oracle_maps(image, mask, params), voxel_maps.feature_maps(image, mask, params))


def test_maps_do_not_depend_on_the_batch_size():
    image, mask = _case("brain2")
    small = _small_roi(mask, 1, 21, size=5)
    params = _params(classes=("glcm", "glrlm"))
    whole = voxel_maps.feature_maps(image, small, params)
    batched = voxel_maps.feature_maps(image, small, {**params, "voxelSetting": {"voxelBatch": 3}})
    for name, ref in whole.items():
        np.testing.assert_array_equal(sitk.GetArrayFromImage(batched[name]), sitk.GetArrayFromImage(ref))

"""Acceptance: ``shape2D`` and the ``LBP2D`` / ``LBP3D`` image types equal the live PyRadiomics 3.0.1 oracle.

Cases: the 6 PyRadiomics cases (for shape2D and PyRadiomics' ``MR_2D_extraction.yaml``, the mask reduced
to its largest axial slice: PyRadiomics refuses shape2D on a multi-slice ROI) and seeded random volumes.
Tolerance: 1e-10 relative (1e-12 absolute).

LBP3D and SciPy: PyRadiomics' ``getLBP3DImage`` imports ``scipy.special.sph_harm``, which SciPy 1.17
removed; PyRadiomics then logs a warning and yields no LBP3D image at all. SciPy 1.15/1.16 define the
deprecated function as ``sph_harm(m, n, theta, phi) == sph_harm_y(n, m, phi, theta)`` (checked bit for bit
with SciPy 1.16.3 over n < 4 on 1,000 random angles; PyRadiomics 3.0.1 + numpy 2.3.5 + SciPy 1.16.3 gave
the same LBP3D features as this shim). With a SciPy that lacks it, the oracle fixture installs exactly that
definition before PyRadiomics imports it, so PyRadiomics' own LBP3D code runs unchanged.
"""

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

import spinerad
from spinerad.errors import InvalidInput
from spinerad.kernels import shape2d
from tests.conftest import CASES, require_oracle
from tests.oracle import assert_features_match, oracle_features, read_case

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.filterwarnings("ignore:the load_module\\(\\) method is deprecated:DeprecationWarning"),
    # scipy.ndimage.interpolation (PyRadiomics' import path of map_coordinates) is a deprecated namespace.
    pytest.mark.filterwarnings("ignore:Please import `map_coordinates`:DeprecationWarning"),
    # PyRadiomics hands float slices to scikit-image's LBP, which warns about it (so does spinerad's call).
    pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern` to floating-point images:UserWarning"),
]

RTOL = 1e-10
ATOL = 1e-12


@pytest.fixture(scope="module")
def extractor():
    """PyRadiomics' featureextractor, with SciPy's former ``sph_harm`` restored when SciPy lacks it."""
    module = require_oracle()
    import scipy.special

    if not hasattr(scipy.special, "sph_harm"):
        scipy.special.sph_harm = lambda m, n, theta, phi: scipy.special.sph_harm_y(n, m, phi, theta)
        yield module
        del scipy.special.sph_harm
    else:
        yield module


def _oracle(extractor, params, image, mask):
    return oracle_features(extractor, image, mask, params)


def _assert_equal(expected, got):
    """Same names, NaN where the oracle has NaN, every value within max(ATOL, RTOL * |value|)."""
    assert_features_match(got, expected, rtol=RTOL, atol=ATOL)


def _case(pyradiomics_data, name, one_slice=False):
    image, mask, label = read_case(pyradiomics_data, name)
    if one_slice:
        array = sitk.GetArrayFromImage(mask)
        z = int(np.argmax((array == label).sum(axis=(1, 2))))
        single = np.zeros_like(array)
        single[z] = array[z]
        reduced = sitk.GetImageFromArray(single)
        reduced.CopyInformation(mask)
        mask = reduced
    return image, mask, label


def _random_case(seed, one_slice=False, dtype=np.float32):
    rng = np.random.default_rng(seed)
    shape = (12, 24, 22)
    noise = rng.normal(size=shape)
    for axis in range(3):  # correlated texture, so LBP codes vary
        noise = noise + np.roll(noise, 1, axis=axis)
    values = (noise * rng.uniform(20, 200) + rng.uniform(-50, 300)).astype(dtype)
    z, y, x = np.indices(shape)
    centre = np.array(shape) / 2 + rng.uniform(-1.5, 1.5, 3)
    radii = rng.uniform([2.5, 5, 5], [4.5, 9, 8])
    inside = sum(((axis - c) / r) ** 2 for axis, c, r in zip((z, y, x), centre, radii, strict=True))
    mask = (inside < 1 + 0.3 * rng.normal(size=shape)).astype(np.uint8)
    mask[:, :2] = 0
    if one_slice:
        keep = int(np.argmax(mask.sum(axis=(1, 2))))
        mask[np.arange(shape[0]) != keep] = 0
    spacing = tuple(float(s) for s in rng.uniform(0.5, 3.0, 3))
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(float(o) for o in rng.uniform(-50, 50, 3)))
    label = sitk.GetImageFromArray(mask)
    label.CopyInformation(image)
    return image, label


# ---------------------------------------------------------------------------------------------------------
# shape2D

SHAPE2D_ALL = {"setting": {"force2D": True}, "featureClass": {"shape2D": list(shape2d.FEATURE_NAMES)}}


@pytest.mark.parametrize("case", list(CASES))
def test_shape2d_cases(pyradiomics_data, extractor, case):
    image, mask, label = _case(pyradiomics_data, case, one_slice=True)
    params = {**SHAPE2D_ALL, "setting": {**SHAPE2D_ALL["setting"], "label": label}}
    _assert_equal(_oracle(extractor, params, image, mask), spinerad.extract(image, mask, params=params))


@pytest.mark.parametrize("seed", range(8))
def test_shape2d_random(extractor, seed):
    image, mask = _random_case(seed, one_slice=True)
    expected = _oracle(extractor, SHAPE2D_ALL, image, mask)
    _assert_equal(expected, spinerad.extract(image, mask, params=SHAPE2D_ALL))


@pytest.mark.parametrize("dimension", [1, 2])
def test_shape2d_other_planes(extractor, dimension):
    """A one-plane ROI with force2Ddimension 1 / 2.

    PyRadiomics checks the ROI box's width along ``force2Ddimension`` in ITK order (x, y, z) but squeezes
    the array axis (z, y, x): for dimension 1 (y in both orders) a one-plane ROI is skipped (no features),
    for dimension 2 it is computed. spinerad gives the same feature set.
    """
    image, mask = _random_case(100 + dimension)
    array = sitk.GetArrayFromImage(mask)
    keep = int(np.argmax(array.sum(axis=tuple(a for a in range(3) if a != dimension))))
    index = [slice(None)] * 3
    index[dimension] = np.arange(array.shape[dimension]) != keep
    array[tuple(index)] = 0
    plane = sitk.GetImageFromArray(array)
    plane.CopyInformation(mask)
    params = {
        "setting": {"force2D": True, "force2Ddimension": dimension},
        "featureClass": {"shape2D": None, "firstorder": ["Mean"]},
    }
    expected = _oracle(extractor, params, image, plane)
    assert any("shape2D" in k for k in expected) == (dimension == 2)
    _assert_equal(expected, spinerad.extract(image, plane, params=params))


def test_shape2d_skipped_without_force2d(extractor):
    """PyRadiomics computes nothing for shape2D without force2D (a warning); so does spinerad."""
    image, mask = _random_case(3, one_slice=True)
    params = {"featureClass": {"shape2D": None, "firstorder": ["Mean"]}}
    expected = _oracle(extractor, params, image, mask)
    assert not any("shape2D" in k for k in expected)
    _assert_equal(expected, spinerad.extract(image, mask, params=params))


def test_shape2d_multi_slice_roi_is_refused(extractor):
    """PyRadiomics raises on a multi-slice ROI with shape2D; spinerad gives one clear error."""
    image, mask = _random_case(4)
    with pytest.raises(ValueError):
        _oracle(extractor, SHAPE2D_ALL, image, mask)
    with pytest.raises(InvalidInput, match="one voxel thick along force2Ddimension 0"):
        spinerad.extract(image, mask, params=SHAPE2D_ALL)


def test_shape2d_not_enabled_by_default():
    """PyRadiomics leaves shape2D off without parameters; a mapping without featureClass enables it."""
    from spinerad.settings import load_params

    assert "shape2D" not in load_params(None).enabled_classes
    assert "shape2D" in load_params({"setting": {"binWidth": 25}}).enabled_classes


# ---------------------------------------------------------------------------------------------------------
# LBP2D / LBP3D

LBP_CLASSES = {"firstorder": None, "glcm": None, "glrlm": None, "glszm": None}


@pytest.mark.parametrize(
    "case, lbp",
    [
        ("brain1", {}),
        ("breast1", {"lbp2DMethod": "default", "lbp2DRadius": 2.0, "lbp2DSamples": 12}),
        ("lung2", {"lbp2DMethod": "ror"}),
        ("prostate_phantom_subvolume", {"lbp2DSamples": 16, "lbp2DRadius": 2.5}),
    ],
)
def test_lbp2d_cases(pyradiomics_data, extractor, case, lbp):
    image, mask, label = _case(pyradiomics_data, case)
    params = {
        "setting": {"label": label, "binWidth": 1, "force2D": True, **lbp},
        "imageType": {"LBP2D": {}},
        "featureClass": LBP_CLASSES,
    }
    _assert_equal(_oracle(extractor, params, image, mask), spinerad.extract(image, mask, params=params))


@pytest.mark.parametrize("seed", range(4))
def test_lbp2d_random(extractor, seed):
    image, mask = _random_case(10 + seed, dtype=np.int16 if seed % 2 else np.float32)
    params = {
        "setting": {"binCount": 16, "force2Ddimension": seed % 3},
        "imageType": {"LBP2D": {"lbp2DMethod": ("uniform", "default", "ror", "var")[seed]}},
        "featureClass": {"firstorder": None, "glcm": None},
    }
    _assert_equal(_oracle(extractor, params, image, mask), spinerad.extract(image, mask, params=params))


@pytest.mark.parametrize(
    "case, lbp",
    [
        ("brain1", {}),
        ("breast1", {"lbp3DLevels": 3, "lbp3DIcosphereRadius": 1.5}),
        ("prostate_phantom_subvolume", {"lbp3DIcosphereSubdivision": 0}),
    ],
)
def test_lbp3d_cases(pyradiomics_data, extractor, case, lbp):
    image, mask, label = _case(pyradiomics_data, case)
    params = {
        "setting": {"label": label, "binWidth": 0.5},
        "imageType": {"LBP3D": lbp},
        "featureClass": LBP_CLASSES,
    }
    _assert_equal(_oracle(extractor, params, image, mask), spinerad.extract(image, mask, params=params))


@pytest.mark.parametrize("seed", range(4))
def test_lbp3d_random(extractor, seed):
    image, mask = _random_case(20 + seed, dtype=np.int16 if seed % 2 else np.float32)
    params = {
        "setting": {"binWidth": 0.25, "resegmentRange": [-1000, 1000]},
        "imageType": {"LBP3D": {}, "Original": {}},
        "featureClass": {"firstorder": None, "glcm": None, "ngtdm": None},
    }
    _assert_equal(_oracle(extractor, params, image, mask), spinerad.extract(image, mask, params=params))


# ---------------------------------------------------------------------------------------------------------
# PyRadiomics' MR_2D_extraction.yaml, unchanged


@pytest.mark.parametrize("case", ["brain1", "breast1", "lung2", "prostate_phantom_subvolume"])
def test_mr_2d_extraction_yaml(pyradiomics_data, extractor, case):
    path = pyradiomics_data / "settings" / "MR_2D_extraction.yaml"
    params = yaml.safe_load(path.read_text())
    image, mask, label = _case(pyradiomics_data, case, one_slice=True)
    expected = _oracle(extractor, {**params, "setting": {**params["setting"], "label": label}}, image, mask)
    assert any(k.startswith("original_shape2D_") for k in expected)
    # the file itself, unchanged, where its label 1 is the case's ROI (the prostate phantom's is label 8)
    if label == 1:
        got = spinerad.extract(image, mask, params=path)
    else:
        got = spinerad.extract(image, mask, params=path, label=label)
    _assert_equal(expected, got)


def test_lbp2d_default_samples_keep_existing_settings_hashes():
    """lbp2DSamples defaults to 8 (PyRadiomics' code); hashes of parameters without LBP2D are unchanged."""
    import json
    from pathlib import Path

    from spinerad.settings import Settings, load_params

    assert Settings().lbp2d_samples == 8
    demo = Path(spinerad.__file__).resolve().parents[1] / "models" / "demo"
    card = json.loads(next(demo.glob("*/card.json")).read_text(encoding="utf-8"))
    assert load_params(demo / "extraction.yaml").settings_hash() in json.dumps(card)
    with_lbp = {"imageType": {"LBP2D": {}}}
    assert (
        load_params(with_lbp).settings_hash()
        != load_params({"imageType": {"LBP2D": {}}, "setting": {"lbp2DSamples": 9}}).settings_hash()
    )

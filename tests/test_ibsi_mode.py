"""IBSI mode against the IBSI 1 digital-phantom reference values (every implemented family, 100 %)."""

import csv
import math

import numpy as np
import pytest

import spinerad

FAMILIES = ("stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl", "morph", "loc")


def _round3(x):
    """Mirp's comparison: the computed value rounded to 3 significant digits."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + 2)


def _reference(path):
    with open(path) as handle:
        rows = list(csv.reader(handle, delimiter=";"))[1:]
    return {tag: (float(value), float(tol)) for value, tol, tag in rows if value != ""}


@pytest.fixture(scope="module")
def phantom_features(ibsi_data):
    folder = ibsi_data / "digital_phantom"
    # IBSI computes the digital phantom without discretisation: bin width 1 anchored at the minimum keeps
    # the grey levels as they are.
    return spinerad.extract(
        folder / "image.nii.gz",
        folder / "mask.nii.gz",
        params={"setting": {"binWidth": 1}},
        ibsi=True,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_digital_phantom_family(ibsi_data, phantom_features, family):
    reference = _reference(ibsi_data / "reference_values" / "ibsi_1_dig_phantom.csv")
    tags = [t for t in reference if t.startswith(family + "_")]
    assert set(reference) == {t for f in FAMILIES for t in reference if t.startswith(f + "_")}
    assert tags, f"no reference values for {family}"
    failures = []
    for tag in tags:
        value, tolerance = reference[tag]
        got = phantom_features.get(tag)
        if got is None or abs(_round3(got) - value) > tolerance + 1e-12:
            failures.append((tag, value, got))
    assert not failures, f"{len(failures)}/{len(tags)} {family} values off: {failures[:8]}"


def test_ibsi_mode_cli(ibsi_data, capsys):
    import json

    from spinerad.cli import main

    folder = ibsi_data / "digital_phantom"
    code = main(["extract", str(folder / "image.nii.gz"), str(folder / "mask.nii.gz"), "--ibsi"])
    out, err = capsys.readouterr()
    assert code == 0, err
    features = json.loads(out)
    assert "cm_joint_max_3D_comb" in features and "ngt_coarseness_2D" in features
    assert all(isinstance(v, float) for v in features.values())


def test_ibsi_discretisation_fixed_bin_size_anchored_at_lower_bound():
    from spinerad.ibsi import discretise

    levels, n = discretise(np.array([-480.0, -500.0, -451.0, 399.0]), bin_width=25, lower_bound=-500)
    assert levels.tolist() == [1, 1, 2, 36] and n == 36


def test_ibsi_discretisation_fixed_bin_number():
    from spinerad.ibsi import discretise

    levels, n = discretise(np.array([0.0, 0.5, 0.99, 1.0]), bin_count=4)
    assert levels.tolist() == [1, 3, 4, 4] and n == 4


@pytest.mark.parametrize("chosen", [["3D"], ["2D", "2_5D"], ["2_5D"]])
def test_ibsi_aggregations_setting_computes_that_subset(ibsi_data, phantom_features, chosen):
    """``ibsi: aggregations`` keeps exactly the texture features of those aggregations, with equal values."""
    folder = ibsi_data / "digital_phantom"
    some = spinerad.extract(
        folder / "image.nii.gz",
        folder / "mask.nii.gz",
        params={"setting": {"binWidth": 1}, "ibsi": {"aggregations": chosen}},
        ibsi=True,
    )
    texture = ("cm_", "rlm_", "szm_", "dzm_", "ngt_", "ngl_")

    def aggregation(tag):
        return next(a for a in ("2_5D", "2D", "3D") if f"_{a}" in tag)

    expected = {
        t: v for t, v in phantom_features.items() if not t.startswith(texture) or aggregation(t) in chosen
    }
    assert set(some) == set(expected)
    assert {aggregation(t) for t in some if t.startswith(texture)} == set(chosen)
    assert all(some[t] == expected[t] or (math.isnan(some[t]) and math.isnan(expected[t])) for t in some)


@pytest.mark.parametrize("bad", [["4D"], [], "3D", ["3D", "3D"]])
def test_ibsi_aggregations_setting_rejects_bad_values(bad):
    from spinerad.errors import SettingsError
    from spinerad.settings import load_params

    with pytest.raises(SettingsError, match="aggregations"):
        load_params({"ibsi": {"aggregations": bad}})


@pytest.mark.parametrize(
    "spacing", [(2.0, 2.0, 0.0), (2.0, 2.0, 2.0), (1.37, 2.11, 2.9), (0.7, 0.93, 1.6)], ids=str
)
def test_ibsi_mask_resampled_around_the_roi_equals_the_whole_grid(spacing):
    """The mask interpolated on a sub-grid around the ROI (ties re-done as whole x-lines) equals the whole grid's.

    Spacing 1 -> 2 puts fractions at exactly 0.5 (the case re-done as whole x-lines or the whole grid).
    """
    import SimpleITK as sitk

    from spinerad import preprocess
    from spinerad.settings import IbsiOptions

    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:24, :48, :40]
    roi = ((z - 11.3) / 6) ** 2 + ((y - 20.2) / 11) ** 2 + ((x - 23.7) / 9) ** 2 <= 1
    labels = np.where(roi, 3, np.where(rng.random(roi.shape) < 0.01, 1, 0)).astype(np.uint8)
    image = sitk.GetImageFromArray(rng.integers(-1000, 1000, roi.shape).astype(np.int16))
    mask = sitk.GetImageFromArray(labels)
    for item in (image, mask):
        item.SetSpacing((1.0, 1.0, 1.0))
        item.SetOrigin((-3.2, 7.1, 0.4))
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(roi))
    options = IbsiOptions()
    whole = preprocess.resample_ibsi(image, mask, 3, spacing, "sitkLinear", options)
    around = preprocess.resample_ibsi(image, mask, 3, spacing, "sitkLinear", options, box)
    for a, b in zip(whole, around, strict=True):
        assert np.array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))
        for geometry in ("GetOrigin", "GetSpacing", "GetDirection", "GetPixelID"):
            assert getattr(a, geometry)() == getattr(b, geometry)()
    assert np.count_nonzero(sitk.GetArrayViewFromImage(around[1]) == 3) > 100


def _resampler(mask, new_size, new_origin, new_spacing):
    """``run`` of :func:`spinerad.preprocess.resample_ibsi` for a grid given by size, origin and spacing."""
    import SimpleITK as sitk

    def run(source, method, start=None, size=None, origin=None):
        rif = sitk.ResampleImageFilter()
        rif.SetOutputSpacing(new_spacing.tolist())
        rif.SetSize((new_size if size is None else size).tolist())
        rif.SetOutputOrigin((new_origin if origin is None else origin).tolist())
        rif.SetOutputDirection(mask.GetDirection())
        rif.SetOutputPixelType(sitk.sitkFloat64)
        rif.SetInterpolator(method)
        return rif.Execute(source)

    return run


@pytest.mark.parametrize("seed", range(3))
def test_whole_x_line_rows_equal_the_whole_grid_bit_for_bit(seed):
    """Rows of whole x-lines resampled alone equal the whole grid's rows exactly whenever they are used.

    Random geometries (origins with many bits, spacings that do not divide, an oblique direction): where
    :func:`spinerad.preprocess._whole_grid_rows` cannot show its origin exact it returns None (the caller
    then resamples the whole grid); every grid it does return equals ITK's whole-grid result bit for bit.
    """
    import SimpleITK as sitk
    from scipy.spatial.transform import Rotation

    from spinerad import preprocess

    rng = np.random.default_rng(seed)
    used = 0
    for trial in range(40):
        shape = rng.integers(8, 30, 3)
        roi = rng.random(shape) < 0.3
        limit = rng.integers(2, shape + 1)
        roi[limit[0] :], roi[:, limit[1] :], roi[:, :, limit[2] :] = False, False, False
        mask = sitk.GetImageFromArray(roi.astype(np.uint8))
        old_spacing = rng.uniform(0.4, 3.5, 3).round(int(rng.integers(1, 8)))
        mask.SetSpacing(old_spacing.tolist())
        mask.SetOrigin((rng.uniform(-300, 300, 3) * rng.choice([1, 1e-3, 0])).tolist())
        if trial % 5 == 0:
            mask.SetDirection(Rotation.random(random_state=trial).as_matrix().ravel().tolist())
        new_spacing = rng.choice([2.0, 1.0, 1.5, 0.8, 3.0, 1.37], 3)
        old_size = np.array(mask.GetSize())
        new_size = np.ceil(old_size * old_spacing / new_spacing).astype(int)
        direction = np.array(mask.GetDirection()).reshape(3, 3)
        shift = (old_spacing * (old_size - 1) - new_spacing * (new_size - 1)) / 2
        new_origin = np.array(mask.GetOrigin()) + direction @ shift

        run = _resampler(mask, new_size, new_origin, new_spacing)
        whole = sitk.GetArrayFromImage(run(mask == 1, sitk.sitkLinear))
        start = np.array([0, *(rng.integers(0, new_size[1:]))])
        stop = np.array([new_size[0], *(rng.integers(start[1:] + 1, new_size[1:] + 1))])
        crop = sitk.RegionOfInterest(mask, np.minimum(old_size, limit[::-1] + 2).tolist(), [0, 0, 0]) == 1
        grid = (new_size, new_origin, new_spacing, direction)
        rows = preprocess._whole_grid_rows(crop, grid, start, stop, run)
        if rows is not None:
            used += 1
            assert np.array_equal(rows, whole[start[2] : stop[2], start[1] : stop[1], :])
    assert used >= 10


def test_rounded_statistics_equal_numpy_on_the_rounded_image():
    """Mean, minimum and maximum of np.round(x) without making it: NumPy's values bit for bit, else None."""
    from spinerad.kernels.imagestats import rounded_statistics

    rng = np.random.default_rng(3)
    volume = rng.normal(-200, 700, (9, 31, 27))
    volume[0, :4, :4] = [-2.5, -1.5, -0.5, 0.5]  # halves round to even, as np.round does
    rounded = np.round(volume)
    expected = (np.mean(rounded, dtype=np.float64), rounded.min(), rounded.max())
    assert rounded_statistics(volume) == expected
    volume[4, 5, 6] = np.nan
    assert rounded_statistics(volume) is None  # NumPy's NaN statistics instead
    assert rounded_statistics(np.full((2, 2, 2), 2.0**60)) is None  # sums past 2**53: not exact


@pytest.mark.parametrize("spacing", [(2.0, 2.0, 2.0), (2.0, 2.0, 0.0), (1.37, 2.11, 2.9)], ids=str)
@pytest.mark.parametrize("round_intensities", [True, False])
def test_ibsi_resampling_around_the_roi_is_a_crop_of_the_whole_grid(spacing, round_intensities):
    """The cropped IBSI interpolation equals the whole grid's over its box.

    The box holds the ROI and every voxel within the margin of it (clipped at the grid's faces).
    """
    import SimpleITK as sitk

    from spinerad import preprocess
    from spinerad.settings import IbsiOptions

    rng = np.random.default_rng(11)
    z, y, x = np.mgrid[:20, :44, :40]
    roi = ((z - 4.3) / 5) ** 2 + ((y - 20.2) / 11) ** 2 + ((x - 30.7) / 8) ** 2 <= 1  # near two faces
    image = sitk.GetImageFromArray(rng.normal(0, 400, roi.shape))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8) * 2)
    for item in (image, mask):
        item.SetSpacing((0.9, 1.0, 2.5))
        item.SetOrigin((-3.2, 7.1, 0.4))
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(roi))
    options = IbsiOptions(round_intensities=round_intensities)
    whole_image, whole_mask = preprocess.resample_ibsi(image, mask, 2, spacing, "sitkLinear", options, box)
    margin = 6.2
    image_crop, mask_crop, grid_image = preprocess.resample_ibsi_around(
        image, mask, 2, spacing, "sitkLinear", options, box, margin
    )
    start = whole_image.TransformPhysicalPointToIndex(image_crop.GetOrigin())[::-1]
    crop = tuple(slice(a, a + n) for a, n in zip(start, image_crop.GetSize()[::-1], strict=True))
    labels = sitk.GetArrayViewFromImage(whole_mask)
    assert np.array_equal(
        sitk.GetArrayViewFromImage(image_crop), sitk.GetArrayViewFromImage(whole_image)[crop]
    )
    assert np.array_equal(sitk.GetArrayViewFromImage(mask_crop), labels[crop])
    assert np.count_nonzero(labels[crop]) == np.count_nonzero(labels) > 0
    for item in (image_crop, mask_crop):
        assert item.GetSpacing() == whole_image.GetSpacing()
        assert item.GetDirection() == whole_image.GetDirection()
        assert mask_crop.GetOrigin() == image_crop.GetOrigin()
    assert grid_image.GetSize() == whole_image.GetSize()
    grid_spacing = np.array(whole_image.GetSpacing())[::-1]
    inside = np.nonzero(labels)
    for axis, (c, n) in enumerate(zip(crop, labels.shape, strict=True)):
        reach = int(np.floor(margin / grid_spacing[axis]))
        assert c.start <= max(inside[axis].min() - reach, 0)
        assert c.stop >= min(inside[axis].max() + 1 + reach, n)

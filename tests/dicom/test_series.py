"""The one DICOM series reader: exact geometry and voxels, and a clear refusal of what would be silently wrong."""

import numpy as np
import pydicom
import pydicom.data
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from spinerad import extract
from spinerad.dicom.series import read_series
from spinerad.errors import ImageReadError, InvalidInput

from .build import write_series


def _same_grid(a, b):
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-7)


def test_series_reads_back_exactly(breast1_series):
    folder, datasets, image, _ = breast1_series
    series = read_series(folder)
    _same_grid(series.image, image)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(series.image), sitk.GetArrayViewFromImage(image))
    assert series.sop_instance_uids == [ds.SOPInstanceUID for ds in datasets]


def test_file_order_does_not_matter(breast1_series, tmp_path):
    image = breast1_series[2]
    n = image.GetSize()[2]
    names = [f"{(k * 7) % n:03d}-{k}.dcm" for k in range(n)][::-1]  # names sort in another order than z
    write_series(image, tmp_path / "s", names=names)
    read = read_series(tmp_path / "s").image
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(read), sitk.GetArrayViewFromImage(image))


def test_missing_slice_is_refused_with_the_gap_named(series_copy, breast1_series):
    (series_copy / "slice0005.dcm").unlink()
    with pytest.raises(ImageReadError) as err:
        read_series(series_copy)
    message = str(err.value)
    assert "gap: 4.200 mm between slice 5 (slice0004.dcm" in message
    assert "slice 6 (slice0006.dcm" in message and "spacing is 2.100 mm: about 1 slice(s) missing" in message
    # the same series through the public API (what `spinerad extract` does) is refused the same way
    with pytest.raises(ImageReadError, match="gap"):
        extract(series_copy, breast1_series[3])


def test_duplicate_position_is_refused(series_copy):
    ds = pydicom.dcmread(series_copy / "slice0003.dcm")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(series_copy / "copy.dcm")
    with pytest.raises(
        ImageReadError,
        match=r"copy.dcm and slice0003.dcm share the slice position|"
        r"slice0003.dcm and copy.dcm share the slice position",
    ):
        read_series(series_copy)


def test_mixed_orientation_and_size_are_refused(series_copy):
    path = series_copy / "slice0002.dcm"
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, 0.6]
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="mixed orientation: slice0002.dcm"):
        read_series(series_copy)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.Rows = ds.Rows - 1
    ds.PixelData = ds.PixelData[: ds.Rows * ds.Columns * 2]
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="mixed image sizes: .* slice0002.dcm is 45x119"):
        read_series(series_copy)


def test_several_series_are_listed_and_one_can_be_chosen(series_copy, breast1_series):
    image = breast1_series[2]
    other = write_series(
        image[:, :, :5], series_copy, description="T2 STIR", names=[f"t2-{k}.dcm" for k in range(5)]
    )
    first_uid = breast1_series[1][0].SeriesInstanceUID
    with pytest.raises(ImageReadError) as err:
        read_series(series_copy)
    message = str(err.value)
    assert "2 DICOM series" in message and "--series UID" in message
    assert f"{first_uid} (MR, 'T1', 21 instance(s), 21 slice(s))" in message
    assert f"{other[0].SeriesInstanceUID} (MR, 'T2 STIR', 5 instance(s), 5 slice(s))" in message
    chosen = read_series(series_copy, series_uid=other[0].SeriesInstanceUID)
    assert chosen.image.GetSize() == (45, 120, 5)
    with pytest.raises(ImageReadError, match="no series 1.2.3"):
        read_series(series_copy, series_uid="1.2.3")


def test_non_image_objects_are_refused(series_copy):
    seg = pydicom.dcmread(pydicom.data.get_testdata_file("liver_1frame.dcm"))
    first = pydicom.dcmread(series_copy / "slice0000.dcm", stop_before_pixels=True)
    seg.SeriesInstanceUID = first.SeriesInstanceUID  # even inside the same series
    seg.save_as(series_copy / "seg.dcm")
    with pytest.raises(ImageReadError, match="seg.dcm is a DICOM SEG, not an image instance"):
        read_series(series_copy)


def test_a_file_that_is_not_dicom_is_named(series_copy):
    (series_copy / "notes.txt").write_text("not DICOM")
    with pytest.raises(ImageReadError, match="notes.txt is not a readable DICOM file"):
        read_series(series_copy)


def test_enhanced_multiframe_instance_reads_like_the_single_frames(breast1_series, tmp_path):
    import highdicom as hd

    folder, _, image, _ = breast1_series
    legacy = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy,
        series_instance_uid=generate_uid(),
        series_number=10,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    enhanced.save_as(tmp_path / "enhanced.dcm")
    series = read_series([tmp_path / "enhanced.dcm"])
    assert series.multiframe
    _same_grid(series.image, image)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(series.image), sitk.GetArrayViewFromImage(image))


def test_several_multiframe_instances_are_refused(breast1_series, tmp_path):
    import highdicom as hd

    legacy = [pydicom.dcmread(p) for p in sorted(breast1_series[0].iterdir())]
    uid = generate_uid()
    for k, part in enumerate((legacy[:10], legacy[10:])):
        hd.legacy.LegacyConvertedEnhancedMRImage(
            part,
            series_instance_uid=uid,
            series_number=10,
            sop_instance_uid=generate_uid(),
            instance_number=k + 1,
        ).save_as(tmp_path / f"e{k}.dcm")
    with pytest.raises(InvalidInput, match="multi-frame is not supported"):
        read_series(tmp_path)


def test_pydicom_ct5n_series():
    folder = (
        pydicom.data.get_testdata_file("liver_1frame.dcm").rsplit("/", 1)[0] + "/dicomdirtests/98892001/CT5N"
    )
    series = read_series(folder)
    assert series.image.GetSize() == (16, 16, 5)
    assert series.image.GetSpacing()[2] == pytest.approx(2.5, abs=1e-6)

"""Image intake: every SimpleITK format and DICOM series folders give the same features."""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad.errors import ImageReadError


def _study():
    rng = np.random.default_rng(3)
    image = sitk.GetImageFromArray(rng.integers(0, 300, (5, 8, 9)).astype(np.int16))
    mask_array = np.zeros((5, 8, 9), dtype=np.uint8)
    mask_array[1:4, 2:7, 1:8] = 1
    mask = sitk.GetImageFromArray(mask_array)
    for item in (image, mask):
        item.SetSpacing((0.7, 0.7, 2.5))
        item.SetOrigin((1.0, 2.0, 3.0))
    return image, mask


def _write_dicom_series(image, folder, series_uid="1.2.826.0.1.3680043.2.1125.1.1"):
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetSize()[2]):
        slice_ = image[:, :, k]
        tags = {
            "0020|000e": series_uid,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.2",
            "0008|0060": "MR",
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": "0.7\\0.7",
            "0018|0050": "2.5",
        }
        for key, value in tags.items():
            slice_.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(slice_)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha"])
def test_file_formats_give_identical_features(tmp_path, suffix):
    image, mask = _study()
    expected = spinerad.extract(image, mask)
    sitk.WriteImage(image, str(tmp_path / f"image{suffix}"))
    sitk.WriteImage(mask, str(tmp_path / f"mask{suffix}"))
    got = spinerad.extract(tmp_path / f"image{suffix}", tmp_path / f"mask{suffix}")
    # NIfTI stores spacing as float32, which moves TotalEnergy (spacing-weighted) in the 8th digit.
    assert got == pytest.approx(expected, rel=1e-6)


def test_dicom_series_folder(tmp_path):
    image, mask = _study()
    _write_dicom_series(image, tmp_path / "series")
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    assert spinerad.extract(tmp_path / "series", tmp_path / "mask.nrrd") == spinerad.extract(image, mask)


def test_folder_without_dicom_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no DICOM series"):
        spinerad.extract(tmp_path / "empty", tmp_path / "empty")


def test_vector_mask_channel_selection():
    image, mask = _study()
    other = sitk.GetImageFromArray(np.zeros((5, 8, 9), dtype=np.uint8))
    other.CopyInformation(mask)
    vector = sitk.Compose(other, mask)
    assert spinerad.extract(image, vector, params={"setting": {"label_channel": 1}}) == spinerad.extract(
        image, mask
    )


def test_float_mask_is_cast_like_pyradiomics():
    image, mask = _study()
    as_float = sitk.Cast(mask, sitk.sitkFloat32)
    assert spinerad.extract(image, as_float) == spinerad.extract(image, mask)

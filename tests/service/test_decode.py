"""Decoding the three encodings, and the precise errors for declarations and bytes that cannot be decoded."""

import gzip
import zlib

import numpy as np
import pytest
import SimpleITK as sitk

from spinerad.errors import ImageReadError, InvalidInput, NonFiniteImage
from spinerad.service.decode import (
    DicomEncoding,
    FileEncoding,
    RawEncoding,
    VolumeSpec,
    check_spec,
    decode_volume,
    detect_suffix,
)
from spinerad.service.errors import LimitExceeded
from spinerad.service.limits import Limits

from .conftest import sample_arrays, write_dicom_series


def raw_spec(array, **geometry):
    return VolumeSpec(array.nbytes, RawEncoding(array.dtype.name, array.shape, **geometry))


def test_raw_round_trip_keeps_voxels_and_geometry():
    image, _mask, spacing, origin = sample_arrays()
    spec = raw_spec(image, spacing=spacing, origin=origin, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    check_spec(spec, "image")
    decoded = decode_volume(spec, memoryview(image.tobytes()), "image")
    assert np.array_equal(sitk.GetArrayFromImage(decoded), image)
    assert decoded.GetSpacing() == spacing and decoded.GetOrigin() == origin


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (VolumeSpec(10, None), "image: no encoding given"),
        (VolumeSpec(0, RawEncoding("int16", (1, 1))), "total_bytes is 0"),
        (VolumeSpec(8, RawEncoding("complex64", (2, 2))), "unknown dtype 'complex64'"),
        (
            VolumeSpec(8, RawEncoding("int16", (2, 3))),
            "shape (2, 3) x int16 is 12 bytes but total_bytes declares 8",
        ),
        (VolumeSpec(8, RawEncoding("int16", (2, 2, 1, 1))), "has 4 axes"),
        (VolumeSpec(8, RawEncoding("int16", (0, 4))), "empty axis"),
        (VolumeSpec(8, RawEncoding("int16", (2, 2), spacing=(1.0,))), "spacing has 1 values"),
        (VolumeSpec(8, RawEncoding("int16", (2, 2), spacing=(1.0, -1.0))), "must be positive"),
        (VolumeSpec(8, RawEncoding("int16", (2, 2), origin=(0.0, float("nan")))), "origin has a NaN"),
        (VolumeSpec(8, RawEncoding("int16", (2, 2), direction=(1, 1, 0, 1))), "not an orthonormal"),
        (VolumeSpec(8, FileEncoding(".tiff")), "unsupported file suffix '.tiff'"),
        (VolumeSpec(8, DicomEncoding(())), "needs instance_bytes"),
        (VolumeSpec(8, DicomEncoding((4, 5))), "sum to 9 bytes but total_bytes declares 8"),
        (VolumeSpec(8, DicomEncoding((8, 0))), "instance 1 has size 0"),
    ],
)
def test_bad_declarations_name_the_problem(spec, message):
    with pytest.raises(InvalidInput) as info:
        check_spec(spec, "image")
    assert message in str(info.value)


def test_limits_are_checked_before_any_byte():
    with pytest.raises(LimitExceeded, match="at most 100"):
        check_spec(VolumeSpec(2 * 1000, RawEncoding("int16", (10, 100))), "image", Limits(max_voxels=100))
    with pytest.raises(LimitExceeded, match="at most 2"):
        check_spec(VolumeSpec(3, DicomEncoding((1, 1, 1))), "image", Limits(max_dicom_instances=2))


def test_zlib_raw_voxels(tmp_path):
    _image, mask, spacing, _origin = sample_arrays()
    packed = zlib.compress(mask.tobytes(), 1)
    spec = VolumeSpec(len(packed), RawEncoding("uint8", mask.shape, spacing, compression="zlib"))
    check_spec(spec, "mask")
    assert np.array_equal(sitk.GetArrayFromImage(decode_volume(spec, memoryview(packed), "mask")), mask)
    too_much = zlib.compress(mask.tobytes() + b"\0", 1)
    with pytest.raises(ImageReadError, match="or more bytes of voxels but shape"):
        decode_volume(VolumeSpec(len(too_much), spec.encoding), memoryview(too_much), "mask")
    too_little = zlib.compress(mask.tobytes()[:-1], 1)
    with pytest.raises(ImageReadError, match="holds 147455 bytes of voxels but shape"):
        decode_volume(VolumeSpec(len(too_little), spec.encoding), memoryview(too_little), "mask")
    with pytest.raises(ImageReadError, match="zlib stream|corrupt"):
        decode_volume(VolumeSpec(len(packed) - 9, spec.encoding), memoryview(packed[:-9]), "mask")
    garbled = bytes([packed[0], packed[1] ^ 0xFF]) + packed[2:]
    with pytest.raises(ImageReadError, match="corrupt"):
        decode_volume(VolumeSpec(len(garbled), spec.encoding), memoryview(garbled), "mask")
    with pytest.raises(InvalidInput, match="unknown compression 'lz4'"):
        check_spec(VolumeSpec(10, RawEncoding("uint8", mask.shape, compression="lz4")), "mask")


def test_non_finite_voxels_are_rejected():
    array = np.zeros((2, 3, 4), dtype=np.float32)
    array[1, 1, 1] = np.inf
    array[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteImage, match="image has 2 NaN or infinite"):
        decode_volume(raw_spec(array), memoryview(array.tobytes()), "image")


def _file_bytes(tmp_path, suffix, compress=True):
    image = sitk.GetImageFromArray(sample_arrays()[0])
    path = tmp_path / f"volume{suffix}"
    sitk.WriteImage(image, str(path), compress)
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".nrrd", ".nii", ".nii.gz", ".mha"])
def test_files_decode_with_and_without_a_suffix(tmp_path, suffix):
    data = _file_bytes(tmp_path, suffix)
    assert detect_suffix(data[:65536]) == suffix
    for declared in (suffix, ""):
        image = decode_volume(VolumeSpec(len(data), FileEncoding(declared)), memoryview(data), "image")
        assert np.array_equal(sitk.GetArrayFromImage(image), sample_arrays()[0])


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "compressed"])
@pytest.mark.parametrize("suffix", [".nrrd", ".nii", ".nii.gz", ".mha"])
@pytest.mark.parametrize("keep", [0.5, -1], ids=["half", "last-bytes-missing"])
def test_truncated_files_are_invalid_input(tmp_path, suffix, compress, keep):
    # ITK reads some truncated files without complaint (filling the rest with garbage): these must fail.
    # Compressed files lose 12 bytes: more than the gzip trailer, so voxel data is missing too.
    data = _file_bytes(tmp_path, suffix, compress)
    cut = 12 if compress or suffix == ".nii.gz" else 1
    truncated = data[: int(len(data) * keep)] if keep > 0 else data[:-cut]
    with pytest.raises(ImageReadError, match="image: cannot decode the"):
        decode_volume(VolumeSpec(len(truncated), FileEncoding(suffix)), memoryview(truncated), "image")


def test_unknown_bytes_and_detached_data_files_are_refused():
    with pytest.raises(ImageReadError, match="cannot tell the file format"):
        decode_volume(VolumeSpec(5, FileEncoding("")), memoryview(b"hello"), "mask")
    nrrd = b"NRRD0004\ntype: short\ndimension: 1\nsizes: 2\ndata file: /etc/passwd\nencoding: raw\n\n"
    with pytest.raises(ImageReadError, match="detached data file"):
        decode_volume(VolumeSpec(len(nrrd), FileEncoding(".nrrd")), memoryview(nrrd), "image")
    mha = (
        b"ObjectType = Image\nNDims = 1\nDimSize = 2\nElementType = MET_SHORT\n"
        b"ElementDataFile = /etc/passwd\n"
    )
    with pytest.raises(ImageReadError, match="detached data file"):
        decode_volume(VolumeSpec(len(mha), FileEncoding("")), memoryview(mha), "image")


def test_file_voxel_count_is_checked_from_the_header(tmp_path):
    data = _file_bytes(tmp_path, ".nii.gz")
    with pytest.raises(LimitExceeded, match="at most 1000"):
        decode_volume(
            VolumeSpec(len(data), FileEncoding("")), memoryview(data), "image", Limits(max_voxels=1000)
        )
    assert gzip.decompress(data)  # a gzip'd NIfTI, found by its magic bytes


def _dicom(paths):
    data = b"".join(p.read_bytes() for p in paths)
    return VolumeSpec(len(data), DicomEncoding(tuple(p.stat().st_size for p in paths))), memoryview(data)


def test_dicom_series_in_any_order(tmp_path):
    image = sample_arrays()[0]
    paths = write_dicom_series(tmp_path / "s", image)
    spec, data = _dicom(paths[::-1])
    decoded = decode_volume(spec, data, "image")
    assert np.array_equal(sitk.GetArrayFromImage(decoded), image)
    assert decoded.GetSpacing() == pytest.approx((0.8, 0.8, 3.0))


def test_dicom_missing_slices_mixed_series_and_garbage(tmp_path):
    image = sample_arrays()[0]
    with pytest.raises(ImageReadError, match=r"gap: 6.000 mm between slice 5 .* about 1 slice\(s\) missing"):
        decode_volume(*_dicom(write_dicom_series(tmp_path / "gap", image, skip=(5,))), "image")
    first = write_dicom_series(tmp_path / "a", image[:4])
    second = write_dicom_series(tmp_path / "b", image, series_uid="1.2.3.4")[4:8]
    with pytest.raises(ImageReadError, match="mixed SeriesInstanceUID"):
        decode_volume(*_dicom(first + second), "image")
    with pytest.raises(ImageReadError, match="instance00001.dcm is not a readable DICOM file"):
        spec = VolumeSpec(first[0].stat().st_size + 5, DicomEncoding((first[0].stat().st_size, 5)))
        decode_volume(spec, memoryview(first[0].read_bytes() + b"junk!"), "image")

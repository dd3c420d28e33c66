"""Volume decoding: the bytes of an image or mask, as the client declared them, into a SimpleITK image.

Three encodings (see ``protos/spinerad/v1/study.proto``): a raw voxel array with its geometry, one file
SimpleITK reads (NRRD, NIfTI, MetaImage), or a DICOM series (the instance files' bytes). A declaration is
checked against the limits before any byte arrives (:func:`check_spec`); the bytes are checked when they are
decoded (:func:`decode_volume`). Every failure is a :class:`~spinerad.errors.InvalidInput` whose message
names the volume and the problem. Plain Python: no gRPC here.

One module, not one per encoding (465 lines): the three decoders share the declaration checks, the voxel
and finiteness checks and the scratch-folder handling, and a reader who asks "what bytes does the server
accept, and what does it refuse" finds the whole answer, declaration to SimpleITK image, here.
"""

import math
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from spinerad.errors import ImageReadError, InvalidInput, NonFiniteImage

from .errors import LimitExceeded
from .limits import DEFAULT_LIMITS

#: Raw dtypes by name; voxels are little-endian, C order.
DTYPES = {
    name: np.dtype(code)
    for name, code in (
        ("uint8", "<u1"),
        ("int8", "<i1"),
        ("uint16", "<u2"),
        ("int16", "<i2"),
        ("uint32", "<u4"),
        ("int32", "<i4"),
        ("uint64", "<u8"),
        ("int64", "<i8"),
        ("float32", "<f4"),
        ("float64", "<f8"),
    )
}

#: Compressions of raw voxels.
RAW_COMPRESSIONS = ("", "zlib")

#: File suffixes a file encoding may declare (single-file formats only: no detached data files).
FILE_SUFFIXES = (".nrrd", ".nii", ".nii.gz", ".mha")

_FORMAT_NAMES = {".nrrd": "NRRD", ".nii": "NIfTI", ".nii.gz": "NIfTI (gzip)", ".mha": "MetaImage"}


@dataclass(frozen=True)
class RawEncoding:
    """A C-ordered little-endian voxel array: ``shape`` in (z, y, x), geometry in ITK (x, y, z) order."""

    dtype: str
    shape: tuple
    spacing: tuple = ()
    origin: tuple = ()
    direction: tuple = ()
    compression: str = ""


@dataclass(frozen=True)
class FileEncoding:
    """One image file; ``suffix`` picks the reader ("" = detect from the bytes)."""

    suffix: str = ""


@dataclass(frozen=True)
class DicomEncoding:
    """A DICOM series: the instance files' bytes, concatenated; ``instance_bytes`` gives each file's size."""

    instance_bytes: tuple


@dataclass(frozen=True)
class DicomObjectEncoding:
    """A mask as one DICOM object file: ``kind`` is "dicom_seg" or "rtstruct"."""

    kind: str


@dataclass(frozen=True)
class VolumeSpec:
    """How one volume (image or mask) is encoded and how many bytes it takes."""

    total_bytes: int
    encoding: object  # RawEncoding | FileEncoding | DicomEncoding | DicomObjectEncoding | None


def check_spec(spec, what, limits=DEFAULT_LIMITS):
    """Reject a declaration that cannot be decoded or exceeds a limit, before any byte is received."""
    encoding = spec.encoding
    if encoding is None:
        raise InvalidInput(f"{what}: no encoding given; set raw, file or dicom")
    if spec.total_bytes <= 0:
        raise InvalidInput(f"{what}: total_bytes is 0; declare the size of the {what} in bytes")
    if isinstance(encoding, RawEncoding):
        _check_raw(encoding, spec.total_bytes, what, limits)
    elif isinstance(encoding, FileEncoding):
        if encoding.suffix and encoding.suffix.lower() not in FILE_SUFFIXES:
            raise InvalidInput(
                f"{what}: unsupported file suffix {encoding.suffix[:20]!r}; expected one of "
                f"{', '.join(FILE_SUFFIXES)}"
            )
    elif isinstance(encoding, DicomEncoding):
        sizes = encoding.instance_bytes
        if not sizes:
            raise InvalidInput(
                f"{what}: a DICOM series needs instance_bytes (the size of each instance file)"
            )
        if len(sizes) > limits.max_dicom_instances:
            raise LimitExceeded(
                f"{what}: {len(sizes)} DICOM instances; this server accepts at most "
                f"{limits.max_dicom_instances}"
            )
        if min(sizes) <= 0:
            raise InvalidInput(f"{what}: DICOM instance {sizes.index(min(sizes))} has size 0")
        if sum(sizes) != spec.total_bytes:
            raise InvalidInput(
                f"{what}: the DICOM instance sizes sum to {sum(sizes)} bytes but total_bytes declares "
                f"{spec.total_bytes}"
            )
    elif isinstance(encoding, DicomObjectEncoding):
        if what != "mask":
            raise InvalidInput(
                f"{what}: encoding {encoding.kind} is for masks; send the image as raw, file or dicom"
            )
    else:  # pragma: no cover - the proto conversion only builds these kinds
        raise InvalidInput(f"{what}: unknown encoding {type(encoding).__name__}")


def _check_raw(raw, total_bytes, what, limits):
    dtype = DTYPES.get(raw.dtype)
    if dtype is None:
        raise InvalidInput(f"{what}: unknown dtype {raw.dtype[:20]!r}; expected one of {', '.join(DTYPES)}")
    shape = tuple(raw.shape)
    if len(shape) not in (2, 3):
        raise InvalidInput(f"{what}: shape {shape} has {len(shape)} axes; expected 2 (y, x) or 3 (z, y, x)")
    if min(shape) < 1:
        raise InvalidInput(f"{what}: shape {shape} has an empty axis")
    voxels = math.prod(shape)
    if voxels > limits.max_voxels:
        raise LimitExceeded(
            f"{what}: shape {shape} has {voxels} voxels; this server accepts at most {limits.max_voxels}"
        )
    if raw.compression not in RAW_COMPRESSIONS:
        raise InvalidInput(
            f"{what}: unknown compression {raw.compression[:20]!r}; expected one of "
            f"{', '.join(map(repr, RAW_COMPRESSIONS))}"
        )
    expected = voxels * dtype.itemsize
    if expected != total_bytes and not raw.compression:
        raise InvalidInput(
            f"{what}: shape {shape} x {raw.dtype} is {expected} bytes but total_bytes declares {total_bytes}"
        )
    ndim = len(shape)
    for name, values, count in (
        ("spacing", raw.spacing, ndim),
        ("origin", raw.origin, ndim),
        ("direction", raw.direction, ndim * ndim),
    ):
        if values and len(values) != count:
            raise InvalidInput(f"{what}: {name} has {len(values)} values; a {ndim}-D volume needs {count}")
        if not all(math.isfinite(v) for v in values):
            raise InvalidInput(f"{what}: {name} has a NaN or infinite value")
    if raw.spacing and min(raw.spacing) <= 0:
        raise InvalidInput(f"{what}: spacing {tuple(raw.spacing)} must be positive")
    if raw.direction:
        matrix = np.asarray(raw.direction, dtype=np.float64).reshape(ndim, ndim)
        # entries of an orthonormal matrix lie in [-1, 1]; checking that first also keeps the product finite
        if np.abs(matrix).max() > 1 + 1e-4 or not np.allclose(matrix @ matrix.T, np.eye(ndim), atol=1e-4):
            raise InvalidInput(f"{what}: direction {tuple(raw.direction)} is not an orthonormal matrix")


def decode_volume(spec, payload, what, limits=DEFAULT_LIMITS, scratch_dir=None):
    """Decode ``payload`` (the bytes of ``spec``, checked by :func:`check_spec`) into a SimpleITK image."""
    encoding = spec.encoding
    if isinstance(encoding, DicomObjectEncoding):
        raise InvalidInput(f"{what}: a {encoding.kind} mask is decoded with its image (decode_study)")
    if isinstance(encoding, RawEncoding):
        image = _decode_raw(encoding, payload, what)
    elif isinstance(encoding, FileEncoding):
        image = _decode_file(encoding, payload, what, limits, scratch_dir)
    else:
        image = _decode_dicom(encoding, payload, what, limits, scratch_dir)
    _check_finite(image, what)
    return image


def _decode_raw(raw, payload, what):
    dtype = DTYPES[raw.dtype]
    if raw.compression == "zlib":
        payload = _inflate(raw, payload, dtype, what)
    array = np.frombuffer(payload, dtype=dtype).reshape(tuple(raw.shape))
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    image = sitk.GetImageFromArray(array)
    if raw.spacing:
        image.SetSpacing(tuple(raw.spacing))
    if raw.origin:
        image.SetOrigin(tuple(raw.origin))
    if raw.direction:
        image.SetDirection(tuple(raw.direction))
    return image


def _inflate(raw, payload, dtype, what):
    """Decompress zlib voxels, never to more than the declared shape needs (no zip bombs)."""
    expected = math.prod(raw.shape) * dtype.itemsize
    stream = zlib.decompressobj()
    extra = b""
    try:
        data = stream.decompress(payload, expected)
        if len(data) == expected and not stream.eof:
            extra = stream.decompress(stream.unconsumed_tail, 1)  # zlib checks the checksum at the end
    except zlib.error:
        raise ImageReadError(f"{what}: the zlib-compressed voxels are corrupt") from None
    if len(data) != expected or extra or not stream.eof:
        more = " or more" if extra else ""
        raise ImageReadError(
            f"{what}: the zlib stream holds {len(data)}{more} bytes of voxels but shape {tuple(raw.shape)} x "
            f"{raw.dtype} is {expected} bytes"
        )
    return data


def _check_finite(image, what):
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating):
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(array.size - np.count_nonzero(finite))
            raise NonFiniteImage(f"{what} has {bad} NaN or infinite voxel value(s)")


def detect_suffix(head):
    """The file suffix of a single-file image from its first bytes, or None when unknown."""
    if head.startswith(b"NRRD"):
        return ".nrrd"
    if head.startswith(b"\x1f\x8b"):
        return ".nii.gz"
    if len(head) >= 348 and head[344:348] == b"n+1\x00":
        return ".nii"
    if len(head) >= 8 and head[4:8] == b"n+2\x00":
        return ".nii"
    if b"ElementDataFile" in head[:65536] or head.lstrip().startswith((b"ObjectType", b"NDims")):
        return ".mha"
    return None


def _check_self_contained(suffix, head, what):
    """Refuse headers that point the reader at another file on the server (detached NRRD / MetaImage data)."""
    if suffix == ".nrrd":
        header = head.split(b"\n\n", 1)[0].lower()
        if b"\ndata file:" in header or b"\ndatafile:" in header:
            raise ImageReadError(
                f"{what}: NRRD with a detached data file; send the data attached (one .nrrd)"
            )
    elif suffix == ".mha":
        for line in head.splitlines():
            key, _, value = line.partition(b"=")
            if key.strip() == b"ElementDataFile":
                if value.strip() != b"LOCAL":
                    raise ImageReadError(
                        f"{what}: MetaImage with a detached data file; send ElementDataFile = LOCAL (one "
                        ".mha)"
                    )
                return
        raise ImageReadError(f"{what}: not a readable MetaImage file: no ElementDataFile in its header")


def _stores_raw_voxels(suffix, head):
    """Whether the file keeps its voxels uncompressed (so its length must cover them)."""
    if suffix == ".nrrd":
        header = head.split(b"\n\n", 1)[0].lower()
        return b"\nencoding: raw" in header or b"\nencoding:raw" in header
    if suffix == ".mha":
        return b"compresseddata = true" not in head.lower().replace(b"\t", b" ")
    return False


def _nifti_bytes(header, what):
    """Bytes a NIfTI-1/-2 file needs (header, extensions, voxels) and its voxel count, from its header."""
    for order in "<>":
        size = struct.unpack_from(order + "i", header, 0)[0] if len(header) >= 4 else 0
        if size == 348 and len(header) >= 112:
            dims = struct.unpack_from(order + "8h", header, 40)
            bitpix = struct.unpack_from(order + "h", header, 72)[0]
            offset = struct.unpack_from(order + "f", header, 108)[0]
            break
        if size == 540 and len(header) >= 176:
            dims = struct.unpack_from(order + "8q", header, 16)
            bitpix = struct.unpack_from(order + "h", header, 14)[0]
            offset = struct.unpack_from(order + "q", header, 168)[0]
            break
    else:
        raise ImageReadError(f"{what}: cannot decode the NIfTI bytes: not a NIfTI header")
    if not 1 <= dims[0] <= 7 or min(dims[1 : dims[0] + 1]) < 1 or bitpix <= 0 or not 0 <= offset < 1 << 24:
        raise ImageReadError(f"{what}: cannot decode the NIfTI bytes: invalid NIfTI header")
    voxels = math.prod(dims[1 : dims[0] + 1])
    return int(offset) + voxels * bitpix // 8, voxels


def _gunzip_nifti(payload, what, limits):
    """Decompress a .nii.gz ourselves, bounded by its header, so that a truncated stream is an error.

    ITK's own reader fills a truncated .nii.gz with garbage instead of failing.
    """
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        header = stream.decompress(payload, 540)
        needed, voxels = _nifti_bytes(header, what)
        if voxels > limits.max_voxels:
            raise LimitExceeded(
                f"{what}: {voxels} voxels declared; this server accepts at most {limits.max_voxels}"
            )
        body = stream.decompress(stream.unconsumed_tail, max(needed - len(header), 0))
        if not stream.unconsumed_tail:
            stream.decompress(b"", 1 << 16)  # reach the end of the stream: zlib checks the CRC there
            if not stream.eof:
                raise ImageReadError(
                    f"{what}: cannot decode the NIfTI (gzip) bytes: the gzip stream is truncated"
                )
    except zlib.error:
        raise ImageReadError(f"{what}: cannot decode the NIfTI (gzip) bytes: not valid gzip data") from None
    data = header + body
    if len(data) < needed:
        raise ImageReadError(
            f"{what}: cannot decode the NIfTI (gzip) bytes: the file is truncated ({len(data)} of {needed} "
            "bytes)"
        )
    return data


def _decode_file(encoding, payload, what, limits, scratch_dir):
    head = bytes(payload[:65536])
    suffix = encoding.suffix.lower() or detect_suffix(head)
    if suffix is None:
        raise ImageReadError(
            f"{what}: cannot tell the file format from its bytes (not NRRD, NIfTI or MetaImage); set the "
            "suffix"
        )
    _check_self_contained(suffix, head, what)
    name = _FORMAT_NAMES[suffix]
    if suffix == ".nii.gz":
        payload = _gunzip_nifti(payload, what, limits)
        suffix, head = ".nii", payload[:65536]
    if suffix == ".nii":
        needed, _voxels = _nifti_bytes(head, what)
        if len(payload) < needed:
            raise ImageReadError(
                f"{what}: cannot decode the {name} bytes: the file is truncated ({len(payload)} of {needed} "
                "bytes)"
            )
    with tempfile.TemporaryDirectory(prefix="spinerad-", dir=scratch_dir) as tmp:
        path = Path(tmp) / f"volume{suffix}"
        path.write_bytes(payload)
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            raise ImageReadError(
                f"{what}: cannot decode the {name} bytes: not a readable {name} file"
            ) from None
        _check_voxels(reader.GetSize(), reader.GetNumberOfComponents(), what, limits)
        if _stores_raw_voxels(suffix, head):
            # ITK fills a short uncompressed file with whatever memory held: refuse it instead
            probe = sitk.Image(
                [1] * reader.GetDimension(), reader.GetPixelID(), reader.GetNumberOfComponents()
            )
            needed = (
                math.prod(reader.GetSize()) * reader.GetNumberOfComponents() * probe.GetSizeOfPixelComponent()
            )
            if len(payload) < needed:
                raise ImageReadError(
                    f"{what}: cannot decode the {name} bytes: the file is truncated "
                    f"({len(payload)} bytes for {needed} bytes of voxels)"
                )
        try:
            return reader.Execute()
        except RuntimeError:
            raise ImageReadError(
                f"{what}: cannot decode the {name} bytes: the file is truncated or corrupt"
            ) from None


def _check_voxels(size, components, what, limits):
    voxels = math.prod(size) * max(components, 1)
    if voxels > limits.max_voxels:
        raise LimitExceeded(
            f"{what}: {voxels} voxels declared; this server accepts at most {limits.max_voxels}"
        )


def _decode_dicom(encoding, payload, what, limits, scratch_dir):
    """Write the instances to scratch files and read them with the one series reader (spinerad.dicom)."""
    from spinerad.dicom.series import read_series

    with tempfile.TemporaryDirectory(prefix="spinerad-", dir=scratch_dir) as tmp:
        files = _write_instances(encoding, payload, Path(tmp) / "instances")
        series = read_series(files, what, check_size=lambda size: _check_voxels(size, 1, what, limits))
        return series.image


def decode_study(request, image_payload, mask_payload, label, limits=DEFAULT_LIMITS, scratch_dir=None):
    """Image and mask of a study as a :class:`spinerad.dicom.Study` (the DICOM objects kept for results).

    A DICOM image goes through the one series reader (choosing ``request.series_uid`` when set); a
    ``dicom_seg``/``rtstruct`` mask becomes a label map holding ``label`` in the ROI chosen by the header's
    ``segment``/``roi`` (see :func:`spinerad.dicom.load_study`).
    """
    from spinerad.dicom.masks import DEFAULT_SEG_THRESHOLD, read_rtstruct, read_seg
    from spinerad.dicom.series import read_series
    from spinerad.dicom.study import Study

    segment = request.segment or None
    roi = request.roi or None
    threshold = request.seg_threshold or DEFAULT_SEG_THRESHOLD
    with tempfile.TemporaryDirectory(prefix="spinerad-", dir=scratch_dir) as tmp:
        source = None
        if isinstance(request.image.encoding, DicomEncoding):
            files = _write_instances(request.image.encoding, image_payload, Path(tmp) / "image")
            source = read_series(
                files,
                "image",
                request.series_uid or None,
                check_size=lambda size: _check_voxels(size, 1, "image", limits),
            )
            image = source.image
            _check_finite(image, "image")
        else:
            if request.series_uid:
                raise InvalidInput("series_uid chooses a series of a DICOM image; the image is not DICOM")
            image = decode_volume(request.image, image_payload, "image", limits, scratch_dir)
        encoding = request.mask.encoding
        if not isinstance(encoding, DicomObjectEncoding):
            if segment is not None or roi is not None:
                raise InvalidInput(
                    "segment/roi choose a ROI of a dicom_seg or rtstruct mask; this mask is a label map (use label)"
                )
            mask = decode_volume(request.mask, mask_payload, "mask", limits, scratch_dir)
            return Study(image, mask, source, None)
        path = Path(tmp) / "mask.dcm"
        path.write_bytes(mask_payload)
        from spinerad.dicom.series import is_dicom_file

        if not is_dicom_file(path):
            raise ImageReadError(f"mask: the {encoding.kind} bytes are not a DICOM file (no DICM preamble)")
        if encoding.kind == "dicom_seg":
            mask, chosen = read_seg(path, image, source, segment, roi, label, threshold)
        else:
            if segment is not None:
                raise InvalidInput("segment chooses a SEG segment; an RTSTRUCT ROI is chosen by name (roi)")
            mask, chosen = read_rtstruct(path, image, source, roi, label)
        return Study(image, mask, source, chosen)


def _write_instances(encoding, payload, folder):
    folder.mkdir()
    files, offset = [], 0
    for index, size in enumerate(encoding.instance_bytes):
        path = folder / f"instance{index:05d}.dcm"
        path.write_bytes(payload[offset : offset + size])
        offset += size
        files.append(path)
    return files

"""What a client uploads: :class:`Volume` and :class:`Study`.

A volume is a raw array, an image file, a DICOM series or object; studies are encoded into ``StudyUpload``
messages (:func:`upload_messages`), each study's chunks sent only once the
server accepted its header (:class:`Verdicts`).

Import them from :mod:`spinerad.service.client`, which re-exports them beside :class:`Client`.
"""

import numbers
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinerad.errors import SpineradError
from spinerad.v1 import study_pb2

DEFAULT_CHUNK_BYTES = 1 << 20
_FILE_SUFFIXES = (".nii.gz", ".nrrd", ".nii", ".mha")
_RAW_DTYPES = {
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float32",
    "float64",
}


class Volume:
    """An encoded image or mask: its ``VolumeSpec`` and a way to read its bytes in chunks."""

    def __init__(self, spec, read_chunks, array=None):
        self.spec = spec
        self._read_chunks = read_chunks
        #: The voxels of an uncompressed raw volume (kept so that :meth:`compressed` can re-encode them).
        self._array = array

    def compressed(self):
        """Return this volume zlib-compressed if it is raw and uncompressed (else itself)."""
        if self._array is None:
            return self
        raw = self.spec.raw
        return Volume.from_array(self._array, raw.spacing, raw.origin, raw.direction, compress=True)

    def chunks(self, size=DEFAULT_CHUNK_BYTES):
        """The volume's bytes, ``size`` at a time."""
        return self._read_chunks(size)

    @classmethod
    def from_path(cls, path):
        """A file (.nrrd, .nii, .nii.gz, .mha as is; others decoded here and sent raw) or a DICOM folder."""
        path = Path(path)
        if path.is_dir():
            return cls.from_dicom_files(sorted(p for p in path.iterdir() if p.is_file()))
        from spinerad.dicom.masks import RTSTRUCT_SOP_CLASS, SEG_SOP_CLASSES
        from spinerad.dicom.series import is_dicom_file

        if is_dicom_file(path):  # a SEG/RTSTRUCT mask, or one image instance (e.g. an enhanced multi-frame)
            import pydicom

            sop_class = str(
                pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"]).get(
                    "SOPClassUID", ""
                )
            )
            if sop_class in SEG_SOP_CLASSES or sop_class == RTSTRUCT_SOP_CLASS:
                return cls.from_dicom_object(
                    path, "dicom_seg" if sop_class in SEG_SOP_CLASSES else "rtstruct"
                )
            return cls.from_dicom_files([path])
        name = path.name.lower()
        suffix = next((s for s in _FILE_SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            import SimpleITK as sitk

            return cls.from_image(sitk.ReadImage(str(path)))
        size = path.stat().st_size
        spec = study_pb2.VolumeSpec(total_bytes=size, file=study_pb2.EncodedFile(suffix=suffix))
        return cls(spec, lambda chunk: _file_chunks([path], chunk))

    @classmethod
    def from_bytes(cls, data, suffix=""):
        """The bytes of one image file (``suffix`` as in ``EncodedFile``; "" lets the server detect it)."""
        data = bytes(data)
        spec = study_pb2.VolumeSpec(total_bytes=len(data), file=study_pb2.EncodedFile(suffix=suffix))
        return cls(spec, lambda chunk: _memory_chunks(memoryview(data), chunk))

    @classmethod
    def from_dicom_files(cls, paths):
        """A DICOM series from its instance files."""
        paths = [Path(p) for p in paths]
        if not paths:
            raise SpineradError("no DICOM instance files given")
        sizes = [p.stat().st_size for p in paths]
        spec = study_pb2.VolumeSpec(total_bytes=sum(sizes), dicom=study_pb2.DicomSeries(instance_bytes=sizes))
        return cls(spec, lambda chunk: _file_chunks(paths, chunk))

    @classmethod
    def from_dicom_object(cls, path, kind):
        """A mask as one DICOM SEG (``kind="dicom_seg"``) or RTSTRUCT (``kind="rtstruct"``) file."""
        path = Path(path)
        spec = study_pb2.VolumeSpec(total_bytes=path.stat().st_size, **{kind: study_pb2.DicomObject()})
        return cls(spec, lambda chunk: _file_chunks([path], chunk))

    @classmethod
    def from_array(cls, array, spacing=(), origin=(), direction=(), compress=False):
        """A NumPy array in (z, y, x) order, geometry in ITK (x, y, z) order.

        ``compress=True`` sends the voxels zlib-compressed: a large gain for masks (mostly zeros), a loss
        for images (noisy intensities compress little and slowly).
        """
        array = np.asarray(array)
        name = array.dtype.name
        if name not in _RAW_DTYPES:
            raise SpineradError(
                f"dtype {name} cannot be sent raw; use one of {', '.join(sorted(_RAW_DTYPES))}"
            )
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        raw = study_pb2.RawVolume(
            dtype=name,
            shape=array.shape,
            spacing=spacing,
            origin=origin,
            direction=direction,
            compression="zlib" if compress else "",
        )
        data = memoryview(array).cast("B")
        if compress:
            data = memoryview(zlib.compress(data, 1))
        spec = study_pb2.VolumeSpec(total_bytes=data.nbytes, raw=raw)
        return cls(spec, lambda chunk: _memory_chunks(data, chunk), None if compress else array)

    @classmethod
    def from_image(cls, image, compress=False):
        """A SimpleITK image, sent raw (``compress``: see :meth:`from_array`)."""
        import SimpleITK as sitk

        if image.GetNumberOfComponentsPerPixel() != 1:
            raise SpineradError("only scalar images can be sent raw")
        return cls.from_array(
            sitk.GetArrayViewFromImage(image),
            image.GetSpacing(),
            image.GetOrigin(),
            image.GetDirection(),
            compress,
        )


def _memory_chunks(data, size):
    for start in range(0, data.nbytes, size):
        yield bytes(data[start : start + size])


def _file_chunks(paths, size):
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(size):
                yield block


@dataclass
class Study:
    """One study to upload: image, mask and what to compute."""

    image: Volume
    mask: Volume
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tasks: tuple = ()
    profile: str = ""
    clinical: dict = field(default_factory=dict)
    label: int = 0
    #: DICOM modality code of the image when it has no DICOM header (NRRD, NIfTI, raw); "" = unknown.
    modality: str = ""
    #: Ask for labels even outside a model's applicability domain.
    show_label_outside_domain: bool = False
    #: DICOM masks: SEG segment number / RTSTRUCT ROI name or SEG segment label (0 / "": none)
    segment: int = 0
    roi: str = ""
    #: the completed event carries the result objects (DICOM SEG + TID 1500 SR)
    return_dicom: bool = False
    seg_threshold: float = 0.0
    series_uid: str = ""
    #: Instead of image and mask (both None): a study on one of the server's DICOMweb endpoints
    #: (``spinerad.pacs.dicomweb.Reference(endpoint, study_uid, series_uid, roi_uid)``).
    reference: object = None
    #: With a reference: the server stores the SR (+ SEG) back to the endpoint (STOW-RS).
    store_results: bool = False

    @classmethod
    def from_reference(cls, endpoint, study_uid, series_uid="", roi_uid="", store_results=False, **kwargs):
        """A study the server fetches from its DICOMweb endpoint ``endpoint`` (nothing is uploaded)."""
        from spinerad.pacs.dicomweb import Reference

        reference = Reference(endpoint, study_uid, series_uid or "", roi_uid or "")
        return cls(None, None, reference=reference, store_results=store_results, **kwargs)

    #: Send a raw mask zlib-compressed (a label map is mostly zeros: ~100x smaller, ~2 ms per MB to pack).
    compress_mask: bool = True

    def __post_init__(self):
        if self.compress_mask and self.mask is not None:  # None: a DICOMweb reference
            self.mask = self.mask.compressed()

    def header(self):
        """The ``StudyHeader`` message."""
        clinical = {}
        for name, value in self.clinical.items():
            if isinstance(value, bool):
                clinical[name] = study_pb2.ClinicalValue(flag=value)
            elif isinstance(value, numbers.Integral):
                clinical[name] = study_pb2.ClinicalValue(integer=int(value))
            elif isinstance(value, numbers.Real):
                clinical[name] = study_pb2.ClinicalValue(number=float(value))
            else:
                clinical[name] = study_pb2.ClinicalValue(text=str(value))
        header = study_pb2.StudyHeader(
            request_id=self.request_id,
            tasks=list(self.tasks),
            extraction_profile=self.profile,
            clinical=clinical,
            label=self.label,
            modality=self.modality,
            show_label_outside_domain=self.show_label_outside_domain,
            segment=self.segment,
            roi=self.roi,
            return_dicom=self.return_dicom,
            seg_threshold=self.seg_threshold,
            series_uid=self.series_uid,
            store_results=self.store_results,
        )
        if self.image is not None:
            header.image.CopyFrom(self.image.spec)
        if self.mask is not None:
            header.mask.CopyFrom(self.mask.spec)
        if self.reference is not None:
            ref = self.reference
            header.reference.CopyFrom(
                study_pb2.DicomWebReference(
                    endpoint=ref.endpoint, study_instance_uid=ref.study_uid,
                    series_instance_uid=ref.series_uid, roi_sop_instance_uid=ref.roi_uid,
                )
            )  # fmt: skip
        return header


class Verdicts:
    """The server's first answer to each study header, handed from the response stream to the uploader.

    The uploader waits for it before sending a study's chunks: a refused study (queue full, draining,
    bad header) then costs no upload at all, on either side.
    """

    def __init__(self):
        self._answers = {}
        self._lock = threading.Condition()
        self._closed = False

    def answer(self, request_id, accepted):
        """Record the first answer for ``request_id`` (later ones are ignored)."""
        with self._lock:
            self._answers.setdefault(request_id, accepted)
            self._lock.notify_all()

    def close(self):
        """The call is over: stop every wait."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def wait(self, request_id):
        """Whether the study was accepted (False when refused or the call ended first)."""
        with self._lock:
            self._lock.wait_for(lambda: request_id in self._answers or self._closed)
            return self._answers.get(request_id, False)

    def refused(self, request_id):
        """Whether the server already refused the study (or the call is over)."""
        with self._lock:
            return self._closed or self._answers.get(request_id) is False


def upload_messages(studies, chunk_bytes=DEFAULT_CHUNK_BYTES, refused=None, verdicts=None):
    """``StudyUpload`` messages of ``studies``: each header, then its image and mask chunks.

    With ``verdicts`` (a :class:`Verdicts` filled from the response stream) a study's chunks are sent only
    once the server accepted its header. A request id in ``refused`` (filled while the answers stream in)
    stops its remaining chunks.
    """
    refused = refused if refused is not None else set()
    for study in studies:
        yield study_pb2.StudyUpload(header=study.header())
        if verdicts is not None and not verdicts.wait(study.request_id):
            continue
        for part, volume in ((study_pb2.PART_IMAGE, study.image), (study_pb2.PART_MASK, study.mask)):
            if volume is None:  # a reference: nothing to upload
                continue
            offset = 0
            for data in volume.chunks(chunk_bytes):
                stop = study.request_id in refused
                if stop or (verdicts is not None and verdicts.refused(study.request_id)):
                    break
                yield study_pb2.StudyUpload(chunk=study_pb2.Chunk(part=part, offset=offset, data=data))
                offset += len(data)

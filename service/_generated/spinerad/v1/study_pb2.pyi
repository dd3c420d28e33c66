from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Part(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PART_UNSPECIFIED: _ClassVar[Part]
    PART_IMAGE: _ClassVar[Part]
    PART_MASK: _ClassVar[Part]
PART_UNSPECIFIED: Part
PART_IMAGE: Part
PART_MASK: Part

class StudyUpload(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: StudyHeader
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[StudyHeader, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class StudyHeader(_message.Message):
    __slots__ = ("request_id", "tasks", "extraction_profile", "clinical", "image", "mask", "label", "modality", "show_label_outside_domain", "segment", "roi", "return_dicom", "seg_threshold", "series_uid", "reference", "store_results")
    class ClinicalEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ClinicalValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ClinicalValue, _Mapping]] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_PROFILE_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    SHOW_LABEL_OUTSIDE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    RETURN_DICOM_FIELD_NUMBER: _ClassVar[int]
    SEG_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SERIES_UID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STORE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tasks: _containers.RepeatedScalarFieldContainer[str]
    extraction_profile: str
    clinical: _containers.MessageMap[str, ClinicalValue]
    image: VolumeSpec
    mask: VolumeSpec
    label: int
    modality: str
    show_label_outside_domain: bool
    segment: int
    roi: str
    return_dicom: bool
    seg_threshold: float
    series_uid: str
    reference: DicomWebReference
    store_results: bool
    def __init__(self, request_id: _Optional[str] = ..., tasks: _Optional[_Iterable[str]] = ..., extraction_profile: _Optional[str] = ..., clinical: _Optional[_Mapping[str, ClinicalValue]] = ..., image: _Optional[_Union[VolumeSpec, _Mapping]] = ..., mask: _Optional[_Union[VolumeSpec, _Mapping]] = ..., label: _Optional[int] = ..., modality: _Optional[str] = ..., show_label_outside_domain: _Optional[bool] = ..., segment: _Optional[int] = ..., roi: _Optional[str] = ..., return_dicom: _Optional[bool] = ..., seg_threshold: _Optional[float] = ..., series_uid: _Optional[str] = ..., reference: _Optional[_Union[DicomWebReference, _Mapping]] = ..., store_results: _Optional[bool] = ...) -> None: ...

class DicomWebReference(_message.Message):
    __slots__ = ("endpoint", "study_instance_uid", "series_instance_uid", "roi_sop_instance_uid")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STUDY_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    SERIES_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    ROI_SOP_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    study_instance_uid: str
    series_instance_uid: str
    roi_sop_instance_uid: str
    def __init__(self, endpoint: _Optional[str] = ..., study_instance_uid: _Optional[str] = ..., series_instance_uid: _Optional[str] = ..., roi_sop_instance_uid: _Optional[str] = ...) -> None: ...

class ClinicalValue(_message.Message):
    __slots__ = ("number", "text", "flag", "integer")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    number: float
    text: str
    flag: bool
    integer: int
    def __init__(self, number: _Optional[float] = ..., text: _Optional[str] = ..., flag: _Optional[bool] = ..., integer: _Optional[int] = ...) -> None: ...

class VolumeSpec(_message.Message):
    __slots__ = ("total_bytes", "raw", "file", "dicom", "dicom_seg", "rtstruct")
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    DICOM_FIELD_NUMBER: _ClassVar[int]
    DICOM_SEG_FIELD_NUMBER: _ClassVar[int]
    RTSTRUCT_FIELD_NUMBER: _ClassVar[int]
    total_bytes: int
    raw: RawVolume
    file: EncodedFile
    dicom: DicomSeries
    dicom_seg: DicomObject
    rtstruct: DicomObject
    def __init__(self, total_bytes: _Optional[int] = ..., raw: _Optional[_Union[RawVolume, _Mapping]] = ..., file: _Optional[_Union[EncodedFile, _Mapping]] = ..., dicom: _Optional[_Union[DicomSeries, _Mapping]] = ..., dicom_seg: _Optional[_Union[DicomObject, _Mapping]] = ..., rtstruct: _Optional[_Union[DicomObject, _Mapping]] = ...) -> None: ...

class DicomObject(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RawVolume(_message.Message):
    __slots__ = ("dtype", "shape", "spacing", "origin", "direction", "compression")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    SPACING_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    spacing: _containers.RepeatedScalarFieldContainer[float]
    origin: _containers.RepeatedScalarFieldContainer[float]
    direction: _containers.RepeatedScalarFieldContainer[float]
    compression: str
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., spacing: _Optional[_Iterable[float]] = ..., origin: _Optional[_Iterable[float]] = ..., direction: _Optional[_Iterable[float]] = ..., compression: _Optional[str] = ...) -> None: ...

class EncodedFile(_message.Message):
    __slots__ = ("suffix",)
    SUFFIX_FIELD_NUMBER: _ClassVar[int]
    suffix: str
    def __init__(self, suffix: _Optional[str] = ...) -> None: ...

class DicomSeries(_message.Message):
    __slots__ = ("instance_bytes",)
    INSTANCE_BYTES_FIELD_NUMBER: _ClassVar[int]
    instance_bytes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, instance_bytes: _Optional[_Iterable[int]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("part", "offset", "data")
    PART_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    part: Part
    offset: int
    data: bytes
    def __init__(self, part: _Optional[_Union[Part, str]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

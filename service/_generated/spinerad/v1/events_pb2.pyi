from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalyzeEvent(_message.Message):
    __slots__ = ("request_id", "accepted", "stage_done", "prediction", "completed", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    STAGE_DONE_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    accepted: Accepted
    stage_done: StageDone
    prediction: Prediction
    completed: Completed
    error: StudyError
    def __init__(self, request_id: _Optional[str] = ..., accepted: _Optional[_Union[Accepted, _Mapping]] = ..., stage_done: _Optional[_Union[StageDone, _Mapping]] = ..., prediction: _Optional[_Union[Prediction, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ..., error: _Optional[_Union[StudyError, _Mapping]] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("studies_ahead",)
    STUDIES_AHEAD_FIELD_NUMBER: _ClassVar[int]
    studies_ahead: int
    def __init__(self, studies_ahead: _Optional[int] = ...) -> None: ...

class StageDone(_message.Message):
    __slots__ = ("stage", "elapsed_ms", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    stage: str
    elapsed_ms: float
    features: _containers.ScalarMap[str, float]
    def __init__(self, stage: _Optional[str] = ..., elapsed_ms: _Optional[float] = ..., features: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("feature", "contribution")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    feature: str
    contribution: float
    def __init__(self, feature: _Optional[str] = ..., contribution: _Optional[float] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("task", "probability", "label", "threshold", "model_id", "model_version", "validation", "top_contributions", "trained_on", "warnings", "positive_class", "label_withheld", "interpretation", "applicability", "applicability_reasons", "domain_distance", "domain_threshold", "domain_modality", "study_modality")
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    TOP_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINED_ON_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_CLASS_FIELD_NUMBER: _ClassVar[int]
    LABEL_WITHHELD_FIELD_NUMBER: _ClassVar[int]
    INTERPRETATION_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_REASONS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_MODALITY_FIELD_NUMBER: _ClassVar[int]
    STUDY_MODALITY_FIELD_NUMBER: _ClassVar[int]
    task: str
    probability: float
    label: str
    threshold: float
    model_id: str
    model_version: str
    validation: _struct_pb2.Value
    top_contributions: _containers.RepeatedCompositeFieldContainer[Contribution]
    trained_on: _struct_pb2.Value
    warnings: _containers.RepeatedScalarFieldContainer[str]
    positive_class: str
    label_withheld: bool
    interpretation: str
    applicability: str
    applicability_reasons: _containers.RepeatedScalarFieldContainer[str]
    domain_distance: float
    domain_threshold: float
    domain_modality: str
    study_modality: str
    def __init__(self, task: _Optional[str] = ..., probability: _Optional[float] = ..., label: _Optional[str] = ..., threshold: _Optional[float] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., validation: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., top_contributions: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., trained_on: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., positive_class: _Optional[str] = ..., label_withheld: _Optional[bool] = ..., interpretation: _Optional[str] = ..., applicability: _Optional[str] = ..., applicability_reasons: _Optional[_Iterable[str]] = ..., domain_distance: _Optional[float] = ..., domain_threshold: _Optional[float] = ..., domain_modality: _Optional[str] = ..., study_modality: _Optional[str] = ...) -> None: ...

class Completed(_message.Message):
    __slots__ = ("stage_ms", "dicom_objects", "stored_sop_instance_uids")
    class StageMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STAGE_MS_FIELD_NUMBER: _ClassVar[int]
    DICOM_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    STORED_SOP_INSTANCE_UIDS_FIELD_NUMBER: _ClassVar[int]
    stage_ms: _containers.ScalarMap[str, float]
    dicom_objects: _containers.RepeatedCompositeFieldContainer[ResultObject]
    stored_sop_instance_uids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, stage_ms: _Optional[_Mapping[str, float]] = ..., dicom_objects: _Optional[_Iterable[_Union[ResultObject, _Mapping]]] = ..., stored_sop_instance_uids: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultObject(_message.Message):
    __slots__ = ("name", "sop_class_uid", "sop_instance_uid", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOP_CLASS_UID_FIELD_NUMBER: _ClassVar[int]
    SOP_INSTANCE_UID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    sop_class_uid: str
    sop_instance_uid: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., sop_class_uid: _Optional[str] = ..., sop_instance_uid: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class StudyError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FeaturesResponse(_message.Message):
    __slots__ = ("request_id", "features", "stage_ms", "settings_hash")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class StageMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    STAGE_MS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_HASH_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    features: _containers.ScalarMap[str, float]
    stage_ms: _containers.ScalarMap[str, float]
    settings_hash: str
    def __init__(self, request_id: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ..., stage_ms: _Optional[_Mapping[str, float]] = ..., settings_hash: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("task", "model_id", "model_version")
    TASK_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    task: str
    model_id: str
    model_version: str
    def __init__(self, task: _Optional[str] = ..., model_id: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "extraction_profiles", "settings_hash")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_PROFILES_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_HASH_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    extraction_profiles: _containers.RepeatedScalarFieldContainer[str]
    settings_hash: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., extraction_profiles: _Optional[_Iterable[str]] = ..., settings_hash: _Optional[str] = ...) -> None: ...

class GetModelCardRequest(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: str
    def __init__(self, task: _Optional[str] = ...) -> None: ...

class ModelCard(_message.Message):
    __slots__ = ("task", "card")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    task: str
    card: _struct_pb2.Struct
    def __init__(self, task: _Optional[str] = ..., card: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

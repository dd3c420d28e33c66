from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MapGrid(_message.Message):
    __slots__ = ("size", "spacing", "origin", "direction")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SPACING_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    size: _containers.RepeatedScalarFieldContainer[int]
    spacing: _containers.RepeatedScalarFieldContainer[float]
    origin: _containers.RepeatedScalarFieldContainer[float]
    direction: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, size: _Optional[_Iterable[int]] = ..., spacing: _Optional[_Iterable[float]] = ..., origin: _Optional[_Iterable[float]] = ..., direction: _Optional[_Iterable[float]] = ...) -> None: ...

class FeatureMapChunk(_message.Message):
    __slots__ = ("request_id", "feature", "grid", "offset", "total_bytes", "data")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    feature: str
    grid: MapGrid
    offset: int
    total_bytes: int
    data: bytes
    def __init__(self, request_id: _Optional[str] = ..., feature: _Optional[str] = ..., grid: _Optional[_Union[MapGrid, _Mapping]] = ..., offset: _Optional[int] = ..., total_bytes: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

from spinerad.v1 import events_pb2 as _events_pb2
from spinerad.v1 import maps_pb2 as _maps_pb2
from spinerad.v1 import study_pb2 as _study_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

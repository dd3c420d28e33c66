"""The checked-in generated code is what protoc makes of protos/ now (CI regenerates and diffs)."""

from spinerad.service import codegen
from tests.conftest import require_module


def test_generated_code_is_up_to_date():
    require_module("grpc_tools")  # under CI: fails without it, never skips
    problems = codegen.check()
    assert not problems, "\n".join(problems) + "\nrun: python -m spinerad.service.codegen"


def test_generated_modules_import_by_package_name():
    # protoc -I protos lines the imports up with the installed package: no sys.path tricks needed
    from spinerad.v1 import events_pb2, service_pb2, service_pb2_grpc, study_pb2

    assert service_pb2.DESCRIPTOR.package == "spinerad.v1"
    assert service_pb2_grpc.InferenceServiceStub
    assert study_pb2.StudyUpload.DESCRIPTOR.full_name == "spinerad.v1.StudyUpload"
    assert events_pb2.AnalyzeEvent.DESCRIPTOR.full_name == "spinerad.v1.AnalyzeEvent"

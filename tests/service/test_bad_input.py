"""Bad input gets INVALID_ARGUMENT with a message naming the problem, and the server keeps serving."""

import numpy as np
import pytest

from spinerad.service.client import ServiceError, Study, Volume, upload_messages
from spinerad.v1 import service_pb2_grpc, study_pb2

from .conftest import WAIT, assert_serving, sample_arrays, sample_study, write_dicom_series

pytestmark = pytest.mark.usefixtures("serving_after")


@pytest.fixture(scope="module")
def serving_after(server):
    """After this module's bad requests, the shared server still serves."""
    yield
    assert_serving(server)


def call(server, messages, rpc="Analyze"):
    """Send raw ``StudyUpload`` messages; return (events or response, status code name, details)."""
    import grpc

    stub = service_pb2_grpc.InferenceServiceStub(server.client().channel)
    try:
        if rpc == "Analyze":
            return list(stub.Analyze(iter(messages), timeout=WAIT)), "OK", ""
        return stub.ExtractFeatures(iter(messages), timeout=WAIT), "OK", ""
    except grpc.RpcError as error:
        return None, error.code().name, error.details()


def header(study):
    return study_pb2.StudyUpload(header=study.header())


def chunk(part, offset, data):
    return study_pb2.StudyUpload(chunk=study_pb2.Chunk(part=part, offset=offset, data=data))


IMAGE, MASK = study_pb2.PART_IMAGE, study_pb2.PART_MASK


def tiny_study(**kwargs):
    """A 2 x 4 x 4 raw study: 64 image bytes (int16), 32 mask bytes (uint8)."""
    image = np.arange(32, dtype=np.int16).reshape(2, 4, 4)
    mask = np.zeros((2, 4, 4), dtype=np.uint8)
    mask[:, 1:3, 1:3] = 1
    return Study(Volume.from_array(image), Volume.from_array(mask), request_id="tiny", **kwargs), image, mask


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (lambda s, i, m: [chunk(IMAGE, 0, i.tobytes())], "chunk before any study header"),
        (
            lambda s, i, m: [header(s), chunk(IMAGE, 8, i.tobytes()[8:])],
            "image chunk out of order: offset 8, but 0",
        ),
        (
            lambda s, i, m: [header(s), chunk(IMAGE, 0, i.tobytes() + b"xx")],
            "goes beyond the declared total_bytes 64",
        ),
        (
            lambda s, i, m: [header(s), chunk(IMAGE, 0, i.tobytes())],
            "the stream ended before the study's image",
        ),
        (lambda s, i, m: [header(s), study_pb2.StudyUpload()], "empty StudyUpload message"),
        (lambda s, i, m: [header(s), chunk(0, 0, b"x")], "chunk without a part"),
        (lambda s, i, m: [header(s), header(s)], "a new study header arrived before the previous study"),
    ],
    ids=[
        "missing-header",
        "out-of-order",
        "beyond-declared",
        "ended-early",
        "empty-message",
        "no-part",
        "header-mid-study",
    ],
)
@pytest.mark.parametrize("rpc", ["Analyze", "ExtractFeatures"])
def test_malformed_streams(server, messages, message, rpc):
    study, image, mask = tiny_study()
    _out, code, details = call(server, messages(study, image, mask), rpc)
    assert code == "INVALID_ARGUMENT"
    assert message in details


def study_with(image, mask, spacing=(1.0, 1.0, 1.0), mask_spacing=None, request_id="case", **kwargs):
    return Study(
        Volume.from_array(image, spacing),
        Volume.from_array(mask, mask_spacing or spacing),
        request_id=request_id,
        **kwargs,
    )


def _image_mask():
    image, mask, _spacing, _origin = sample_arrays()
    return image, mask


def _nan_image():
    image, mask = _image_mask()
    image = image.astype(np.float32)
    image[8, 48, 48] = np.nan
    return study_with(image, mask)


def _single_voxel():
    image, mask = _image_mask()
    mask = np.zeros_like(mask)
    mask[8, 48, 48] = 1
    return study_with(image, mask)


def _raw_header(dtype="int16", shape=(2, 4, 4), total=64):
    study, _i, _m = tiny_study()
    study.image.spec.total_bytes = total
    study.image.spec.raw.dtype = dtype
    del study.image.spec.raw.shape[:]
    study.image.spec.raw.shape.extend(shape)
    return study


def _corrupt_file():
    image, mask = _image_mask()
    nrrd = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 96 96 16\nencoding: gzip\n\n" + b"\x00garbage" * 100
    return Study(Volume.from_bytes(nrrd, ".nrrd"), Volume.from_array(mask), request_id="case")


def _dicom(tmp_path, mixed):
    image, mask = _image_mask()
    if mixed:
        paths = (
            write_dicom_series(tmp_path / "a", image)[:8]
            + write_dicom_series(tmp_path / "b", image, series_uid="1.2.3.4")[8:]
        )
    else:
        paths = write_dicom_series(tmp_path / "gap", image, skip=(7,))
    return Study(Volume.from_dicom_files(paths), Volume.from_array(mask), request_id="case")


CASES = {
    "unknown-dtype": (lambda tmp: _raw_header(dtype="complex64"), "image: unknown dtype 'complex64'"),
    "shape-x-dtype-vs-bytes": (
        lambda tmp: _raw_header(total=62),
        "x int16 is 64 bytes but total_bytes declares 62",
    ),
    "geometry": (
        lambda tmp: study_with(*_image_mask(), mask_spacing=(1.0, 1.0, 2.0)),
        "mask spacing (1.0, 1.0, 2.0) differs from image spacing (1.0, 1.0, 1.0)",
    ),
    "label-absent": (lambda tmp: study_with(*_image_mask(), label=3), "label 3 is not present in the mask"),
    "roi-too-small": (lambda tmp: _single_voxel(), "is a single voxel"),
    "nan-voxels": (lambda tmp: _nan_image(), "image has 1 NaN or infinite voxel value(s)"),
    "corrupt-file": (lambda tmp: _corrupt_file(), "image: cannot decode the NRRD bytes"),
    "dicom-mixed-series": (lambda tmp: _dicom(tmp, True), "mixed SeriesInstanceUID"),
    "dicom-missing-slices": (
        lambda tmp: _dicom(tmp, False),
        "the series has a gap: 6.000 mm between slice 7",
    ),
    "unknown-task": (
        lambda tmp: study_with(*_image_mask(), tasks=("egfr", "ki67_high")),
        "unknown task 'egfr'",
    ),
    "unknown-profile": (
        lambda tmp: study_with(*_image_mask(), profile="fast"),
        "unknown extraction profile 'fast'",
    ),
    "no-request-id": (lambda tmp: study_with(*_image_mask(), request_id=""), "request_id must be 1 to 128"),
    "too-large": (
        lambda tmp: _raw_header(shape=(4096, 4096, 4096), total=2 * 4096**3),
        "this server accepts at most",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_studies_fail_alone_with_a_precise_message(server, client, tmp_path, case):
    make, message = CASES[case]
    study = make(tmp_path)
    events = list(client.analyze([study, sample_study("next-one")], timeout=WAIT))
    errors = [e for e in events if e.WhichOneof("kind") == "error"]
    assert len(errors) == 1 and errors[0].request_id == study.request_id
    assert errors[0].error.code == "INVALID_ARGUMENT"
    assert message in errors[0].error.message
    # studies of one stream run side by side: the next one completes whatever the bad one does
    assert [e.WhichOneof("kind") for e in events if e.request_id == "next-one"][-1] == "completed"


@pytest.mark.parametrize("case", ["nan-voxels", "geometry", "corrupt-file", "unknown-dtype"])
def test_extract_features_answers_invalid_argument(client, tmp_path, case):
    make, message = CASES[case]
    with pytest.raises(ServiceError) as info:
        client.extract_features(make(tmp_path), timeout=WAIT)
    assert info.value.code == "INVALID_ARGUMENT" and message in info.value.details


def test_refused_study_stops_uploading(server):
    """The client stops sending a refused study's chunks; the server discards any that were in flight."""
    study = sample_study("refused", tasks=("nope",))
    sent = list(upload_messages([study], chunk_bytes=1024, refused={"refused"}))
    assert len(sent) == 1 and sent[0].WhichOneof("kind") == "header"
    events, code, _ = call(server, list(upload_messages([study, sample_study("after")], chunk_bytes=4096)))
    assert code == "OK"
    assert [e.WhichOneof("kind") for e in events][0] == "error" and events[-1].WhichOneof(
        "kind"
    ) == "completed"

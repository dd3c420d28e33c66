"""Fuzzing every request field and truncated/garbled payloads: the server answers precisely and keeps serving.

After every case the server still answers health SERVING and a valid study still succeeds; no case may
end in anything but success or INVALID_ARGUMENT (never INTERNAL, never a hang, never a dead server).
"""

import zlib

import grpc
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinerad.errors import InvalidInput
from spinerad.models.tasks import TASKS as _TASK_TABLE
from spinerad.service import convert
from spinerad.service.client import Study, Volume, upload_messages
from spinerad.service.decode import DTYPES, DicomEncoding, VolumeSpec, check_spec, decode_volume
from spinerad.v1 import service_pb2_grpc, study_pb2

from .conftest import WAIT, assert_serving, write_dicom_series

IMAGE = (np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8) * 37 % 301).astype(np.int16)
MASK = np.zeros(IMAGE.shape, dtype=np.uint8)
MASK[1:3, 2:6, 2:6] = 1
CALL_TIMEOUT = 30
TASKS = list(_TASK_TABLE)

floats = st.floats(allow_nan=True, allow_infinity=True)
short_text = st.text(max_size=12)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """Valid bytes of the tiny image in every file format, and as a 4-slice DICOM series."""
    folder = tmp_path_factory.mktemp("fuzz")
    files = {}
    image = sitk.GetImageFromArray(IMAGE)
    for suffix in (".nrrd", ".nii", ".nii.gz", ".mha"):
        path = folder / f"image{suffix}"
        sitk.WriteImage(image, str(path), suffix != ".nii")
        files[suffix] = path.read_bytes()
    dicom = [p.read_bytes() for p in write_dicom_series(folder / "dicom", IMAGE, spacing=(1.0, 1.0, 1.0))]
    return files, dicom


#: What one case may break; each case breaks at most two of these and keeps the rest valid, so that the
#: decoder, the pipeline and the models are reached, not only the header checks.
FIELDS = (
    "request_id",
    "tasks",
    "profile",
    "clinical",
    "label",
    "total_bytes",
    "dtype",
    "shape",
    "spacing",
    "origin",
    "direction",
    "compression",
    "suffix",
    "instance_bytes",
    "encoding",
    "image_bytes",
    "mask_bytes",
    "chunk",
    "extra_message",
    "modality",
)


class Case:
    """Draws one request: valid values except for the fields in ``self.broken``."""

    def __init__(self, data):
        self.data = data
        # garbled payloads weigh more: they reach the decoders, where the surprises are
        self.broken = data.draw(
            st.sets(st.sampled_from(FIELDS + ("image_bytes",) * 6 + ("mask_bytes",) * 2), max_size=2)
        )

    def value(self, field, valid, strategy):
        """``valid``, or a drawn value when ``field`` is broken in this case."""
        return self.data.draw(strategy) if field in self.broken else valid

    def draw(self, strategy):
        """Draw from ``strategy`` (a choice that is not a broken field)."""
        return self.data.draw(strategy)


def _raw_volume(case, array):
    compression = case.draw(st.sampled_from(["", "zlib"]))
    payload = zlib.compress(array.tobytes(), 1) if compression else array.tobytes()
    spec = study_pb2.VolumeSpec(
        total_bytes=case.value("total_bytes", len(payload), st.integers(0, 2**64 - 1)),
        raw=study_pb2.RawVolume(
            dtype=case.value("dtype", array.dtype.name, st.one_of(st.sampled_from(list(DTYPES)), short_text)),
            shape=case.value("shape", list(array.shape), st.lists(st.integers(0, 2**40), max_size=5)),
            spacing=case.value("spacing", [1.0, 1.0, 1.0], st.lists(floats, max_size=4)),
            origin=case.value("origin", [], st.lists(floats, max_size=4)),
            direction=case.value("direction", [], st.lists(floats, max_size=10)),
            compression=case.value(
                "compression", compression, st.one_of(st.sampled_from(["", "zlib"]), short_text)
            ),
        ),
    )
    return spec, payload


def _file_volume(case, files):
    suffix = case.draw(st.sampled_from(sorted(files)))
    payload = files[suffix]
    spec = study_pb2.VolumeSpec(
        total_bytes=case.value("total_bytes", len(payload), st.integers(0, 2**40)),
        file=study_pb2.EncodedFile(
            suffix=case.value(
                "suffix",
                case.draw(st.sampled_from([suffix, ""])),
                st.one_of(st.sampled_from(sorted(files)), short_text),
            )
        ),
    )
    return spec, payload


def _dicom_volume(case, instances):
    sizes = [len(i) for i in instances]
    order = case.draw(st.permutations(range(len(instances))))
    spec = study_pb2.VolumeSpec(
        total_bytes=case.value("total_bytes", sum(sizes), st.integers(0, 2**40)),
        dicom=study_pb2.DicomSeries(
            instance_bytes=case.value(
                "instance_bytes", [sizes[i] for i in order], st.lists(st.integers(0, 2**20), max_size=6)
            )
        ),
    )
    return spec, b"".join(instances[i] for i in order)


def _garble(case, field, payload):
    """The payload as is, or (when ``field`` is broken) truncated, extended, bit-flipped or random."""
    if field not in case.broken:
        return payload
    mode = case.draw(st.sampled_from(["truncate", "extend", "flip", "random"]))
    if mode == "truncate":
        return payload[: case.draw(st.integers(0, max(len(payload) - 1, 0)))]
    if mode == "extend":
        return payload + case.draw(st.binary(min_size=1, max_size=64))
    if mode == "flip" and payload:
        garbled = bytearray(payload)
        for position in case.draw(st.lists(st.integers(0, len(payload) - 1), min_size=1, max_size=16)):
            garbled[position] ^= case.draw(st.integers(1, 255))
        return bytes(garbled)
    return case.draw(st.binary(max_size=2048))


def _volume(case, array, encoded, what):
    files, dicom = encoded
    kinds = ["raw", "file", "dicom"] if what == "image" else ["raw"]
    kind = case.value(
        "encoding", case.draw(st.sampled_from(kinds)), st.sampled_from(["raw", "file", "dicom", "none"])
    )
    if kind == "raw":
        spec, payload = _raw_volume(case, array)
    elif kind == "file":
        spec, payload = _file_volume(case, files)
    elif kind == "dicom":
        spec, payload = _dicom_volume(case, dicom)
    else:
        spec, payload = study_pb2.VolumeSpec(total_bytes=case.draw(st.integers(0, 4096))), array.tobytes()
    return spec, _garble(case, f"{what}_bytes", payload)


def _chunks(case, part, payload):
    size = case.draw(st.integers(1, 4096))
    out = [
        study_pb2.Chunk(part=part, offset=o, data=payload[o : o + size]) for o in range(0, len(payload), size)
    ]
    if out and "chunk" in case.broken and case.draw(st.booleans()):
        victim = out[case.draw(st.integers(0, len(out) - 1))]
        field = case.draw(st.sampled_from(["offset", "part", "drop", "empty"]))
        if field == "offset":
            victim.offset = case.draw(st.integers(0, 2**64 - 1))
        elif field == "part":
            victim.part = case.draw(st.integers(0, 3))
        elif field == "empty":
            victim.data = b""
        else:
            out.remove(victim)
    return out


def _messages(case, encoded):
    image_spec, image_bytes = _volume(case, IMAGE, encoded, "image")
    mask_spec, mask_bytes = _volume(case, MASK, encoded, "mask")
    header = study_pb2.StudyHeader(
        request_id=case.value("request_id", "fuzz", st.text(max_size=150)),
        tasks=case.value(
            "tasks", ["ki67_high"], st.lists(st.one_of(st.sampled_from(TASKS), short_text), max_size=4)
        ),
        extraction_profile=case.value(
            "profile", "", st.one_of(st.sampled_from(["model", "pyradiomics"]), short_text)
        ),
        label=case.value("label", 0, st.integers(0, 2**32 - 1)),
        modality=case.value("modality", "MR", st.one_of(st.sampled_from(["", "CT", "mr"]), short_text)),
        show_label_outside_domain=case.draw(st.booleans()),
        image=image_spec,
        mask=mask_spec,
    )
    clinical = case.value(
        "clinical",
        {"age": 61.0},
        st.dictionaries(
            st.text(max_size=70),
            st.one_of(st.none(), floats, st.text(max_size=300), st.booleans(), st.integers()),
            max_size=3,
        ),
    )
    for name, value in clinical.items():
        slot = header.clinical[name]
        if isinstance(value, bool):
            slot.flag = value
        elif isinstance(value, int):
            slot.integer = max(-(2**63), min(value, 2**63 - 1))
        elif isinstance(value, float):
            slot.number = value
        elif isinstance(value, str):
            slot.text = value
    chunks = _chunks(case, study_pb2.PART_IMAGE, image_bytes) + _chunks(case, study_pb2.PART_MASK, mask_bytes)
    if case.draw(st.booleans()):  # image and mask chunks interleaved, each part still in order
        shuffled = case.draw(st.permutations(chunks))
        image_chunks = iter([c for c in chunks if c.part == study_pb2.PART_IMAGE])
        mask_chunks = iter([c for c in chunks if c.part != study_pb2.PART_IMAGE])
        chunks = [
            next(image_chunks) if c.part == study_pb2.PART_IMAGE else next(mask_chunks) for c in shuffled
        ]
    messages = [study_pb2.StudyUpload(header=header)] + [study_pb2.StudyUpload(chunk=c) for c in chunks]
    if "extra_message" in case.broken:
        extra = case.draw(st.sampled_from([study_pb2.StudyUpload(), study_pb2.StudyUpload(header=header)]))
        messages.insert(case.draw(st.integers(0, len(messages))), extra)
    return messages


def _outcome(stub, rpc, messages):
    """Status name and details of each answer: the call's own, and each study error event."""
    try:
        if rpc == "Analyze":
            events = list(stub.Analyze(iter(messages), timeout=CALL_TIMEOUT))
            return [("OK", "")] + [
                (e.error.code, e.error.message) for e in events if e.WhichOneof("kind") == "error"
            ]
        stub.ExtractFeatures(iter(messages), timeout=CALL_TIMEOUT)
        return [("OK", "")]
    except grpc.RpcError as error:
        return [(error.code().name, error.details())]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_fuzzed_requests_get_precise_answers_and_the_server_survives(server, encoded, data):
    rpc = data.draw(st.sampled_from(["Analyze", "Analyze", "ExtractFeatures"]))
    messages = _messages(Case(data), encoded)
    stub = service_pb2_grpc.InferenceServiceStub(server.client().channel)
    for code, details in _outcome(stub, rpc, messages):
        assert code in ("OK", "INVALID_ARGUMENT"), (code, details)
        assert code == "OK" or details, "an error without a message"
    assert_serving(server)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_garbled_files_and_series_decode_or_fail_as_invalid_input(encoded, data):
    """Straight at the decoders (no server): garbled bytes of every format decode or raise InvalidInput."""
    case = Case(data)
    case.broken = {"image_bytes"}
    spec, payload = _volume(case, IMAGE, encoded, "image")
    volume = convert.volume_spec(spec)
    volume = VolumeSpec(len(payload), volume.encoding)
    if isinstance(volume.encoding, DicomEncoding) and sum(volume.encoding.instance_bytes) != len(payload):
        volume = VolumeSpec(
            len(payload), DicomEncoding(_split(data, len(payload), len(volume.encoding.instance_bytes)))
        )
    try:
        check_spec(volume, "image")
        image = decode_volume(volume, memoryview(payload), "image")
    except InvalidInput as exc:
        assert str(exc)
    else:
        assert image.GetNumberOfPixels() > 0


def _split(data, total, parts):
    """``parts`` positive sizes summing to ``total`` (or one size when that is impossible)."""
    if total < parts or parts < 2:
        return (total,) if total else (1,)
    cuts = sorted(data.draw(st.sets(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1)))
    return tuple(b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True))


def test_a_valid_tiny_study_succeeds(server):
    study = Study(
        Volume.from_array(IMAGE, (1.0, 1.0, 1.0)),
        Volume.from_array(MASK, (1.0, 1.0, 1.0)),
        tasks=("ki67_high",),
    )
    result = server.client().analyze_study(study, timeout=WAIT)
    assert result["features"] and len(result["predictions"]) == 1
    assert len(list(upload_messages([study], chunk_bytes=100))) > 5

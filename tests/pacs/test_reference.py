"""gRPC reference mode against a real Orthanc: the server fetches with WADO-RS and stores back with STOW-RS."""

import json
import math

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from spinerad.cli import main
from spinerad.dicom.results import feature_key, read_sr_values
from spinerad.models.registry import load_models
from spinerad.pacs.dicomweb import Endpoints
from spinerad.service.client import ServiceError, Study

from ..service.conftest import InThreadServer
from .test_node import SR_CLASS, _json_path, _results


@pytest.fixture(scope="module")
def registry():
    return load_models(None)


@pytest.fixture(scope="module")
def server(orthanc, registry):
    """A gRPC server with the Orthanc as its one configured DICOMweb endpoint, ``pacs``."""
    running = InThreadServer(registry=registry, dicomweb=Endpoints.parse([f"pacs={orthanc.dicomweb_url}"]))
    running.loading.result(600)  # warming compiles every kernel once; slow on a loaded machine
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stored_study(orthanc, breast1, tmp_path_factory):
    """A breast1 study (series + SEG) held by the Orthanc."""
    from .build import write_study

    image, mask = breast1
    study = write_study(tmp_path_factory.mktemp("ref"), image, mask, patient_id="TEST-0002")
    orthanc.upload(study["paths"])
    return study


def _events(client, study):
    return list(client.analyze([study], timeout=600))


def test_reference_fetches_analyses_and_stores_back(server, orthanc, stored_study, registry):
    client = server.client()
    study = Study.from_reference("pacs", stored_study["study_uid"], store_results=True, request_id="ref-1")
    result = client.analyze_study(study, timeout=600)
    features, probabilities, _loaded = _json_path(stored_study, registry)
    assert result["features"].keys() == features.keys()
    for name, value in features.items():
        got = result["features"][name]
        assert (math.isnan(value) and math.isnan(got)) or got == value, name
    assert {p["task"]: p["probability"] for p in result["predictions"]} == probabilities
    assert {"fetch", "decode", "store"} <= result["stage_ms"].keys()
    (sr_uid,) = result["stored"]
    found = [i for i in _results(orthanc, stored_study["study_uid"]) if i["00080016"]["Value"][0] == SR_CLASS]
    assert [i["00080018"]["Value"][0] for i in found] == [sr_uid]
    sr = DICOMwebClient(orthanc.dicomweb_url).retrieve_instance(
        stored_study["study_uid"], found[0]["0020000E"]["Value"][0], sr_uid
    )
    values, sr_probabilities = read_sr_values(sr)
    for name, value in features.items():
        got = values[feature_key(name, "MR")]
        assert (math.isnan(value) and math.isnan(got)) or got == pytest.approx(value, rel=1e-12, abs=1e-12), (
            name
        )
    assert sr_probabilities == pytest.approx(probabilities, rel=1e-12)


def test_reference_with_series_and_seg_uids_extracts_features(server, stored_study, registry):
    client = server.client()
    study = Study.from_reference(
        "pacs",
        stored_study["study_uid"],
        stored_study["series_uid"],
        stored_study["seg_uid"],
        request_id="ref-2",
    )
    result = client.extract_features(study, timeout=600)
    features, _p, _loaded = _json_path(stored_study, registry)
    assert result["features"].keys() == features.keys()
    assert all(
        (math.isnan(v) and math.isnan(result["features"][k])) or result["features"][k] == v
        for k, v in features.items()
    )


@pytest.mark.parametrize(
    "which",
    ["study", "series", "seg"],
)
def test_missing_reference_is_not_found_naming_it(server, stored_study, which):
    missing = generate_uid()
    uids = {
        "study": (missing, "", ""),
        "series": (stored_study["study_uid"], missing, ""),
        "seg": (stored_study["study_uid"], stored_study["series_uid"], missing),
    }[which]
    client = server.client()
    (accepted, error) = _events(client, Study.from_reference("pacs", *uids, request_id=f"missing-{which}"))
    assert accepted.WhichOneof("kind") == "accepted"
    assert error.error.code == "NOT_FOUND"
    word = {"study": "study", "series": "series", "seg": "SEG/RTSTRUCT instance"}[which]
    assert error.error.message.startswith(f"{word} {missing} not found")
    assert "at DICOMweb endpoint pacs" in error.error.message


def test_unconfigured_endpoint_is_invalid_argument(server, stored_study):
    client = server.client()
    (error,) = _events(client, Study.from_reference("http://evil.example/", stored_study["study_uid"]))
    assert error.error.code == "INVALID_ARGUMENT"
    assert "is not configured on this server (configured: pacs)" in error.error.message
    with pytest.raises(ServiceError) as caught:
        client.extract_features(Study.from_reference("elsewhere", stored_study["study_uid"]))
    assert caught.value.code == "INVALID_ARGUMENT"


def test_cli_analyze_by_reference(server, stored_study, capsys):
    code = main(["analyze", "--server", server.target, "--dicomweb", "pacs", "--study", stored_study["study_uid"],
                 "--tasks", "ki67_high", "--request-id", "cli-ref"])  # fmt: skip
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [e["event"] for e in out] == ["accepted", "stage_done", "stage_done", "prediction", "completed"]
    assert out[3]["task"] == "ki67_high"
    code = main(["analyze", "--server", server.target, "--dicomweb", "nowhere", "--study", "1.2.3"])
    assert code == 2
    assert "INVALID_ARGUMENT: DICOMweb endpoint 'nowhere' is not configured" in capsys.readouterr().err
    code = main(["analyze", "--server", server.target, "--dicomweb", "pacs", "--study", "1.2.3.999"])
    assert code == 4
    assert "NOT_FOUND: study 1.2.3.999 not found at DICOMweb endpoint pacs" in capsys.readouterr().err

"""End to end on loopback: the real server, the real client, a PyRadiomics case streamed in small chunks."""

import json
import math
import threading

import grpc
import pytest
import SimpleITK as sitk
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from spinerad.cli import main
from spinerad.models.registry import DEMO_DIR
from spinerad.models.tasks import TASKS
from spinerad.pipeline import extract
from spinerad.sample import make_sample_study
from spinerad.service.client import Client, Study, Volume, event_to_dict

from .conftest import WAIT, InThreadServer, sample_study, write_dicom_series


def same_features(ours, theirs):
    assert set(ours) == set(theirs)
    for name, value in ours.items():
        assert value == theirs[name] or (math.isnan(value) and math.isnan(theirs[name])), name


def spinerad_extract(capsys, image, mask, *options):
    """Features as ``spinerad extract IMAGE MASK [options]`` prints them."""
    capsys.readouterr()
    assert main(["extract", str(image), str(mask), *options]) == 0
    return json.loads(capsys.readouterr().out)


#: The shipped models' extraction parameters, as the file ``spinerad extract --params`` reads.
MODEL_PARAMS = str(DEMO_DIR / "extraction.yaml")


def test_study_in_small_chunks_matches_spinerad_extract(server, client, brain1, capsys):
    image, mask = brain1
    study = Study(Volume.from_path(image), Volume.from_path(mask), request_id="brain1-e2e")
    assert study.image.spec.total_bytes > 20 * 16384  # really many chunks
    events = list(client.analyze([study], chunk_bytes=16384, timeout=WAIT))
    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds[0] == "accepted" and kinds[-1] == "completed", kinds
    assert all(e.request_id == "brain1-e2e" for e in events)
    stages = [e.stage_done.stage for e in events if e.WhichOneof("kind") == "stage_done"]
    assert stages == ["decoded", "features"]
    features = next(dict(e.stage_done.features) for e in events if e.stage_done.stage == "features")
    same_features(features, spinerad_extract(capsys, image, mask, "--params", MODEL_PARAMS))
    predictions = [e.prediction for e in events if e.WhichOneof("kind") == "prediction"]
    assert (
        [p.task for p in predictions] == list(TASKS) == server.registry.tasks
    )  # one per task, all by default
    assert all(0.0 <= p.probability <= 1.0 and p.model_id for p in predictions)
    timings = dict(events[-1].completed.stage_ms)
    assert {"decode", "validate", "glcm", "glrlm", "total"} <= set(timings)
    assert {f"inference:{t}" for t in TASKS} <= set(timings)
    card = server.registry.card("ki67_high")
    (ki67,) = [p for p in predictions if p.task == "ki67_high"]
    assert (ki67.model_id, ki67.model_version) == (card["model_id"], str(card["model_version"]))
    assert ki67.top_contributions and ki67.positive_class == card["positive_class"]
    assert ki67.warnings[0] == f"ki67_high: {card['warning']}"  # the simulated-cohort notice first
    # brain1 is a brain MR, not a simulated vertebra: outside the domain, its label withheld
    if ki67.applicability == "outside":
        assert ki67.label_withheld and ki67.label == "" and ki67.applicability_reasons
    else:
        assert ki67.label.endswith(f"threshold for {card['positive_class']}")


def test_predictions_stream_before_completion_one_per_requested_task(client):
    tasks = ("ki67_high", "her2_positive")
    events = [event_to_dict(e) for e in client.analyze([sample_study("two", tasks=tasks)], timeout=WAIT)]
    assert [e["event"] for e in events] == [
        "accepted",
        "stage_done",
        "stage_done",
        "prediction",
        "prediction",
        "completed",
    ]
    assert [e["task"] for e in events if e["event"] == "prediction"] == list(tasks)


def test_one_stream_carries_many_studies(client):
    studies = [sample_study(f"study-{i}", tasks=("egfr_mutation",)) for i in range(4)]
    events = list(client.analyze(studies, chunk_bytes=1 << 16, timeout=WAIT))
    completed = [e.request_id for e in events if e.WhichOneof("kind") == "completed"]
    assert sorted(completed) == [f"study-{i}" for i in range(4)]
    for rid in completed:
        mine = [e.WhichOneof("kind") for e in events if e.request_id == rid]
        assert mine == ["accepted", "stage_done", "stage_done", "prediction", "completed"]


def test_a_failed_study_does_not_end_the_stream(client):
    bad = sample_study("bad", tasks=("no_such_task",))
    events = list(client.analyze([bad, sample_study("good", tasks=("ki67_high",))], timeout=WAIT))
    by_id = {}
    for e in events:
        by_id.setdefault(e.request_id, []).append(e)
    (error,) = by_id["bad"]
    assert error.error.code == "INVALID_ARGUMENT" and "unknown task 'no_such_task'" in error.error.message
    assert by_id["good"][-1].WhichOneof("kind") == "completed"


def test_extract_features_list_models_and_cards(server, client, brain1, capsys):
    image, mask = brain1
    study = Study(
        Volume.from_path(image), Volume.from_path(mask), request_id="features-only", profile="pyradiomics"
    )
    result = client.extract_features(study, chunk_bytes=65536, timeout=WAIT)
    same_features(result["features"], spinerad_extract(capsys, image, mask))
    model_profile = client.extract_features(
        Study(Volume.from_path(image), Volume.from_path(mask)), timeout=WAIT
    )
    same_features(model_profile["features"], spinerad_extract(capsys, image, mask, "--params", MODEL_PARAMS))
    assert model_profile["settings_hash"] == server.registry.extraction_params.settings_hash()
    models = client.list_models()
    assert [m["task"] for m in models["models"]] == server.registry.tasks
    assert set(models["extraction_profiles"]) == {"model", "pyradiomics"}
    assert models["settings_hash"] == model_profile["settings_hash"]
    card = client.model_card("egfr_mutation")
    shipped = server.registry.card("egfr_mutation")
    assert (
        card["model_id"] == shipped["model_id"]
        and card["validation_summary"] == shipped["validation_summary"]
    )
    with pytest.raises(Exception, match="INVALID_ARGUMENT: unknown task 'nope'"):
        client.model_card("nope")


def test_dicom_series_upload(server, client, tmp_path):
    image, mask = make_sample_study(0)
    paths = write_dicom_series(tmp_path / "series", sitk.GetArrayFromImage(image))
    reference = sitk.ImageSeriesReader()
    reference.SetFileNames(reference.GetGDCMSeriesFileNames(str(tmp_path / "series")))
    series_image = reference.Execute()
    mask.CopyInformation(series_image)
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    study = Study(
        Volume.from_path(tmp_path / "series"), Volume.from_path(tmp_path / "mask.nrrd"), request_id="dcm"
    )
    assert len(study.image.spec.dicom.instance_bytes) == len(paths)
    result = client.analyze_study(study, chunk_bytes=50000, timeout=WAIT)
    same_features(result["features"], extract(series_image, mask, params=server.registry.extraction_params))


def test_metrics_histograms_move(server, client):
    before = {
        "rpc": server.sample("spinerad_rpc_duration_seconds_count", rpc="Analyze", code="OK"),
        "study": server.sample("spinerad_study_duration_seconds_count", rpc="Analyze", code="OK"),
        "glcm": server.sample("spinerad_stage_duration_seconds_count", stage="glcm"),
        "decode": server.sample("spinerad_stage_duration_seconds_count", stage="decode"),
        "model": server.sample("spinerad_model_inference_duration_seconds_count", task="ki67_high"),
        "bytes": server.sample("spinerad_received_bytes_total", part="image"),
    }
    study = sample_study("metrics", tasks=("ki67_high",))
    list(client.analyze([study], timeout=WAIT))
    after = {
        "rpc": server.sample("spinerad_rpc_duration_seconds_count", rpc="Analyze", code="OK"),
        "study": server.sample("spinerad_study_duration_seconds_count", rpc="Analyze", code="OK"),
        "glcm": server.sample("spinerad_stage_duration_seconds_count", stage="glcm"),
        "decode": server.sample("spinerad_stage_duration_seconds_count", stage="decode"),
        "model": server.sample("spinerad_model_inference_duration_seconds_count", task="ki67_high"),
        "bytes": server.sample("spinerad_received_bytes_total", part="image"),
    }
    for key in ("rpc", "study", "glcm", "decode", "model"):
        assert after[key] == before[key] + 1, key
    assert after["bytes"] == before["bytes"] + study.image.spec.total_bytes
    text = server.metrics_text()
    for family in (
        "spinerad_rpcs_in_flight",
        "spinerad_queue_depth",
        "spinerad_rejected_requests_total",
        "spinerad_studies_admitted",
        "spinerad_workers_busy",
        "spinerad_models_info",
    ):
        assert family in text, family
    card = server.registry.card("egfr_mutation")
    assert f'egfr_mutation="{card["model_id"]}@{card["model_version"]}"' in text
    assert '="metrics"' not in text and "request_id" not in text  # request ids never become labels


def test_health_flips_from_not_serving_to_serving():
    gate = threading.Event()
    pending = InThreadServer(load_gate=gate, metrics_port=None)
    try:
        client = pending.client()
        states = client.watch_health(timeout=WAIT)
        assert next(states) == "NOT_SERVING"
        assert client.health("spinerad.v1.InferenceService") == "NOT_SERVING"
        (refused,) = list(client.analyze([sample_study("early")], timeout=WAIT))
        assert refused.error.code == "UNAVAILABLE" and "warming up" in refused.error.message
        gate.set()
        assert next(states) == "SERVING"
        pending.wait_ready()
        assert client.health("spinerad.v1.InferenceService") == "SERVING"
        assert client.analyze_study(sample_study("late"), timeout=WAIT)["features"]
    finally:
        pending.stop()


def test_server_reflection_lists_the_services(server):
    with grpc.insecure_channel(server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
    assert {"spinerad.v1.InferenceService", "grpc.health.v1.Health"} <= services


def test_cli_analyze_prints_events(server, brain1, capsys):
    image, mask = brain1
    capsys.readouterr()
    code = main(
        [
            "analyze",
            str(image),
            str(mask),
            "--server",
            server.target,
            "--tasks",
            "ki67_high,egfr_t790m",
            "--chunk-size",
            "32768",
            "--request-id",
            "cli-1",
            "--clinical",
            "age=61",
            "--clinical",
            "sex=F",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events][0] == "accepted" and events[-1]["event"] == "completed"
    assert [e["task"] for e in events if e["event"] == "prediction"] == ["ki67_high", "egfr_t790m"]
    assert all(e["request_id"] == "cli-1" for e in events)


def test_cli_analyze_failure_prints_the_status_and_exits_non_zero(server, brain1, tmp_path, capsys):
    image, mask = brain1
    shifted = sitk.ReadImage(str(mask))
    shifted.SetOrigin(tuple(o + 5.0 for o in shifted.GetOrigin()))
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nrrd"))
    capsys.readouterr()
    code = main(["analyze", str(image), str(tmp_path / "shifted.nrrd"), "--server", server.target])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("spinerad: error: INVALID_ARGUMENT: mask origin")
    code = main(["analyze", str(image), str(mask), "--server", server.target, "--tasks", "nope"])
    assert code == 2 and "INVALID_ARGUMENT: unknown task 'nope'" in capsys.readouterr().err
    code = main(["analyze", str(image), str(mask), "--server", "127.0.0.1:1", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 4 and "spinerad: error: UNAVAILABLE:" in err


def test_client_library_against_unreachable_server():
    with Client("127.0.0.1:1") as client, pytest.raises(Exception, match="UNAVAILABLE"):
        client.health(timeout=5)

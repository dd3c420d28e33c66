"""DICOM objects over gRPC: SEG/RTSTRUCT masks in the upload, SEG + SR bytes in the completed event."""

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinerad import extract
from spinerad.dicom.results import read_sr_values
from spinerad.models.registry import DEMO_DIR
from spinerad.service.client import Study, Volume

from ..service.conftest import WAIT, InThreadServer, sample_study
from .build import write_rtstruct, write_seg
from .test_results import dciodvfy_errors


@pytest.fixture(scope="module")
def server():
    running = InThreadServer().wait_ready()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def objects(breast1_series, tmp_path_factory):
    folder, datasets, image, mask = breast1_series
    root = tmp_path_factory.mktemp("service-objects")
    roi = sitk.GetArrayFromImage(mask) > 0
    write_seg(datasets, {1: ("shifted", np.roll(roi, 3, axis=2)), 2: ("lesion", roi)}, root / "seg.dcm")
    write_rtstruct(datasets, image, {"GTV": roi}, root / "rt.dcm")
    return folder, root


def _events(server, study):
    events = list(server.client().analyze([study], timeout=WAIT))
    return {e.WhichOneof("kind"): e for e in events}, events


def test_seg_mask_and_returned_sr(server, objects, tmp_path):
    folder, root = objects
    study = Study(
        Volume.from_path(folder),
        Volume.from_path(root / "seg.dcm"),
        request_id="seg",
        segment=2,
        tasks=("ki67_high", "egfr_mutation"),
        return_dicom=True,
    )
    assert study.mask.spec.WhichOneof("encoding") == "dicom_seg"
    by_kind, events = _events(server, study)
    assert "error" not in by_kind, by_kind.get("error")
    features = next(dict(e.stage_done.features) for e in events if e.stage_done.stage == "features")
    assert features == extract(folder, root / "seg.dcm", params=DEMO_DIR / "extraction.yaml", segment=2)
    objects_ = by_kind["completed"].completed.dicom_objects
    assert [o.name for o in objects_] == ["sr.dcm"]  # the mask was a SEG: referenced, not rewritten
    (tmp_path / "sr.dcm").write_bytes(objects_[0].data)
    errors, output = dciodvfy_errors(tmp_path / "sr.dcm")
    assert errors == [], output
    assert pydicom.dcmread(tmp_path / "sr.dcm").SOPInstanceUID == objects_[0].sop_instance_uid
    _, probabilities = read_sr_values(tmp_path / "sr.dcm")
    predictions = {
        e.prediction.task: e.prediction.probability for e in events if e.WhichOneof("kind") == "prediction"
    }
    assert probabilities == predictions


def test_rtstruct_mask_returns_seg_and_sr(server, objects, tmp_path):
    folder, root = objects
    study = Study(
        Volume.from_path(folder),
        Volume.from_path(root / "rt.dcm"),
        request_id="rt",
        tasks=("ki67_high",),
        return_dicom=True,
    )
    assert study.mask.spec.WhichOneof("encoding") == "rtstruct"
    by_kind, _ = _events(server, study)
    assert "error" not in by_kind, by_kind.get("error")
    names = [o.name for o in by_kind["completed"].completed.dicom_objects]
    assert names == ["seg.dcm", "sr.dcm"]
    for item in by_kind["completed"].completed.dicom_objects:
        (tmp_path / item.name).write_bytes(item.data)
        errors, output = dciodvfy_errors(tmp_path / item.name)
        assert errors == [], output


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda folder, root: Study(
                Volume.from_path(folder), Volume.from_path(root / "seg.dcm"), request_id="x"
            ),
            "holds 2 ROIs; choose one with --segment N or --roi NAME: 1 'shifted', 2 'lesion'",
        ),
        (
            lambda folder, root: Study(
                Volume.from_path(folder), Volume.from_path(root / "rt.dcm"), request_id="x", roi="PTV"
            ),
            "has no ROI named 'PTV'",
        ),
        (
            lambda folder, root: sample_study("x", return_dicom=True),
            "return_dicom needs the image as a DICOM series",
        ),
        (
            lambda folder, root: Study(
                Volume.from_path(root / "seg.dcm"), Volume.from_path(root / "seg.dcm"), request_id="x"
            ),
            "encoding dicom_seg is for masks",
        ),
    ],
)
def test_bad_dicom_requests_are_invalid_argument(server, objects, make, message):
    folder, root = objects
    by_kind, _ = _events(server, make(folder, root))
    assert by_kind["error"].error.code == "INVALID_ARGUMENT"
    assert message in by_kind["error"].error.message


def test_analyze_command_writes_the_returned_objects(server, objects, tmp_path, capsys):
    import json

    from spinerad.cli import main

    folder, root = objects
    code = main(
        [
            "analyze",
            str(folder),
            str(root / "seg.dcm"),
            "--server",
            server.target,
            "--roi",
            "lesion",
            "--tasks",
            "ki67_high",
            "--dicom-out",
            str(tmp_path / "out"),
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    completed = lines[-1]
    assert completed["event"] == "completed"
    assert [o["name"] for o in completed["dicom_objects"]] == ["sr.dcm"]
    assert completed["dicom_objects"][0]["bytes"] == (tmp_path / "out" / "sr.dcm").stat().st_size

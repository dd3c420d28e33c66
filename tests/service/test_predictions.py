"""Prediction events over gRPC: warnings, applicability, wording, positive class, integer clinical values.

The real server (in-process, loopback), the real client and the shipped demo models.
"""

import json

import pytest
import SimpleITK as sitk

from spinerad.cli import main
from spinerad.models.simulate import simulate_cohort
from spinerad.models.tasks import SIMULATED
from spinerad.service.client import Study, Volume, event_to_dict
from spinerad.service.commands import _clinical

from .conftest import WAIT, write_dicom_series


@pytest.fixture(scope="module")
def in_domain(tmp_path_factory):
    """A fresh simulated egfr_mutation study (centre A, a seed the demo cohort never used)."""
    folder = tmp_path_factory.mktemp("fresh")
    simulate_cohort(folder, "egfr_mutation", {"A": 1}, seed=1001, centres=("A",))
    image = sitk.ReadImage(str(folder / "images/A000_image.nrrd"))
    mask = sitk.ReadImage(str(folder / "images/A000_mask.nrrd"))
    return folder, sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask), image.GetSpacing()


def _study(in_domain, request_id, **kwargs):
    _folder, image, mask, spacing = in_domain
    origin = (0.0, 0.0, 0.0)
    return Study(
        Volume.from_array(image, spacing, origin),
        Volume.from_array(mask, spacing, origin, compress=True),
        request_id=request_id,
        tasks=("egfr_mutation", "ki67_high"),
        **kwargs,
    )


def _predictions(client, study):
    return [
        event_to_dict(e)
        for e in client.analyze([study], timeout=WAIT)
        if e.WhichOneof("kind") == "prediction"
    ]


def test_in_domain_prediction_event(server, client, in_domain):
    card = server.registry.card("egfr_mutation")
    predictions = _predictions(client, _study(in_domain, "in", modality="MR", clinical={"age": 61}))
    assert [p["task"] for p in predictions] == ["egfr_mutation", "ki67_high"]
    p = predictions[0]
    assert p["warnings"][0] == f"egfr_mutation: {card['warning']}" and SIMULATED in card["warning"]
    # age is used by neither model: reported, not silently dropped
    assert "clinical value(s) not used by any selected model, ignored: age" in p["warnings"]
    assert p["positive_class"] == card["positive_class"] == "EGFR mutant"
    assert p["applicability"] == "inside" and p["applicability_reasons"] == []
    assert p["study_modality"] == "MR" and p["domain_modality"] == "MR"
    above = p["probability"] >= p["threshold"]
    assert p["label"] == f"{'above' if above else 'below'} threshold for EGFR mutant"
    assert not p["label_withheld"] and "not a diagnosis" in p["interpretation"]
    assert p["domain_distance"] <= p["domain_threshold"] == card["applicability_domain"]["threshold"]
    # the card's counts come back as integers, not 180.0
    assert p["validation"]["internal_n"] == card["validation_summary"]["internal_n"]
    assert isinstance(p["validation"]["internal_n"], int)
    result = client.analyze_study(_study(in_domain, "in-2", modality="MR"), timeout=WAIT)
    assert result["warnings"][0] == f"egfr_mutation, ki67_high: {card['warning']}"


def test_outside_the_domain_over_grpc(client, in_domain):
    (p, _ki67) = _predictions(client, _study(in_domain, "ct-hint", modality="CT"))
    assert p["applicability"] == "outside"
    assert p["applicability_reasons"] == ["modality CT (the model was trained on MR)"]
    assert p["label"] is None and p["label_withheld"]
    assert any("outside the model's applicability domain" in w for w in p["warnings"])
    (asked, _ki67) = _predictions(
        client, _study(in_domain, "ct-asked", modality="CT", show_label_outside_domain=True)
    )
    assert asked["label"].endswith("threshold for EGFR mutant") and not asked["label_withheld"]


def test_a_ct_dicom_series_is_outside_without_any_hint(client, in_domain, tmp_path):
    _folder, image, mask, spacing = in_domain
    paths = write_dicom_series(tmp_path / "ct", image, spacing=spacing, modality="CT")
    study = Study(
        Volume.from_path(tmp_path / "ct"),
        Volume.from_array(mask, spacing, (0.0, 0.0, 0.0)),
        request_id="ct-dicom",
        tasks=("egfr_mutation",),
    )
    assert len(paths) == image.shape[0]
    (p,) = _predictions(client, study)
    assert p["study_modality"] == "CT" and p["applicability"] == "outside"
    assert p["applicability_reasons"][0] == "modality CT (the model was trained on MR)"


def test_integer_clinical_values_stay_integers(client, in_domain):
    header = _study(in_domain, "ints", clinical={"age": 61, "weight": 70.5, "sex": "F"}).header()
    assert header.clinical["age"].WhichOneof("kind") == "integer" and header.clinical["age"].integer == 61
    assert header.clinical["weight"].WhichOneof("kind") == "number"
    assert _clinical(["age=61", "weight=70.5", "smoker=true", "sex=F"]) == {
        "age": 61,
        "weight": 70.5,
        "smoker": True,
        "sex": "F",
    }


def test_bad_modality_is_invalid_argument(client, in_domain):
    (event,) = list(
        client.analyze([_study(in_domain, "bad-modality", modality="magnetic resonance")], timeout=WAIT)
    )
    assert event.error.code == "INVALID_ARGUMENT" and "modality must be a DICOM modality code" in (
        event.error.message
    )


def test_cli_analyze_puts_the_warnings_on_stderr(server, in_domain, capsys):
    folder = in_domain[0]
    capsys.readouterr()
    code = main(
        [
            "analyze",
            str(folder / "images/A000_image.nrrd"),
            str(folder / "images/A000_mask.nrrd"),
            "--server",
            server.target,
            "--tasks",
            "egfr_mutation,ki67_high",
            "--modality",
            "MR",
            "--clinical",
            "age=61",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    predictions = [e for e in events if e["event"] == "prediction"]
    assert all(e["warnings"] and e["positive_class"] for e in predictions)
    lines = err.splitlines()
    assert lines[0].startswith("spinerad: warning: egfr_mutation, ki67_high: trained on a " + SIMULATED)
    assert "spinerad: warning: clinical value(s) not used by any selected model, ignored: age" in lines

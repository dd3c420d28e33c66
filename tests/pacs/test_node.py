"""The DICOM node against a real Orthanc: PACS pushes a study, the SR and SEG come back, faults included."""

import math

import highdicom as hd
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from spinerad.dicom.results import feature_key, read_sr_values
from spinerad.dicom.series import read_series
from spinerad.dicom.study import load_study
from spinerad.models.registry import load_models
from spinerad.pipeline import extract

from ..dicom.build import write_series
from ..dicom.test_results import dciodvfy_errors
from .conftest import MODALITY, SHARED_NODE_MAX_INSTANCES, send_instances, wait_for

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def _results(orthanc, study_uid):
    """The result instances (SR, SEG written by spinerad) of a study in Orthanc, found with QIDO-RS."""
    client = DICOMwebClient(orthanc.dicomweb_url)
    found = client.search_for_instances(study_instance_uid=study_uid, fields=["Manufacturer"])
    out = []
    for item in found:
        sop_class = item["00080016"]["Value"][0]
        if sop_class in (SR_CLASS,) or (
            sop_class == SEG_CLASS and item.get("00080070", {}).get("Value") == ["spinerad"]
        ):
            out.append(item)
    return out


def _retrieve(orthanc, item):
    client = DICOMwebClient(orthanc.dicomweb_url)
    return client.retrieve_instance(
        item["0020000D"]["Value"][0], item["0020000E"]["Value"][0], item["00080018"]["Value"][0]
    )


def _referenced_segments(group):
    """SOP Instance UIDs of the segmentations a TID 1411 group references (its IMAGE content items)."""
    return [
        str(ref.ReferencedSOPInstanceUID)
        for item in group[0].ContentSequence
        if item.ValueType == "IMAGE"
        for ref in item.ReferencedSOPSequence
    ]


def _push(orthanc, study):
    """Upload a study into Orthanc (REST) and let Orthanc C-STORE it to the node."""
    orthanc.upload(study["paths"])
    return orthanc.push(MODALITY, [orthanc.study_id(study["study_uid"])])


def _metric(node, name):
    text = requests.get(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def registry():
    return load_models(None)


def _json_path(study, registry):
    """What ``spinerad predict SERIES SEG`` computes in-process: features and probabilities."""
    loaded = load_study(read_series(study["series_paths"]), study["seg_path"])
    features = extract(loaded.image, loaded.mask, params=registry.extraction_params, label=1)
    predictions = registry.predict(features, settings_hash=registry.extraction_params.settings_hash())
    return features, {p["task"]: p["probability"] for p in predictions}, loaded


def shared_node_port(node):
    """The DICOM port a node process was started with."""
    return int(node.args[node.args.index("--port") + 1])


def _valid(dataset, folder):
    """Dciodvfy (dicom3tools) reports no error for ``dataset``."""
    path = folder / f"{dataset.SOPInstanceUID}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    errors, output = dciodvfy_errors(path)
    assert not errors, output
    return True


def test_push_study_results_come_back(orthanc, shared_node, make_study, registry, tmp_path):
    node = shared_node
    before = (
        _metric(node, "spinerad_dicom_received_instances_total"),
        _metric(node, "spinerad_dicom_stored_instances_total"),
    )
    study = make_study()
    _push(orthanc, study)
    found = wait_for(lambda: _results(orthanc, study["study_uid"]), 120, what="the SR in Orthanc")
    sr_items = [i for i in found if i["00080016"]["Value"][0] == SR_CLASS]
    assert len(sr_items) == 1
    sr = _retrieve(orthanc, sr_items[0])
    assert _valid(sr, tmp_path)
    report = hd.sr.Comprehensive3DSR.from_dataset(sr)
    assert report.PatientID == "TEST-0001" and report.StudyInstanceUID == study["study_uid"]
    groups = report.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 1
    # the SR references the study's own SEG (the mask was a SEG: no new SEG is written)
    assert _referenced_segments(groups[0]) == [study["seg_uid"]]
    values, probabilities = read_sr_values(sr)
    features, expected_probabilities, loaded = _json_path(study, registry)
    modality = "MR"
    compared = 0
    for name, value in features.items():
        got = values[feature_key(name, modality)]
        assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value, rel=1e-12, abs=1e-12), (
            name
        )
        compared += 1
    assert compared == len(features) > 50
    assert probabilities.keys() == expected_probabilities.keys()
    for task, p in expected_probabilities.items():
        assert probabilities[task] == pytest.approx(p, rel=1e-12)
    assert _metric(node, "spinerad_dicom_received_instances_total") - before[0] == len(study["paths"])
    wait_for(lambda: _metric(node, "spinerad_dicom_spool_studies") == 0, 30, what="an empty spool")
    assert _metric(node, "spinerad_dicom_stored_instances_total") - before[1] == 1
    # Orthanc pushes the same study again (a PACS retry): the same SR UID, so still one SR in PACS
    _push(orthanc, study)
    wait_for(
        lambda: _metric(node, "spinerad_dicom_stored_instances_total") - before[1] == 2,
        120,
        what="a re-store",
    )
    again = [i for i in _results(orthanc, study["study_uid"]) if i["00080016"]["Value"][0] == SR_CLASS]
    assert [i["00080018"] for i in again] == [sr_items[0]["00080018"]]
    # the SR routed back to the node (a PACS rule forwarding everything) is acknowledged and dropped
    sr_path = tmp_path / "own-sr.dcm"
    sr.save_as(sr_path, enforce_file_format=True)
    own = _metric(node, 'spinerad_dicom_refused_instances_total{reason="own_result"}')
    assert send_instances(shared_node_port(node), [sr_path]) == [0]
    assert _metric(node, 'spinerad_dicom_refused_instances_total{reason="own_result"}') == own + 1
    assert _metric(node, "spinerad_dicom_spool_studies") == 0


def _texts(dataset):
    """Every comment (TEXT, DCM 121106) of an SR content tree."""
    out = []
    for item in dataset.get("ContentSequence", []):
        if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue == "121106":
            out.append(str(item.TextValue))
        out.extend(_texts(item))
    return out


def _only_sr(orthanc, study_uid, node=None):
    found = wait_for(
        lambda: _results(orthanc, study_uid),
        120,
        what="an SR in Orthanc",
        context=node.text if node else None,
    )
    assert len(found) == 1 and found[0]["00080016"]["Value"][0] == SR_CLASS
    return _retrieve(orthanc, found[0])


def test_study_without_seg_gets_a_failure_sr(orthanc, shared_node, make_study, tmp_path):
    study = make_study("noseg", with_seg=False)
    before = _metric(shared_node, "spinerad_dicom_study_failures_total")
    _push(orthanc, study)
    sr = _only_sr(orthanc, study["study_uid"], shared_node)
    assert sr.SeriesDescription == "spinerad analysis failed"
    assert _valid(sr, tmp_path)
    (text,) = _texts(sr)
    assert text.startswith("spinerad could not analyse this study: the study holds no SEG or RTSTRUCT")
    assert _metric(shared_node, "spinerad_dicom_study_failures_total") == before + 1
    assert any("analysis failed: the study holds no SEG" in line for line in shared_node.lines)
    assert not any(study["study_uid"] in line or "TEST-0001" in line for line in shared_node.lines)


def test_seg_of_another_frame_of_reference_fails_clearly(orthanc, shared_node, make_study):
    study = make_study("otherfor", seg_frame_of_reference=generate_uid())
    _push(orthanc, study)
    sr = _only_sr(orthanc, study["study_uid"], shared_node)
    (text,) = _texts(sr)
    assert "frame of reference" in text and "not drawn on this image" in text


def test_unknown_calling_ae_is_rejected(shared_node, node_port, make_study):
    study = make_study("intruder")
    before = _metric(shared_node, "spinerad_dicom_rejected_associations_total")
    assert send_instances(node_port, study["paths"][:1], ae_title="INTRUDER") is None
    wait_for(
        lambda: _metric(shared_node, "spinerad_dicom_rejected_associations_total") == before + 1,
        10,
        what="the rejection metric",
    )
    assert any("association rejected" in line for line in shared_node.lines)
    # an allowed AE gets through (ECHO: the node's health check)
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", node_port, ae_title="SPINERAD")
    assert assoc.is_established and assoc.send_c_echo().Status == 0
    assoc.release()


def test_association_aborted_mid_study(orthanc, shared_node, node_port, make_study):
    study = make_study("abort")
    paths = study["paths"]
    assert send_instances(node_port, paths[:8], abort=True) == [0] * 8
    # the sender retries the whole study on a new association (inside the quiet period)
    assert send_instances(node_port, paths) == [0] * len(paths)
    sr = _only_sr(orthanc, study["study_uid"], shared_node)
    assert sr.SeriesDescription != "spinerad analysis failed"
    evidence = {
        ref.ReferencedSOPInstanceUID
        for series in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert len(evidence) == len(paths)


def test_aborted_study_without_resend_reports_the_gap(orthanc, shared_node, node_port, make_study):
    study = make_study("abort-gap")
    paths = study["series_paths"]
    assert send_instances(node_port, paths[:5] + paths[7:] + [study["seg_path"]], abort=True) is not None
    sr = _only_sr(orthanc, study["study_uid"], shared_node)
    (text,) = _texts(sr)
    assert "gap" in text and "slice(s) missing" in text


def test_instances_beyond_the_study_limit_are_refused(
    orthanc, shared_node, node_port, make_study, breast1, tmp_path
):
    study = make_study("limit")
    # a second series in the same study takes it past the node's limit of instances per study
    datasets = write_series(breast1[0], tmp_path / "second", study_uid=study["study_uid"])
    extra = sorted((tmp_path / "second").iterdir())
    before = _metric(shared_node, "spinerad_dicom_refused_instances_total")
    statuses = send_instances(node_port, study["paths"] + extra)
    accepted = SHARED_NODE_MAX_INSTANCES
    assert statuses == [0] * accepted + [0xA700] * (len(study["paths"]) + len(datasets) - accepted)
    assert _metric(shared_node, "spinerad_dicom_refused_instances_total") == before + len(statuses) - accepted
    assert any("reached the limit of 30 instances" in line for line in shared_node.lines)
    # what was accepted is analysed: the complete first series and its SEG
    sr = _only_sr(orthanc, study["study_uid"], shared_node)
    assert sr.SeriesDescription != "spinerad analysis failed"


def test_rtstruct_study_gets_a_binary_seg_and_an_sr(orthanc, shared_node, breast1, tmp_path):
    from ..dicom.build import write_rtstruct

    image, mask = breast1
    datasets = write_series(image, tmp_path / "rt" / "series", patient_id="TEST-0003")
    roi = sitk_array(mask) == 1
    write_rtstruct(datasets, image, {"lesion": roi}, tmp_path / "rt" / "rtstruct.dcm")
    study_uid = str(datasets[0].StudyInstanceUID)
    paths = sorted((tmp_path / "rt" / "series").iterdir()) + [tmp_path / "rt" / "rtstruct.dcm"]
    orthanc.upload(paths)
    orthanc.push(MODALITY, [orthanc.study_id(study_uid)])
    found = wait_for(lambda: len(_results(orthanc, study_uid)) == 2 and _results(orthanc, study_uid), 120,
                     what="SR and SEG in Orthanc", context=shared_node.text)  # fmt: skip
    classes = sorted(item["00080016"]["Value"][0] for item in found)
    assert classes == sorted([SR_CLASS, SEG_CLASS])  # the BINARY SEG went over DIMSE
    seg = _retrieve(orthanc, next(i for i in found if i["00080016"]["Value"][0] == SEG_CLASS))
    assert seg.SegmentationType == "BINARY"
    sr = _retrieve(orthanc, next(i for i in found if i["00080016"]["Value"][0] == SR_CLASS))
    groups = hd.sr.Comprehensive3DSR.from_dataset(sr).content.get_volumetric_roi_measurement_groups()
    assert _referenced_segments(groups[0]) == [seg.SOPInstanceUID]
    assert _valid(seg, tmp_path) and _valid(sr, tmp_path)


def sitk_array(image):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)

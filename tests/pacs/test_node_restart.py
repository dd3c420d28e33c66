"""The node killed (SIGKILL) mid-study and with results not yet stored: nothing lost, nothing reported twice."""

import time

from .conftest import send_instances, wait_for
from .test_node import SR_CLASS, _metric, _only_sr, _results


def _evidence(sr):
    return {
        ref.ReferencedSOPInstanceUID
        for series in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }


def test_killed_mid_study_resumes_from_the_spool(orthanc, start_node, node_port, make_study, tmp_path):
    spool = tmp_path / "spool"
    study = make_study("killed")
    paths = study["paths"]
    node = start_node(spool=spool)
    assert send_instances(node_port, paths[:10]) == [0] * 10  # acknowledged = on disk
    node.kill()
    assert len(list((spool / "studies").glob("*/instances/*.dcm"))) == 10
    node = start_node(spool=spool)
    assert "(1 studies resumed)" in node.wait_started()
    assert send_instances(node_port, paths[10:]) == [0] * (len(paths) - 10)
    sr = _only_sr(orthanc, study["study_uid"])
    assert sr.SeriesDescription != "spinerad analysis failed"
    assert len(_evidence(sr)) == len(paths)  # the 10 instances received before the kill were used
    wait_for(lambda: not list((spool / "studies").iterdir()), 30, what="the study to leave the spool")


def test_pacs_down_results_kept_retried_and_stored_once(orthanc, start_node, node_port, make_study, tmp_path):
    spool = tmp_path / "spool"
    study = make_study("pacsdown")
    orthanc.stop()
    try:
        node = start_node(spool=spool)
        assert send_instances(node_port, study["paths"]) == [0] * len(study["paths"])
        wait_for(
            lambda: _metric(node, "spinerad_dicom_store_failures_total") >= 2, 60, what="two failed stores"
        )
        assert any("kept in the spool, next try in" in line for line in node.lines)
        results = list((spool / "studies").glob("*/results/*.dcm"))
        assert len(results) == 1  # the SR (the mask was a SEG)
        node.kill()  # killed while the results wait: they must survive and be stored once
        node = start_node(spool=spool)
        time.sleep(1.5)  # a store attempt against the stopped PACS, after the restart
    finally:
        orthanc.start()
    sr = _only_sr(orthanc, study["study_uid"])
    assert sr.SOPInstanceUID == results[0].stem
    wait_for(lambda: _metric(node, "spinerad_dicom_spool_studies") == 0, 60, what="an empty spool")
    assert _metric(node, "spinerad_dicom_stored_instances_total") == 1
    srs = [i for i in _results(orthanc, study["study_uid"]) if i["00080016"]["Value"][0] == SR_CLASS]
    assert len(srs) == 1

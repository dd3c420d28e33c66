"""The node's early analysis (during the quiet period) never reports a study that was still arriving."""

from .conftest import send_instances, wait_for
from .test_node import _metric, _only_sr, _texts


def test_early_analysis_of_an_incomplete_study_is_not_reported(orthanc, start_node, node_port, make_study):
    """Series first, SEG on a second association after the early analysis failed ("no SEG"): one good SR."""
    node = start_node(extra=["--quiet-seconds", "5"])
    study = make_study("early")
    analyses = "spinerad_dicom_analysis_seconds_count"
    before = _metric(node, analyses)
    series = study["series_paths"]
    assert send_instances(node_port, series) == [0] * len(series)
    wait_for(lambda: _metric(node, analyses) == before + 1, 60, what="the early analysis", context=node.text)
    assert send_instances(node_port, [study["seg_path"]]) == [0]
    sr = _only_sr(orthanc, study["study_uid"], node)
    assert sr.SeriesDescription != "spinerad analysis failed", _texts(sr)
    assert _metric(node, analyses) == before + 2  # the early one (dropped) and the one reported
    assert _metric(node, "spinerad_dicom_study_failures_total") == 0
    assert not any("analysis failed" in line for line in node.lines)

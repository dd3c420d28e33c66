"""DICOM cases in the cohort CSV (spinerad extract-cohort) and the training CSV: ``segment``/``roi``."""

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from spinerad import cohort, extract
from spinerad.models.train import extract_cohort_features, read_training_csv

from .build import write_rtstruct, write_seg


@pytest.fixture(scope="module")
def dicom_cohort(breast1_series, tmp_path_factory):
    """breast1 with a two-segment SEG and an RTSTRUCT; the expected features per ROI."""
    folder, datasets, image, mask = breast1_series
    root = tmp_path_factory.mktemp("dicom-cohort")
    roi = sitk.GetArrayFromImage(mask) > 0
    shifted = np.roll(roi, 4, axis=1)
    write_seg(datasets, {1: ("shifted", shifted), 2: ("lesion", roi)}, root / "seg.dcm")
    write_rtstruct(datasets, image, {"GTV": roi, "shifted": shifted}, root / "rt.dcm")
    study = extract(folder, root / "seg.dcm", segment=2)
    other = extract(folder, root / "seg.dcm", segment=1)
    assert study != other
    return root, folder, study, other


def test_cohort_csv_segment_and_roi_columns(dicom_cohort, tmp_path):
    root, folder, lesion, shifted = dicom_cohort
    rows = [
        {"id": "a", "image": str(folder), "mask": str(root / "seg.dcm"), "segment": "2", "roi": ""},
        {"id": "b", "image": str(folder), "mask": str(root / "seg.dcm"), "segment": "1", "roi": ""},
        {"id": "c", "image": str(folder), "mask": str(root / "rt.dcm"), "segment": "", "roi": "GTV"},
        {"id": "d", "image": str(folder), "mask": str(root / "seg.dcm"), "segment": "", "roi": ""},
        {"id": "e", "image": str(folder), "mask": str(root / "seg.dcm"), "segment": "7", "roi": ""},
    ]
    path = tmp_path / "cohort.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with cohort.dask_client(n_workers=1) as client:
        summary = cohort.extract_cohort(path, tmp_path / "out.csv", client=client)
    assert (summary.ok, summary.errors) == (3, 2)
    with open(tmp_path / "out.csv", newline="") as handle:
        table = {row["id"]: row for row in csv.DictReader(handle)}
    for case, expected in (("a", lesion), ("b", shifted), ("c", lesion)):
        assert table[case]["status"] == "ok"
        for name, value in expected.items():
            assert float(table[case][name]) == value, (case, name)
    assert "holds 2 ROIs; choose one with --segment N or --roi NAME" in table["d"]["error"]
    assert "has no segment 7" in table["e"]["error"]
    # the ROI choice is part of a case's key: the same files with another segment are another case
    keys = {cohort.case_key(folder, root / "seg.dcm", 1, 0, "h", roi_choice={"segment": n}) for n in (1, 2)}
    assert len(keys) == 2


def test_training_csv_segment_and_roi_columns(dicom_cohort, tmp_path):
    root, folder, lesion, shifted = dicom_cohort
    path = tmp_path / "train.csv"
    path.write_text(
        "image,mask,label,segment,roi\n"
        f"{folder},{root / 'seg.dcm'},1,2,\n"
        f"{folder},{root / 'rt.dcm'},0,,shifted\n"
    )
    training = read_training_csv(path, "egfr_mutation")
    assert [row.roi_choice for row in training.rows] == [{"segment": 2}, {"roi": "shifted"}]
    assert training.clinical == ()  # segment/roi are not clinical variables
    from spinerad.settings import load_params

    names, matrix, kept, skipped = extract_cohort_features(training.rows, load_params(None), None, False)
    assert skipped == [] and kept == [0, 1]
    assert dict(zip(names, matrix[0], strict=True)) == {n: lesion[n] for n in names}
    assert dict(zip(names, matrix[1], strict=True)) == {n: shifted[n] for n in names}

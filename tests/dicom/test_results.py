"""Results as DICOM: SEG + TID 1500 SR pass dciodvfy, and dcmqi and highdicom read back the JSON's values."""

import json
import math
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinerad.cli import main
from spinerad.dicom import load_study
from spinerad.dicom.codes import feature_code
from spinerad.dicom.results import PROCESSING_ALGORITHM, feature_key, read_sr_values, write_results

from ..conftest import require_tool
from .build import write_rtstruct, write_seg


def dciodvfy_errors(path):
    """The Error lines dciodvfy (dicom3tools) prints for ``path``, and its whole output."""
    tool = require_tool("dciodvfy", "Debian package dicom3tools")
    result = subprocess.run([tool, str(path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if line.startswith("Error")], output


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _extract_to_dicom(series, mask, dicom_out, json_out, capsys, *options):
    """``spinerad extract`` of a DICOM series with ``--dicom-out`` and ``--out``, plus ``options``."""
    argv = ["extract", series, mask, *options, "--dicom-out", dicom_out, "--out", json_out]
    return _run([str(a) for a in argv], capsys)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture(scope="module")
def mask_file(breast1_series, tmp_path_factory):
    """breast1's label map as NRRD on the DICOM series' grid."""
    folder = tmp_path_factory.mktemp("mask")
    sitk.WriteImage(breast1_series[3], str(folder / "mask.nrrd"))
    return folder / "mask.nrrd"


def test_predict_writes_seg_and_sr_that_validate_and_read_back(breast1_series, mask_file, tmp_path, capsys):
    folder, datasets, _, mask = breast1_series
    out = tmp_path / "dicom"
    code, stdout, stderr = _run(
        ["predict", str(folder), str(mask_file), "--dicom-out", str(out), "--out", str(tmp_path / "p.json")],
        capsys,
    )
    assert code == 0, stderr
    result = json.loads((tmp_path / "p.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["seg.dcm", "sr.dcm"]
    for name in ("seg.dcm", "sr.dcm"):
        errors, output = dciodvfy_errors(out / name)
        assert errors == [], output
    # highdicom reads the SEG back: the ROI exactly as used
    import highdicom as hd

    seg = hd.seg.segread(str(out / "seg.dcm"))
    uids = [d.SOPInstanceUID for d in datasets]
    placed = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[1], assert_missing_frames_are_empty=True
    )[..., 0]
    np.testing.assert_array_equal(placed > 0, sitk.GetArrayViewFromImage(mask) > 0)
    # ... and the SR: every feature and probability equals the JSON output
    features = _features(folder, mask_file)
    values, probabilities = read_sr_values(out / "sr.dcm")
    assert len(values) == len(features)
    for feature, value in features.items():
        assert _same(values[feature_key(feature, "MR")], value), feature
    assert probabilities == {p["task"]: p["probability"] for p in result["predictions"]}
    sr = pydicom.dcmread(out / "sr.dcm")
    source = datasets[0]
    for keyword in (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "AccessionNumber",
    ):
        assert sr.get(keyword) == source.get(keyword), keyword
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID and sr.SOPInstanceUID not in uids
    equipment = [item for item in sr.ContributingEquipmentSequence if item.get("Manufacturer") == "spinerad"]
    models = {item.ManufacturerModelName for item in equipment}
    assert {p["model_id"] for p in result["predictions"]} <= models
    assert all(
        item.PurposeOfReferenceCodeSequence[0].CodeValue == PROCESSING_ALGORITHM.value for item in equipment
    )
    text = _content_text(sr)
    assert "simulated cohort — not for clinical use" in text
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    _check_with_dcmqi(out, features, result["predictions"], tmp_path, load_study(folder, mask_file).mask)


def _features(folder, mask_file):
    from spinerad import extract
    from spinerad.models.registry import load_models

    study = load_study(folder, mask_file)
    return extract(study.image, study.mask, params=load_models(None).extraction_params)


def _image_references(dataset):
    for item in dataset.get("ContentSequence", []):
        yield from item.get("ReferencedSOPSequence", [])
        yield from _image_references(item)


def _content_text(dataset):
    parts = []
    for item in dataset.get("ContentSequence", []):
        if "TextValue" in item:
            parts.append(str(item.TextValue))
        parts.append(_content_text(item))
    return "\n".join(parts)


def _check_with_dcmqi(out, features, predictions, tmp_path, mask):
    """Dcmqi's tid1500reader and segimage2itkimage (independent C++ readers) read the objects back."""
    reader = require_tool("tid1500reader", "pip dcmqi")
    subprocess.run(
        [reader, "--inputDICOM", str(out / "sr.dcm"), "--outputMetadata", str(tmp_path / "sr.json")],
        check=True,
        capture_output=True,
    )
    group = json.loads((tmp_path / "sr.json").read_text())["Measurements"][0]
    read = {}
    for item in group["measurementItems"]:
        derivation = item.get("derivationModifier", {}).get("CodeValue")
        algorithm = item.get("measurementAlgorithmIdentification", {}).get("AlgorithmName")
        read[(item["quantity"]["CodeValue"], derivation, algorithm)] = float(item["value"])
    for feature, value in features.items():  # Original image only: (concept, derivation) is unique
        code = feature_code(feature, "MR")
        key = (code.name.value, code.derivation.value if code.derivation else None, None)
        assert read[key] == pytest.approx(value, rel=1e-12, abs=1e-300), feature  # DS text: 16 characters
    for prediction in predictions:
        assert read[("122157", None, prediction["model_id"])] == pytest.approx(
            prediction["probability"], rel=1e-12
        )
    evaluations = {e["conceptCode"]["CodeValue"]: e["conceptValue"] for e in group["qualitativeEvaluations"]}
    for prediction in predictions:
        side = "above" if prediction["probability"] >= prediction["threshold"] else "below"
        assert evaluations[f"task.{prediction['task']}"]["CodeValue"] == f"{prediction['task']}.{side}"
    converter = require_tool("segimage2itkimage", "pip dcmqi")
    (tmp_path / "seg").mkdir()
    subprocess.run(
        [
            converter,
            "--inputDICOM",
            str(out / "seg.dcm"),
            "--outputDirectory",
            str(tmp_path / "seg"),
            "--outputType",
            "nrrd",
            "-p",
            "roi",
        ],
        check=True,
        capture_output=True,
    )
    theirs = sitk.ReadImage(str(tmp_path / "seg" / "roi-1.nrrd"))  # the extent of the non-empty frames
    on_grid = sitk.Resample(theirs, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(on_grid) > 0, sitk.GetArrayViewFromImage(mask) > 0
    )


def test_a_seg_mask_is_referenced_not_rewritten(breast1_series, tmp_path, capsys):
    folder, datasets, _, mask = breast1_series
    roi = sitk.GetArrayFromImage(mask) > 0
    seg = write_seg(
        datasets, {1: ("other", np.roll(roi, 3, axis=2)), 2: ("lesion", roi)}, tmp_path / "in-seg.dcm"
    )
    out = tmp_path / "dicom"
    code, _, stderr = _extract_to_dicom(
        folder, tmp_path / "in-seg.dcm", out, tmp_path / "f.json", capsys, "--roi", "lesion"
    )
    assert code == 0, stderr
    assert [p.name for p in out.iterdir()] == ["sr.dcm"]
    errors, output = dciodvfy_errors(out / "sr.dcm")
    assert errors == [], output
    sr = pydicom.dcmread(out / "sr.dcm")
    references = [
        (r.ReferencedSOPInstanceUID, r.get("ReferencedSegmentNumber")) for r in _image_references(sr)
    ]
    assert (seg.SOPInstanceUID, 2) in references  # the input SEG's segment 2, "lesion"
    values, _ = read_sr_values(out / "sr.dcm")
    features = json.loads((tmp_path / "f.json").read_text())
    for feature, value in features.items():
        assert _same(values[feature_key(feature, "MR")], value), feature


def test_rtstruct_mask_gives_a_seg_of_the_rasterised_roi(breast1_series, tmp_path, capsys):
    folder, datasets, image, mask = breast1_series
    roi = sitk.GetArrayFromImage(mask) > 0
    write_rtstruct(datasets, image, {"GTV": roi}, tmp_path / "rt.dcm", contour_image_sequence=False)
    out = tmp_path / "dicom"
    code, _, stderr = _extract_to_dicom(folder, tmp_path / "rt.dcm", out, tmp_path / "f.json", capsys)
    assert code == 0, stderr
    import highdicom as hd

    seg = hd.seg.segread(str(out / "seg.dcm"))
    assert seg.get_segment_description(1).segment_label == "GTV"
    uids = [d.SOPInstanceUID for d in datasets]
    placed = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[1], assert_missing_frames_are_empty=True
    )[..., 0]
    np.testing.assert_array_equal(placed > 0, roi)
    for name in ("seg.dcm", "sr.dcm"):
        errors, output = dciodvfy_errors(out / name)
        assert errors == [], output


def test_warnings_become_text_items(breast1_series, mask_file, tmp_path):
    study = load_study(breast1_series[0], mask_file)
    prediction = {
        "task": "ki67_high",
        "probability": 0.7,
        "label": "Ki-67 high",
        "threshold": 0.5,
        "model_id": "ki67_high-test",
        "model_version": "2",
        "trained_on": "a hospital cohort",
        "warnings": ["image spacing outside the training range"],
    }
    (seg_path, sr_path) = write_results(
        study, {"original_firstorder_Mean": 1.5, "original_glcm_MCC": float("nan")}, tmp_path, [prediction]
    )
    sr = pydicom.dcmread(sr_path)
    text = _content_text(sr)
    assert "ki67_high: warning: image spacing outside the training range" in text
    assert "simulated" not in text
    values, probabilities = read_sr_values(sr_path)
    assert math.isnan(values[feature_key("original_glcm_MCC", "MR")])
    assert probabilities == {"ki67_high": 0.7}
    errors, output = dciodvfy_errors(sr_path)
    assert errors == [], output


def test_dicom_out_needs_a_dicom_image(breast1_series, mask_file, tmp_path, capsys):
    sitk.WriteImage(breast1_series[2], str(tmp_path / "image.nrrd"))
    code, _, stderr = _run(
        ["extract", str(tmp_path / "image.nrrd"), str(mask_file), "--dicom-out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    assert stderr.strip().splitlines() == [
        "spinerad: error: --dicom-out needs the image as a DICOM series: the result objects reference its instances"
    ]


def test_results_over_an_enhanced_multiframe_image(breast1_series, mask_file, tmp_path):
    import highdicom as hd
    from pydicom.uid import generate_uid

    from spinerad import extract
    from spinerad.dicom.series import affine_of

    legacy = [pydicom.dcmread(p) for p in sorted(breast1_series[0].iterdir())]
    (tmp_path / "mf").mkdir()
    hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy,
        series_instance_uid=generate_uid(),
        series_number=10,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    ).save_as(tmp_path / "mf" / "enhanced.dcm")
    study = load_study(tmp_path / "mf", mask_file)
    features = extract(study.image, study.mask)
    seg_path, sr_path = write_results(study, features, tmp_path / "out")
    for path in (seg_path, sr_path):
        errors, output = dciodvfy_errors(path)
        assert errors == [], output
    volume = hd.seg.segread(str(seg_path)).get_volume(segment_numbers=[1])
    grid = hd.VolumeGeometry(affine_of(study.image), study.image.GetSize()[::-1], coordinate_system="PATIENT")
    placed = np.asarray(volume.match_geometry(grid).array)[..., 0]
    np.testing.assert_array_equal(placed > 0, sitk.GetArrayViewFromImage(study.mask) > 0)
    values, _ = read_sr_values(sr_path)
    assert all(_same(values[feature_key(f, "MR")], v) for f, v in features.items())


def test_sr_without_highdicom_deep_copy_is_the_plain_constructors_dataset(
    breast1_series, mask_file, monkeypatch
):
    """``comprehensive_3d_sr`` skips highdicom's deep copy of the content tree; the dataset is unchanged."""
    import itertools

    import highdicom as hd

    from spinerad import extract
    from spinerad.dicom import results

    study = load_study(breast1_series[0], mask_file)
    features = extract(study.image, study.mask)
    seg = results.build_seg(study, 1)
    prediction = {
        "task": "ki67_high", "probability": 0.25, "label": "Ki-67 high", "threshold": 0.5,
        "model_id": "ki67_high-test", "model_version": "2", "trained_on": "a test",
    }  # fmt: skip

    uid_class = hd.UID

    def build(constructor):
        counter = itertools.count(1)
        monkeypatch.setattr(hd, "UID", lambda: uid_class(f"1.2.826.0.1.3680043.8.498.{next(counter)}"))
        monkeypatch.setattr(results, "comprehensive_3d_sr", constructor)
        sr = results.build_sr(study, seg, 1, features, [prediction], {})
        for element in list(sr.iterall()):
            if element.VR in ("DA", "TM", "DT"):  # build times
                element.value = None
        return sr

    fast = build(results.comprehensive_3d_sr)
    plain = build(lambda content, evidence, **kwargs: hd.sr.Comprehensive3DSR(evidence, content, **kwargs))
    assert fast == plain
    assert isinstance(fast, hd.sr.Comprehensive3DSR)
    assert len(fast.content[0].ContentSequence) == len(plain.content[0].ContentSequence) > 1
    values, probabilities = read_sr_values(fast)
    assert all(_same(values[feature_key(f, "MR")], v) for f, v in features.items())
    assert probabilities == {"ki67_high": 0.25}

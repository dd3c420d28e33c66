"""The command line: JSON output, timings, repeat, and one clear line + non-zero exit for every bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from spinerad.cli import EXIT_DEVICE, EXIT_INVALID, main


def _write(path, array, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    sitk.WriteImage(image, str(path))
    return str(path)


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 200, size=(6, 10, 12)).astype(np.int16)
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[1:5, 2:8, 3:10] = 1
    return _write(tmp_path / "image.nrrd", image), _write(tmp_path / "mask.nrrd", mask), tmp_path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_extract_prints_float_features(capsys, study):
    image, mask, _ = study
    code, out, err = run_cli(capsys, "extract", image, mask)
    assert code == 0, err
    features = json.loads(out)
    from spinerad.features import FEATURE_CLASSES

    # PyRadiomics' default: every class but shape2D, every non-deprecated feature
    assert len(features) == sum(len(c.default_names()) for n, c in FEATURE_CLASSES.items() if n != "shape2D")
    assert all(isinstance(v, float) for v in features.values())
    assert "original_glcm_Contrast" in features and "original_firstorder_Mean" in features
    assert not any(k.startswith("diagnostics") for k in features)


def test_timings_and_repeat(capsys, study, tmp_path):
    image, mask, _ = study
    out_file = tmp_path / "features.json"
    code, out, err = run_cli(capsys, "extract", image, mask, "--timings", "--repeat", "3", "--out", out_file)
    assert code == 0, err
    assert out == ""
    # (a cold kernel cache adds the one-time "compiling kernels" note line)
    lines = [json.loads(line) for line in err.strip().splitlines() if line.startswith("{")]
    assert len(lines) == 3
    for timing in lines:
        stages = {k: v for k, v in timing.items() if k not in ("total", "wall")}
        assert {"compile", "validate", "discretise", "firstorder", "glcm", "glrlm"} <= set(stages)
        assert timing["total"] == pytest.approx(sum(stages.values()), abs=0.01)
        # the extraction's elapsed time, beside the stages' sum (which overlapping worker stages inflate)
        assert 0 < timing["wall"] >= timing["compile"]
    assert json.loads(out_file.read_text())["original_glrlm_RunPercentage"] > 0


def test_api_matches_cli(capsys, study):
    import spinerad

    image, mask, _ = study
    _, out, _ = run_cli(capsys, "extract", image, mask)
    assert json.loads(out) == spinerad.extract(image, mask)


def _bad(capsys, argv, *fragments, code=EXIT_INVALID):
    got, out, err = run_cli(capsys, *argv)
    assert got == code
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("spinerad: error:")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in err


def test_missing_file(capsys, study):
    _, mask, tmp = study
    _bad(capsys, ["extract", tmp / "nope.nrrd", mask], "image not found", "nope.nrrd")


def test_unreadable_file(capsys, study):
    image, _, tmp = study
    junk = tmp / "junk.nrrd"
    junk.write_bytes(b"this is not an image")
    _bad(capsys, ["extract", image, junk], "cannot read mask", "junk.nrrd")


def test_geometry_mismatch_size(capsys, study):
    image, _, tmp = study
    mask = _write(tmp / "small.nrrd", np.ones((6, 10, 11), dtype=np.uint8))
    _bad(capsys, ["extract", image, mask], "mask size", "image size")


def test_geometry_mismatch_spacing_and_origin(capsys, study):
    image, _, tmp = study
    m = np.zeros((6, 10, 12), dtype=np.uint8)
    m[1:4, 1:4, 1:4] = 1
    _bad(capsys, ["extract", image, _write(tmp / "sp.nrrd", m, spacing=(1.0, 1.0, 3.0))], "mask spacing")
    _bad(capsys, ["extract", image, _write(tmp / "or.nrrd", m, origin=(0.0, 5.0, 0.0))], "mask origin")


def test_geometry_tolerance_setting_accepts_small_shift(capsys, study):
    image, _, tmp = study
    m = np.zeros((6, 10, 12), dtype=np.uint8)
    m[1:4, 1:4, 1:4] = 1
    mask = _write(tmp / "shift.nrrd", m, origin=(0.0, 1e-4, 0.0))
    _bad(capsys, ["extract", image, mask], "mask origin")
    params = tmp / "tol.yaml"
    params.write_text("setting:\n  geometryTolerance: 0.001\n")
    code, _, err = run_cli(capsys, "extract", image, mask, "--params", params)
    assert code == 0, err


def test_label_absent(capsys, study):
    image, mask, _ = study
    _bad(capsys, ["extract", image, mask, "--label", "4"], "label 4 is not present", "labels present: 1")


def test_empty_mask(capsys, study):
    image, _, tmp = study
    mask = _write(tmp / "empty.nrrd", np.zeros((6, 10, 12), dtype=np.uint8))
    _bad(capsys, ["extract", image, mask], "mask is empty")


def test_one_voxel_roi(capsys, study):
    image, _, tmp = study
    m = np.zeros((6, 10, 12), dtype=np.uint8)
    m[2, 3, 4] = 1
    _bad(capsys, ["extract", image, _write(tmp / "one.nrrd", m)], "single voxel")


def test_one_dimensional_roi_below_minimum_dimensions(capsys, study):
    image, _, tmp = study
    m = np.zeros((6, 10, 12), dtype=np.uint8)
    m[2, 3, 2:9] = 1
    _bad(
        capsys, ["extract", image, _write(tmp / "line.nrrd", m)], "spans 1 dimension", "minimumROIDimensions"
    )


def test_nan_in_image(capsys, study):
    _, mask, tmp = study
    values = np.random.default_rng(2).normal(size=(6, 10, 12))
    values[2, 4, 5] = np.nan
    _bad(capsys, ["extract", _write(tmp / "nan.nrrd", values), mask], "NaN")


@pytest.mark.parametrize(
    "yaml_text, fragments",
    [
        ("setting:\n  binwidth: 5\n", ["unknown setting 'binwidth'", "binWidth"]),
        ("setting:\n  binWidth: wide\n", ["'binWidth' must be a number"]),
        ("setting:\n  binWidth: -1\n", ["'binWidth' must be > 0"]),
        ("setting:\n  label: 1.5\n", ["'label' must be an integer"]),
        ("setting:\n  weightingNorm: cosine\n", ["'weightingNorm' must be one of"]),
        ("settings:\n  binWidth: 5\n", ["unknown section 'settings'"]),
        ("featureClass:\n  glcm: [Contrastt]\n", ["unknown feature 'Contrastt'", "Contrast"]),
        ("featureClass:\n  texture:\n", ["unknown feature class 'texture'"]),
        ("setting: [1, 2\n", ["not valid YAML"]),
    ],
)
def test_bad_settings(capsys, study, yaml_text, fragments):
    image, mask, tmp = study
    params = tmp / "params.yaml"
    params.write_text(yaml_text)
    _bad(capsys, ["extract", image, mask, "--params", params], *fragments)


def test_missing_params_file(capsys, study):
    image, mask, tmp = study
    _bad(capsys, ["extract", image, mask, "--params", tmp / "none.yaml"], "parameter file not found")


def test_cuda_without_gpu_is_a_clear_error(capsys, study, monkeypatch):
    from spinerad.kernels import _cuda

    monkeypatch.setattr(_cuda, "cuda_unavailable_reason", lambda: "no CUDA GPU or driver was found")
    image, mask, _ = study
    _bad(capsys, ["extract", image, mask, "--device", "cuda"], "device 'cuda'", code=EXIT_DEVICE)


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["extract", "only-one-arg"])
    assert exc.value.code == EXIT_INVALID


def test_console_script_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "spinerad", "extract", str(tmp_path / "a.nrrd"), str(tmp_path / "b.nrrd")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == EXIT_INVALID
    assert result.stderr.strip() == f"spinerad: error: image not found: {tmp_path / 'a.nrrd'}"


def test_sample_study_runs_end_to_end(capsys, tmp_path):
    code, out, err = run_cli(capsys, "sample", tmp_path / "s")
    assert code == 0, err
    paths = json.loads(out)
    code, out, err = run_cli(capsys, "extract", paths["image"], paths["mask"])
    assert code == 0, err
    assert json.loads(out)["original_firstorder_Mean"] < 900  # lesion is darker than marrow

"""``spinerad train`` end to end on a simulated image cohort, and every way a cohort can be wrong."""

import csv
import json
import re

import numpy as np
import pytest

from spinerad.cli import EXIT_INVALID
from spinerad.models.errors import FeatureMismatch
from spinerad.models.registry import load_models
from spinerad.models.tasks import SIMULATED, TASKS
from spinerad.models.train import read_training_csv, train_from_csv

from .conftest import TASK, read_card, run_cli

CLINICAL = ("age", "sex", "smoking")


@pytest.fixture(scope="module")
def trained(cohort_dir, feature_cache, tmp_path_factory):
    """``spinerad train`` (radiomics only) on the simulated cohort; returns (model folder, stdout JSON)."""
    from spinerad.cli import main

    out = tmp_path_factory.mktemp("model")
    code = main(
        [
            "train",
            str(cohort_dir / "cohort.csv"),
            "--task",
            TASK,
            "--out",
            str(out),
            "--external-centers",
            "C",
            "--cache",
            str(feature_cache),
            "--ignore-columns",
            *CLINICAL,
        ]
    )
    assert code == 0
    return out


def test_train_end_to_end_reaches_the_bayes_optimum(trained, cohort_dir):
    card = read_card(trained)
    bayes = json.loads((cohort_dir / "spinerad-cohort.json").read_text())["bayes_optimal_auc"]
    internal = card["validation"]["internal"]
    # The latent score's Bayes-optimal AUC bounds what the images reveal; nested CV gets within its CI.
    assert internal["auc_ci95"][0] <= bayes <= internal["auc_ci95"][1], internal
    assert internal["method"].startswith("nested 5x3-fold")
    external = card["validation"]["external"]
    assert external["n"] == 30 and external["centres"] == ["C"]
    assert external["threshold"] == internal["threshold"] == card["threshold"]
    for key in (
        "auc",
        "auc_ci95",
        "sensitivity",
        "specificity",
        "brier",
        "calibration_slope",
        "calibration_intercept",
    ):
        assert key in internal and key in external
    assert card["trained_on"] == SIMULATED  # the simulator's sidecar marks the cohort
    assert card["training"]["development_centres"] == ["A", "B"]
    assert card["training"]["external_centres"] == ["C"]
    assert card["clinical_variables"] == []
    # what a byte-identical rebuild needs: the training libraries' versions, as installed
    import numpy
    import sklearn

    assert card["library_versions"]["numpy"] == numpy.__version__
    assert card["library_versions"]["scikit-learn"] == sklearn.__version__
    assert set(card["library_versions"]) >= {"spinerad", "skl2onnx", "onnx", "onnxruntime"}
    assert card["literature"]["published_auc_internal"] == TASKS[TASK].published_auc_internal
    assert (trained / "model.onnx").stat().st_size < 100_000
    assert "## Validation" in (trained / "card.md").read_text()


def test_trained_model_serves_predictions(trained, cohort_dir):
    import spinerad

    registry = load_models(trained)
    assert registry.tasks == [TASK]
    features = spinerad.extract(
        str(cohort_dir / "images/C000_image.nrrd"),
        str(cohort_dir / "images/C000_mask.nrrd"),
        params=registry.extraction_params,
    )
    (prediction,) = registry.predict(features, settings_hash=registry.extraction_params.settings_hash())
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["trained_on"] == SIMULATED


def test_combined_nomogram_and_onnx_equals_sklearn(cohort_dir, feature_cache, tmp_path):
    # With the clinical columns the model is a clinical-radiomics nomogram; its ONNX export, scored through
    # the registry from feature dicts, equals the scikit-learn pipeline on held-out (external) rows.
    model = train_from_csv(
        cohort_dir / "cohort.csv", TASK, out_dir=tmp_path, external_centres=("C",), cache_dir=feature_cache
    )
    assert [v.name for v in model.table.clinical] == list(CLINICAL)
    assert {"clinical:age", "clinical:sex=M", "clinical:smoking=former", "clinical:smoking=never"} <= set(
        model.feature_names
    )
    registry = load_models(tmp_path)
    table = model.table
    inputs = table.inputs()
    diffs = []
    for row in model.external:
        features = dict(zip(table.names, table.X[row], strict=True))
        features.update({n: float("nan") for n in table.extracted_names if n not in features})
        (prediction,) = registry.predict(features, clinical=table.clinical_values[row])
        diffs.append(abs(prediction["probability"] - model.predict_proba(inputs[row : row + 1])[0]))
    assert max(diffs) <= 1e-5
    with pytest.raises(FeatureMismatch, match="missing clinical value.*age, sex, smoking"):
        registry.predict(features)
    with pytest.raises(FeatureMismatch, match="smoking.*one of current, former, never"):
        registry.predict(features, clinical={"age": 60, "sex": "F", "smoking": "sometimes"})


def _copy_csv(cohort_dir, tmp_path, edit):
    with open(cohort_dir / "cohort.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    fieldnames = list(rows[0])
    rows, fieldnames = edit(rows, fieldnames)
    path = cohort_dir / f"edited-{tmp_path.name}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def unreadable_cohort(cohort_dir, tmp_path):
    """The cohort plus one case whose image file is not an image (CSV line 4 after the edit)."""
    garbage = cohort_dir / "images" / "broken_image.nrrd"
    garbage.write_bytes(b"this is not an image")

    def edit(rows, fieldnames):
        broken = dict(rows[0], case_id="X000", image="images/broken_image.nrrd")
        return rows[:2] + [broken] + rows[2:], fieldnames

    return _copy_csv(cohort_dir, tmp_path, edit)


def _train_cli(capsys, cohort, out, feature_cache, *options):
    """``spinerad train`` of ``cohort`` for TASK with the feature cache, the clinical columns ignored."""
    options = (
        "--task",
        TASK,
        "--out",
        out,
        "--cache",
        feature_cache,
        "--ignore-columns",
        *CLINICAL,
        *options,
    )
    return run_cli(capsys, "train", cohort, *options)


def test_unreadable_case_is_an_error_naming_its_line(capsys, unreadable_cohort, feature_cache, tmp_path):
    code, out, err = _train_cli(capsys, unreadable_cohort, tmp_path / "m", feature_cache)
    assert code == EXIT_INVALID and out == ""
    assert "1 of 151 case(s) could not be extracted" in err and "line 4" in err and "--skip-unreadable" in err
    assert err.count("spinerad: error:") == 1


def test_skip_unreadable_trains_without_it_and_says_so(capsys, unreadable_cohort, feature_cache, tmp_path):
    code, out, err = _train_cli(
        capsys,
        unreadable_cohort,
        tmp_path / "m",
        feature_cache,
        "--external-centers",
        "C",
        "--skip-unreadable",
    )
    assert code == 0, err
    assert "skipped cohort CSV line 4" in err
    card = read_card(tmp_path / "m")
    (skipped,) = card["training"]["skipped_cases"]
    assert skipped["line"] == 4 and "broken_image.nrrd" in skipped["error"]
    assert card["training"]["n_cases"] == 150
    assert any("skipped" in c for c in card["caveats"])
    assert "CSV line 4" in (tmp_path / "m" / "card.md").read_text()
    assert json.loads(out)["skipped_cases"] == card["training"]["skipped_cases"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda r, f: ([dict(r[0], label="2"), *r[1:]], f),
            r"line 2: label '2' in column 'label' is not binary",
        ),
        (
            lambda r, f: ([dict(r[0], label=""), *r[1:]], f),
            r"line 2: label empty in column 'label' is not binary",
        ),
        (lambda r, f: ([dict(x, label="0") for x in r], f), r"every case has label 'non-responder'"),
        (lambda r, f: (r, [c for c in f if c != "mask"]), r"lacks column\(s\) 'mask'"),
        (lambda r, f: (r, [c for c in f if c != "label"]), r"lacks column\(s\) 'label'"),
        (lambda r, f: ([dict(r[0], age=""), *r[1:]], f), r"line 2: clinical column 'age' is empty"),
        (
            lambda r, f: ([dict(x, code=x["case_id"]) for x in r], [*f, "code"]),
            r"clinical column 'code' has 150",
        ),
    ],
    ids=["label-2", "label-empty", "one-class", "no-mask", "no-label", "clinical-empty", "identifier"],
)
def test_bad_cohort_csv_errors_name_row_and_column(
    capsys, cohort_dir, feature_cache, tmp_path, edit, message
):
    path = _copy_csv(cohort_dir, tmp_path, edit)
    code, out, err = run_cli(
        capsys, "train", path, "--task", TASK, "--out", tmp_path / "m", "--cache", feature_cache
    )
    assert code == EXIT_INVALID and out == "", err
    assert err.count("\n") == 1 and err.startswith("spinerad: error: ")
    assert re.search(message, err), err


def test_labels_may_be_class_names(cohort_dir, tmp_path):
    def edit(rows, fieldnames):
        names = {"1": "Responder", "0": "non-responder"}
        return [dict(r, label=names[r["label"]]) for r in rows], fieldnames

    cohort = read_training_csv(_copy_csv(cohort_dir, tmp_path, edit), TASK)
    original = read_training_csv(cohort_dir / "cohort.csv", TASK)
    assert [r.label for r in cohort.rows] == [r.label for r in original.rows]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "egfr_mutaton"], "unknown task 'egfr_mutaton'; known tasks: egfr_mutation"),
        (
            ["--task", TASK, "--external-centers", "Z"],
            r"external centre\(s\) Z not in the cohort's 'center' column",
        ),
        (["--task", TASK, "--ignore-columns", "weight"], "--ignore-columns names column"),
        (
            ["--task", TASK, "--outer-folds", "40"],
            "40-fold nested cross-validation needs at least 80 of each",
        ),
    ],
)
def test_bad_arguments(capsys, cohort_dir, feature_cache, tmp_path, argv, message):
    code, out, err = run_cli(
        capsys, "train", cohort_dir / "cohort.csv", "--out", tmp_path / "m", "--cache", feature_cache, *argv
    )
    assert code == EXIT_INVALID, err
    assert re.search(message, err), err


def test_missing_cohort_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", tmp_path / "nope.csv", "--task", TASK, "--out", tmp_path / "m")
    assert code == EXIT_INVALID and "cohort CSV not found" in err


def test_simulated_cohort_is_reproducible(tmp_path):
    from spinerad.models.simulate import simulate_cohort

    a = simulate_cohort(tmp_path / "a", "her2_positive", 3, seed=5, centres=("A", "D"))
    b = simulate_cohort(tmp_path / "b", "her2_positive", 3, seed=5, centres=("A", "D"))
    assert a.read_text() == b.read_text()
    for name in ("A001_image.nrrd", "D002_mask.nrrd"):
        assert (tmp_path / "a/images" / name).read_bytes() == (tmp_path / "b/images" / name).read_bytes()
    labels = [row.split(",")[3] for row in a.read_text().splitlines()[1:]]
    assert set(labels) <= {"0", "1"} and np.isin(labels, ["0", "1"]).all()

"""The shipped demo models, the registry and ``spinerad predict``: contract, refusals, cards."""

import hashlib
import json
import math
import shutil

import pytest

from spinerad.cli import EXIT_INVALID
from spinerad.errors import InvalidInput
from spinerad.models.errors import FeatureMismatch, ModelLoadError, ModelMismatch, UnknownTask
from spinerad.models.registry import DEMO_DIR, load_models
from spinerad.models.tasks import SIMULATED, TASKS
from spinerad.sample import write_sample_study

from .conftest import run_cli

CONTRACT_KEYS = {
    "task",
    "probability",
    "label",
    "threshold",
    "model_id",
    "model_version",
    "validation",
    "top_contributions",
    "trained_on",
    "positive_class",
    "label_withheld",
    "interpretation",
    "applicability",
    "applicability_reasons",
    "warnings",
}


def test_all_seven_tasks_are_shipped(demo_registry):
    assert demo_registry.tasks == list(TASKS)
    assert demo_registry.extraction_params.enabled_classes == {
        "firstorder": None,
        "glcm": None,
        "glrlm": None,
    }
    total = sum(p.stat().st_size for p in DEMO_DIR.rglob("*") if p.is_file())
    assert total < 5_000_000


@pytest.mark.parametrize("task", list(TASKS))
def test_every_card_has_the_comparator_row_and_the_statement(demo_registry, task):
    card = demo_registry.card(task)
    spec = TASKS[task]
    literature = card["literature"]
    assert literature["task"] == task
    assert literature["published_auc_internal"] == spec.published_auc_internal
    assert literature["published_auc_external"] == spec.published_auc_external
    assert literature["review"]["weighted_mean_auc_internal"] == 0.849
    assert card["trained_on"] == SIMULATED
    markdown = (DEMO_DIR / task / "card.md").read_text()
    assert f"trained_on: {SIMULATED}" in markdown
    assert f"| {task} | {spec.predicts} | {spec.primary_tumour} | {spec.published_auc_internal}" in markdown
    onnx = (DEMO_DIR / task / "model.onnx").read_bytes()
    assert hashlib.sha256(onnx).hexdigest() == card["onnx"]["sha256"]
    assert card["extraction"]["settings_hash"] == demo_registry.extraction_params.settings_hash()
    for key in ("internal", "external"):
        metrics = card["validation"][key]
        assert metrics["auc_ci95"][0] <= metrics["auc"] <= metrics["auc_ci95"][1]
    assert card["training"]["external_centres"] == ["C", "D"]


def test_predict_contract(demo_registry, sample_features):
    settings_hash = demo_registry.extraction_params.settings_hash()
    # The sample study is another simulator's: most models find it outside their domain; ask for labels.
    predictions = demo_registry.predict(
        sample_features, settings_hash=settings_hash, show_label_outside_domain=True
    )
    assert [p["task"] for p in predictions] == list(TASKS)
    for prediction in predictions:
        assert CONTRACT_KEYS <= set(prediction)
        card = demo_registry.card(prediction["task"])
        assert 0.0 <= prediction["probability"] <= 1.0
        positive = prediction["probability"] >= prediction["threshold"]
        assert prediction["label"] == (
            f"above threshold for {card['positive_class']}"
            if positive
            else f"below threshold for {card['positive_class']}"
        )
        assert prediction["positive_class"] == card["positive_class"]
        assert prediction["threshold"] == card["threshold"]
        assert (
            prediction["model_id"] == card["model_id"]
            and prediction["model_version"] == card["model_version"]
        )
        assert prediction["validation"] == card["validation_summary"]
        assert prediction["trained_on"] == SIMULATED
        # Linear models: contribution = coefficient x z; all terms + intercept = logit(probability).
        terms = {
            f["feature"]: f["coefficient"]
            * (sample_features[f["feature"]] - f["training_mean"])
            / f["training_sd"]
            for f in card["features"]
        }
        logit = math.log(prediction["probability"] / (1 - prediction["probability"]))
        assert card["intercept"] + sum(terms.values()) == pytest.approx(logit, abs=1e-6)
        top = prediction["top_contributions"]
        assert len(top) == min(5, len(terms))
        for item in top:
            assert set(item) == {"feature", "contribution"}
            assert item["contribution"] == pytest.approx(terms[item["feature"]], abs=1e-9)
        assert [abs(i["contribution"]) for i in top] == sorted(
            (abs(i["contribution"]) for i in top), reverse=True
        )


def test_predict_subset_and_unknown_task(demo_registry, sample_features):
    (only,) = demo_registry.predict(sample_features, tasks=["her2_positive"])
    assert only["task"] == "her2_positive"
    with pytest.raises(UnknownTask, match="'her3_positive'; not a known task"):
        demo_registry.predict(sample_features, tasks=["her3_positive"])
    assert issubclass(UnknownTask, InvalidInput) and issubclass(ModelMismatch, InvalidInput)


def test_settings_hash_mismatch_is_refused(demo_registry, sample_features):
    with pytest.raises(ModelMismatch, match="settings hash 000000000000…, the models need"):
        demo_registry.predict(sample_features, settings_hash="0" * 64)


def test_missing_extra_and_undefined_features(demo_registry, sample_features):
    missing = dict(sample_features)
    del missing["original_glcm_Contrast"]
    with pytest.raises(FeatureMismatch, match="missing 1 feature\\(s\\): original_glcm_Contrast"):
        demo_registry.predict(missing)
    extra = dict(sample_features, original_shape_Sphericity=0.5)
    with pytest.raises(FeatureMismatch, match="1 unexpected feature\\(s\\): original_shape_Sphericity"):
        demo_registry.predict(extra)
    used = demo_registry.card("egfr_mutation")["features"][0]["feature"]
    with pytest.raises(FeatureMismatch, match=f"feature {used} is nan for this ROI"):
        demo_registry.predict(dict(sample_features, **{used: float("nan")}), tasks=["egfr_mutation"])


def _retag_settings(folder, bin_width):
    """Give an exported model other extraction parameters (consistent hash) by editing its ONNX metadata."""
    import onnx

    from spinerad.settings import load_params

    path = folder / "model.onnx"
    model = onnx.load(str(path))
    props = {p.key: p for p in model.metadata_props}
    params = json.loads(props["spinerad.extraction_params"].value)
    params["setting"]["binWidth"] = bin_width
    props["spinerad.extraction_params"].value = json.dumps(params)
    props["spinerad.settings_hash"].value = load_params(params).settings_hash()
    onnx.save(model, str(path))


def test_mixed_models_folder_is_refused(tmp_path):
    for task in ("egfr_mutation", "ki67_high"):
        shutil.copytree(DEMO_DIR / task, tmp_path / task)
    assert load_models(tmp_path).tasks == ["egfr_mutation", "ki67_high"]
    _retag_settings(tmp_path / "ki67_high", 20)
    with pytest.raises(ModelMismatch, match="trained on different extraction settings"):
        load_models(tmp_path)


def test_broken_models_folders(tmp_path):
    with pytest.raises(ModelLoadError, match="models folder not found"):
        load_models(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="no model"):
        load_models(tmp_path)
    shutil.copytree(DEMO_DIR / "her2_positive", tmp_path / "a")
    shutil.copytree(DEMO_DIR / "her2_positive", tmp_path / "b")
    with pytest.raises(ModelLoadError, match="two models for task her2_positive"):
        load_models(tmp_path)
    shutil.rmtree(tmp_path / "b")
    (tmp_path / "a" / "card.json").unlink()
    with pytest.raises(ModelLoadError, match="has no card.json"):
        load_models(tmp_path)
    (tmp_path / "a" / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError, match="cannot load ONNX model"):
        load_models(tmp_path)


@pytest.fixture(scope="module")
def sample_study(tmp_path_factory):
    return write_sample_study(tmp_path_factory.mktemp("sample"))


def test_cli_predict_json(capsys, sample_study, demo_registry):
    image, mask = sample_study
    code, out, err = run_cli(capsys, "predict", image, mask)
    assert code == 0, err
    result = json.loads(out)
    assert result["settings_hash"] == demo_registry.extraction_params.settings_hash()
    assert [p["task"] for p in result["predictions"]] == list(TASKS)
    for prediction in result["predictions"]:
        assert CONTRACT_KEYS <= set(prediction)
        assert prediction["trained_on"] == "simulated cohort — not for clinical use"
        assert isinstance(prediction["probability"], float)
        assert prediction["applicability"] in ("inside", "outside")
    assert "simulated cohort — not for clinical use" in result["warnings"][0]
    assert err.startswith(f"spinerad: warning: {result['warnings'][0]}\n")


def test_cli_predict_options_and_errors(capsys, sample_study, tmp_path):
    image, mask = sample_study
    out_file = tmp_path / "p.json"
    code, out, err = run_cli(
        capsys,
        "predict",
        image,
        mask,
        "--tasks",
        "ki67_high,her2_positive",
        "--models",
        DEMO_DIR,
        "--out",
        out_file,
    )
    assert code == 0 and out == "", err
    assert [p["task"] for p in json.loads(out_file.read_text())["predictions"]] == [
        "ki67_high",
        "her2_positive",
    ]

    code, out, err = run_cli(capsys, "predict", image, mask, "--tasks", "egfr")
    assert code == EXIT_INVALID and out == "" and "no model for task 'egfr'; not a known task" in err

    params = tmp_path / "params.yaml"
    params.write_text("setting: {binWidth: 10}\nfeatureClass: {firstorder: , glcm: , glrlm: }\n")
    code, out, err = run_cli(capsys, "predict", image, mask, "--params", params)
    assert code == EXIT_INVALID and "settings hash" in err and err.count("\n") == 1

    code, out, err = run_cli(capsys, "predict", image, mask, "--clinical", "age")
    assert code == EXIT_INVALID and "--clinical expects NAME=VALUE" in err

    code, out, err = run_cli(capsys, "predict", image, mask, "--models", tmp_path)
    assert code == EXIT_INVALID and "no model" in err

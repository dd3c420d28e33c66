"""ONNX export of a trained marker model (skl2onnx), with everything a prediction needs in its metadata.

A model folder holds ``model.onnx``, ``card.json`` and ``card.md``. The ONNX graph is the fitted
``StandardScaler -> classifier`` on the model's selected inputs (radiomics features, then encoded clinical
columns); input ``features`` (double, ``[N, k]``), outputs ``label`` and ``probabilities`` (``[N, 2]``;
column 1 is the positive class). Its ``metadata_props`` (keys ``spinerad.*``, JSON values) carry the task, the
input names, the extraction parameters and their settings hash, the threshold, the metrics and the terms
needed for per-feature contributions, so an ONNX file alone is enough to score and to refuse wrong input.
"""

import hashlib
import json
import warnings
from pathlib import Path

from .. import __version__
from ..errors import SpineradError
from ..settings import SETTINGS_SCHEMA, load_params
from .cards import build_card, render_markdown
from .errors import ModelLoadError
from .tasks import get_task

#: ONNX input name of every spinerad model.
INPUT_NAME = "features"
MODEL_FILE, CARD_JSON, CARD_MD = "model.onnx", "card.json", "card.md"


def params_to_mapping(params):
    """Return :class:`ExtractionParams` as a PyRadiomics-format mapping :func:`load_params` reads back."""
    attribute_to_key = {spec.attribute: key for key, spec in SETTINGS_SCHEMA.items()}

    def plain(value):
        return list(value) if isinstance(value, tuple) else value

    mapping = {
        "setting": {k: plain(v) for k, v in params.settings.to_pyradiomics().items()},
        "imageType": {
            name: {attribute_to_key.get(attr, attr): plain(value) for attr, value in custom}
            for name, custom in params.image_types
        },
        "featureClass": {
            name: (list(names) if names is not None else None) for name, names in params.feature_classes
        },
    }
    if load_params(mapping).settings_hash() != params.settings_hash():
        raise AssertionError("extraction parameters do not round-trip through their PyRadiomics mapping")
    return mapping


def _linear_terms(model):
    classifier = model.export.named_steps["classifier"]
    if model.config.classifier != "logistic":
        return None
    return {
        "intercept": float(classifier.intercept_[0]),
        "coefficients": [float(c) for c in classifier.coef_[0]],
    }


def to_onnx(model):
    """Convert a :class:`~spinerad.models.train.TrainedModel` to an ONNX ``ModelProto`` (no metadata yet)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    classifier = model.export.named_steps["classifier"]
    with warnings.catch_warnings():
        # skl2onnx reads SVC.probA_/probB_, deprecated in scikit-learn 1.9; the values are still right.
        warnings.filterwarnings("ignore", message=".*prob[AB]_.*", category=FutureWarning)
        onx = convert_sklearn(
            model.export,
            name=f"spinerad-{model.task}",
            initial_types=[(INPUT_NAME, DoubleTensorType([None, len(model.columns)]))],
            options={id(classifier): {"zipmap": False}},
        )
    return onx


def _attach_metadata(onx, metadata):
    del onx.metadata_props[:]
    for key, value in metadata.items():
        entry = onx.metadata_props.add()
        entry.key = f"spinerad.{key}"
        entry.value = value if isinstance(value, str) else json.dumps(value)


def model_metadata(model, model_id):
    """The ``spinerad.*`` metadata of a model (values JSON-encoded unless plain strings)."""
    spec = get_task(model.task)
    params = model.table.params
    _, mean, scale = _zscore(model)
    return {
        "format": "1",
        "task": model.task,
        "model_id": model_id,
        "model_version": model.model_version,
        "spinerad_version": __version__,
        "trained_on": model.trained_on,
        "classes": [spec.negative, spec.positive],
        "feature_names": model.feature_names,
        "extracted_features": list(model.table.extracted_names),
        "clinical": [v.as_dict() for v in model.table.clinical],
        "extraction_params": params_to_mapping(params),
        "settings_hash": params.settings_hash(),
        "threshold": model.threshold,
        "classifier": model.config.classifier,
        "zscore": {"mean": [float(v) for v in mean], "scale": [float(v) for v in scale]},
        "linear": _linear_terms(model),
        "metrics": model.validation,
        "applicability_domain": model.domain,
    }


def _zscore(model):
    scaler = model.export.named_steps["zscore"]
    return model.columns, scaler.mean_, scaler.scale_


def save_model(model, out_dir):
    """Write ``model.onnx``, ``card.json`` and ``card.md`` of ``model`` into ``out_dir``; return the card."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onx = to_onnx(model)
    model_id = f"{model.task}-{hashlib.sha256(onx.SerializeToString()).hexdigest()[:12]}"
    metadata = model_metadata(model, model_id)
    _attach_metadata(onx, metadata)
    blob = onx.SerializeToString()
    (out_dir / MODEL_FILE).write_bytes(blob)
    card = build_card(model, metadata, onnx_sha256=hashlib.sha256(blob).hexdigest(), onnx_bytes=len(blob))
    (out_dir / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / CARD_MD).write_text(render_markdown(card), encoding="utf-8")
    return card


def decode_metadata(raw, path):
    """Decode ``spinerad.*`` entries; :class:`ModelLoadError` when the file is not a spinerad model."""
    if "spinerad.task" not in raw:
        raise ModelLoadError(f"{path} is not a spinerad model (no spinerad.task metadata)")
    out = {}
    for key, value in raw.items():
        if not key.startswith("spinerad."):
            continue
        name = key[len("spinerad.") :]
        if name in (
            "task",
            "model_id",
            "model_version",
            "spinerad_version",
            "trained_on",
            "settings_hash",
            "classifier",
            "format",
        ):
            out[name] = value
            continue
        try:
            out[name] = json.loads(value)
        except ValueError:
            raise ModelLoadError(f"{path}: metadata {key} is not valid JSON") from None
    return out


def extraction_params_of(metadata):
    """The :class:`ExtractionParams` a model's features must be extracted with (checked against its hash)."""
    try:
        params = load_params(metadata["extraction_params"])
    except SpineradError as exc:
        raise ModelLoadError(
            f"model {metadata.get('model_id')}: its extraction parameters are invalid: {exc}"
        ) from None
    current = params.settings_hash()
    if current != metadata["settings_hash"]:
        # The hash covers every Settings field: a spinerad that added or changed one hashes the same file
        # differently. Refuse rather than score features whose meaning may have changed.
        raise ModelLoadError(
            f"model {metadata.get('model_id')} was trained with settings hash "
            f"{metadata['settings_hash'][:12]}…, "
            f"but this spinerad hashes its extraction parameters to {current[:12]}…; retrain it "
            f"(the demo models: spinerad train-demo)"
        )
    return params

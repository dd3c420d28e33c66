"""The model registry: a folder of exported marker models, loaded once and scored with onnxruntime.

A models folder holds one sub-folder per task (``<task>/model.onnx``, ``card.json``, ``card.md``), or is
itself one model folder (what ``spinerad train --out`` writes). All models of a registry must share one
extraction setting, so one extraction serves every task; a mixed folder is refused when it is loaded.

``ModelRegistry.predict`` is what ``spinerad predict`` and the gRPC service call::

    registry = load_models()                      # the shipped demo models
    features = spinerad.extract(image, mask, params=registry.extraction_params)
    registry.predict(features, settings_hash=registry.extraction_params.settings_hash())
"""

import json
import math
from pathlib import Path

import numpy as np

from .applicability import Domain, normalise_modality
from .cards import SIMULATED_WARNING
from .clinical import ClinicalVariable
from .errors import FeatureMismatch, ModelLoadError, ModelMismatch, UnknownTask
from .export import CARD_JSON, INPUT_NAME, MODEL_FILE, decode_metadata, extraction_params_of
from .notices import UNKNOWN_MODALITY_WARNING, study_warnings, unused_clinical_warning
from .tasks import SIMULATED, TASKS

#: The shipped demonstration models.
DEMO_DIR = Path(__file__).resolve().parent / "demo"
#: How many feature contributions a prediction reports.
TOP_CONTRIBUTIONS = 5


def _names(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _logit(p, eps=1e-12):
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p / (1.0 - p))


class Model:
    """One loaded model: its ONNX session, metadata and card."""

    def __init__(self, folder, session, metadata, card):
        self.folder = folder
        self.session = session
        self.metadata = metadata
        self.card = card
        self.task = metadata["task"]
        self.params = extraction_params_of(metadata)
        self.feature_names = list(metadata["feature_names"])
        self.extracted = list(metadata["extracted_features"])
        self._extracted_set = set(self.extracted)
        self.clinical = [ClinicalVariable.from_dict(c) for c in metadata["clinical"]]
        self.mean = np.array(metadata["zscore"]["mean"], dtype=np.float64)
        self.scale = np.array(metadata["zscore"]["scale"], dtype=np.float64)
        self.linear = metadata.get("linear")
        self.threshold = float(metadata["threshold"])
        self.negative, self.positive = metadata["classes"]
        # The standing warning comes from the card (a model trained on simulated data says so there);
        # cards older than the field: a simulated cohort is still recognised by its trained_on statement.
        if "warning" in card:
            self.warning = card["warning"]
        else:
            self.warning = SIMULATED_WARNING if metadata["trained_on"] == SIMULATED else None
        self.simulated = bool(card.get("simulated", metadata["trained_on"] == SIMULATED))
        domain = metadata.get("applicability_domain") or card.get("applicability_domain")
        try:
            self.domain = Domain(domain) if domain else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"model {self.task}: its applicability domain is unreadable: {exc}"
            ) from None
        if self.domain is not None:
            unknown = [f for f in self.domain.features if f not in self._extracted_set]
            if unknown:
                raise ModelLoadError(
                    f"model {self.task}: its applicability domain names features the extraction does not "
                    f"give: {_names(unknown)}"
                )

    @property
    def clinical_names(self):
        """Names of the clinical values this model uses."""
        return [v.name for v in self.clinical]

    def inputs(self, features, clinical):
        """Return the input row from features and clinical values; :class:`FeatureMismatch` if wrong."""
        if not isinstance(features, dict):
            raise FeatureMismatch(
                f"features must be a mapping of feature name to value, got {type(features).__name__}"
            )
        missing = [n for n in self.extracted if n not in features]
        extra = sorted(n for n in features if n not in self._extracted_set)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} feature(s): {_names(missing)}")
            if extra:
                parts.append(f"{len(extra)} unexpected feature(s): {_names(extra)}")
            raise FeatureMismatch(
                f"model {self.task}: {'; '.join(parts)} (extract with the models' extraction parameters)"
            )
        values = {}
        for name in self.feature_names:
            if name.startswith("clinical:"):
                continue
            try:
                value = float(features[name])
            except (TypeError, ValueError):
                raise FeatureMismatch(
                    f"model {self.task}: feature {name} is not a number: {features[name]!r}"
                ) from None
            if not math.isfinite(value):
                raise FeatureMismatch(
                    f"model {self.task}: feature {name} is {value} for this ROI (undefined); "
                    f"the model needs it"
                )
            values[name] = value
        if self.clinical:
            clinical = clinical or {}
            absent = [v.name for v in self.clinical if v.name not in clinical]
            if absent:
                raise FeatureMismatch(
                    f"model {self.task} is a clinical-radiomics nomogram: "
                    f"missing clinical value(s) {', '.join(absent)}"
                )
            for variable in self.clinical:
                try:
                    encoded = variable.encode(clinical[variable.name])
                except ValueError as exc:
                    raise FeatureMismatch(f"model {self.task}: {exc}") from None
                values.update(zip(variable.columns, encoded, strict=True))
        return np.array([values[name] for name in self.feature_names], dtype=np.float64)

    def probabilities(self, rows):
        """Positive-class probabilities of input rows ``(n, k)``."""
        rows = np.ascontiguousarray(np.atleast_2d(rows), dtype=np.float64)
        return self.session.run(["probabilities"], {INPUT_NAME: rows})[0][:, 1].astype(np.float64)

    def contributions(self, x, probability):
        """Per-input contributions in logit units, largest magnitude first (:data:`TOP_CONTRIBUTIONS`)."""
        z = (x - self.mean) / self.scale
        if self.linear:
            values = np.array(self.linear["coefficients"]) * z
        else:
            occluded = np.repeat(x[None, :], x.size, axis=0)
            occluded[np.arange(x.size), np.arange(x.size)] = self.mean
            values = _logit(probability) - _logit(self.probabilities(occluded))
        order = np.argsort(-np.abs(values), kind="stable")[:TOP_CONTRIBUTIONS]
        return [{"feature": self.feature_names[i], "contribution": float(values[i])} for i in order]

    def applicability(self, features, modality):
        """``(applicability, reasons, distance)`` of a study's features (see :mod:`.applicability`)."""
        if self.domain is None:
            return "unknown", ["the model card records no applicability domain (retrain the model)"], None
        return self.domain.assess(features, modality)

    def predict(
        self, features, clinical=None, modality=None, show_label_outside_domain=False, extra_warnings=()
    ):
        """One prediction dict (see :meth:`ModelRegistry.predict`)."""
        x = self.inputs(features, clinical)
        probability = float(self.probabilities(x)[0])
        above = probability >= self.threshold
        label = f"{'above' if above else 'below'} threshold for {self.positive}"
        applicability, reasons, distance = self.applicability(features, modality)
        withheld = applicability == "outside" and not show_label_outside_domain
        summary = self.card["validation_summary"]
        auc = f"validation AUC {summary['internal_auc']:.3f} internal"
        if summary.get("external_auc") is not None:
            auc += f", {summary['external_auc']:.3f} external"
        interpretation = (
            f"probability {probability:.3f} of {self.positive} (threshold {self.threshold:.3f}; {auc}): "
            + ("label withheld, the study is outside the model's applicability domain" if withheld else label)
            + ". A model output, not a diagnosis."
        )
        warnings = []
        if self.warning:
            warnings.append(f"{self.task}: {self.warning}")
        if applicability == "outside":
            warnings.append(
                f"{self.task}: the study is outside the model's applicability domain ({'; '.join(reasons)}); "
                + ("its label is shown on request" if not withheld else "label withheld")
            )
        elif applicability == "unknown":
            warnings.append(f"{self.task}: applicability unknown: {reasons[0]}")
        warnings.extend(extra_warnings)
        return {
            "task": self.task,
            "probability": probability,
            "label": None if withheld else label,
            "label_withheld": withheld,
            "positive_class": self.positive,
            "threshold": self.threshold,
            "interpretation": interpretation,
            "applicability": applicability,
            "applicability_reasons": reasons,
            "domain_distance": distance,
            "domain_threshold": self.domain.threshold if self.domain is not None else None,
            "domain_modality": self.domain.modality if self.domain is not None else None,
            "study_modality": modality,
            "model_id": self.metadata["model_id"],
            "model_version": self.metadata["model_version"],
            "validation": dict(summary),
            "top_contributions": self.contributions(x, probability),
            "trained_on": self.metadata["trained_on"],
            "warnings": warnings,
        }


class ModelRegistry:
    """Loaded models by task, all sharing one extraction setting."""

    def __init__(self, folder, models):
        self.folder = Path(folder)
        self._models = dict(sorted(models.items(), key=lambda kv: list(TASKS).index(kv[0])))
        first = next(iter(self._models.values()))
        self._params = first.params
        self.settings_hash = first.metadata["settings_hash"]

    def __repr__(self):
        return f"ModelRegistry({str(self.folder)!r}, tasks={self.tasks})"

    @property
    def tasks(self):
        """Task ids of the loaded models, in the published table's order."""
        return list(self._models)

    @property
    def extraction_params(self):
        """The :class:`~spinerad.settings.ExtractionParams` every model's features must come from."""
        return self._params

    def model(self, task):
        """The loaded :class:`Model` of ``task``."""
        if task not in self._models:
            known = "; not a known task" if task not in TASKS else " in this registry"
            raise UnknownTask(f"no model for task {task!r}{known} (available: {', '.join(self._models)})")
        return self._models[task]

    def card(self, task):
        """The JSON model card of ``task`` (a copy)."""
        return json.loads(json.dumps(self.model(task).card))

    def check_settings_hash(self, settings_hash):
        """Refuse (:class:`~spinerad.models.errors.ModelMismatch`) features extracted with other settings."""
        if settings_hash != self.settings_hash:
            raise ModelMismatch(
                f"features were extracted with settings hash {str(settings_hash)[:12]}…, the models need "
                f"{self.settings_hash[:12]}… (extract with the models' extraction parameters)"
            )

    def _selected(self, tasks):
        if tasks is None:
            return self.tasks
        if isinstance(tasks, str):
            tasks = [tasks]
        selected = list(dict.fromkeys(tasks))
        for task in selected:
            self.model(task)
        return selected

    def unused_clinical(self, clinical, tasks=None):
        """Names of the ``clinical`` values no model of ``tasks`` (None: all) uses, sorted."""
        used = {name for task in self._selected(tasks) for name in self._models[task].clinical_names}
        return sorted(name for name in (clinical or {}) if name not in used)

    def predict(
        self,
        features,
        tasks=None,
        clinical=None,
        settings_hash=None,
        modality=None,
        show_label_outside_domain=False,
        extra_warnings=(),
        report_unused_clinical=True,
    ):
        """Score one ROI's features with the models of ``tasks`` (None: all).

        Parameters
        ----------
        features : dict
            ``{feature name: value}`` as :func:`spinerad.extract` returns it with :attr:`extraction_params`.
        tasks : list of str or None
        clinical : dict or None
            Clinical values (``{"age": 61, "sex": "F"}``) for clinical-radiomics models. Values no model of
            ``tasks`` uses are named in every prediction's ``warnings``.
        settings_hash : str or None
            The settings hash of the parameters the features were extracted with; refused when it differs
            from the models' (:class:`~spinerad.models.errors.ModelMismatch`).
        modality : str or None
            The study's modality (DICOM code: ``MR``, ``CT``, ...; see
            :func:`spinerad.models.applicability.study_modality`); None: unknown, only the feature distance
            is checked.
        show_label_outside_domain : bool
            Give the label even when the study is outside a model's applicability domain.
        extra_warnings : sequence of str
            Lines added to every prediction's ``warnings``.
        report_unused_clinical : bool
            Name the clinical values no model of ``tasks`` uses in the warnings (a caller that scores a
            study's tasks one by one reports them itself).

        Returns
        -------
        list of dict
            Per task: ``task``, ``probability`` (of ``positive_class``), ``label`` ("above threshold for
            <positive class>" / "below threshold for <positive class>"; None when withheld),
            ``label_withheld``,
            ``positive_class``, ``threshold``, ``interpretation`` (one sentence: probability, threshold,
            validation AUC), ``applicability`` ("inside" / "outside"; "unknown" for a card without a domain),
            ``applicability_reasons``, ``domain_distance``, ``domain_threshold``, ``domain_modality``,
            ``study_modality``, ``model_id``, ``model_version``, ``validation`` (the card's summary),
            ``top_contributions`` (``[{"feature", "contribution"}]``), ``trained_on``, ``warnings``.
        """
        selected = self._selected(tasks)
        if settings_hash is not None:
            self.check_settings_hash(settings_hash)
        modality = normalise_modality(modality)
        extra = list(extra_warnings)
        unused = self.unused_clinical(clinical, selected) if report_unused_clinical else []
        if unused:
            extra.append(unused_clinical_warning(unused))
        if modality is None and any(self._models[t].domain is not None for t in selected):
            extra.append(UNKNOWN_MODALITY_WARNING)
        return [
            self._models[task].predict(features, clinical, modality, show_label_outside_domain, extra)
            for task in selected
        ]


__all__ = [
    "DEMO_DIR",
    "Model",
    "ModelRegistry",
    "load_model",
    "load_models",
    "study_warnings",
    "unused_clinical_warning",
]


def _model_folders(folder):
    if (folder / MODEL_FILE).is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file())


def load_model(folder, session_options=None):
    """Load one model folder (``model.onnx`` + ``card.json``)."""
    import onnxruntime as ort

    folder = Path(folder)
    path = folder / MODEL_FILE
    if session_options is None:
        session_options = ort.SessionOptions()
        # One ROI at a time: a tiny graph gains nothing from a thread pool, and the host may be shared.
        session_options.intra_op_num_threads = 1
        session_options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelLoadError(f"cannot load ONNX model {path}: {' '.join(str(exc).split())[:200]}") from None
    metadata = decode_metadata(session.get_modelmeta().custom_metadata_map, path)
    if metadata.get("task") not in TASKS:
        raise ModelLoadError(f"{path}: unknown task {metadata.get('task')!r} in its metadata")
    try:
        card = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))  # cards hold non-ASCII
    except FileNotFoundError:
        raise ModelLoadError(f"model folder {folder} has no {CARD_JSON}") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {folder / CARD_JSON}: {exc}") from None
    if card.get("model_id") != metadata["model_id"]:
        raise ModelLoadError(
            f"{folder / CARD_JSON} describes model {card.get('model_id')!r}, "
            f"but {path} is {metadata['model_id']!r}"
        )
    return Model(folder, session, metadata, card)


def load_models(models_dir=None):
    """Load every model under ``models_dir`` (None: the shipped demo models) into a :class:`ModelRegistry`.

    Raises
    ------
    ModelLoadError
        The folder is missing, holds no model, a model is unreadable, or two models share a task.
    ModelMismatch
        The models were trained on different extraction settings.
    """
    folder = Path(models_dir) if models_dir is not None else DEMO_DIR
    if not folder.is_dir():
        raise ModelLoadError(f"models folder not found: {folder}")
    models = {}
    for sub in _model_folders(folder):
        model = load_model(sub)
        if model.task in models:
            raise ModelLoadError(
                f"two models for task {model.task} in {folder}: "
                f"{models[model.task].folder.name} and {sub.name}"
            )
        models[model.task] = model
    if not models:
        raise ModelLoadError(f"no model ({MODEL_FILE}) in {folder} or its sub-folders")
    hashes = {}
    for task, model in models.items():
        hashes.setdefault(model.metadata["settings_hash"], []).append(task)
    if len(hashes) > 1:
        groups = "; ".join(f"{_names(tasks, 3)}: {h[:12]}…" for h, tasks in hashes.items())
        raise ModelMismatch(
            f"models in {folder} were trained on different extraction settings ({groups}); "
            f"keep models of one extraction setting per folder"
        )
    return ModelRegistry(folder, models)

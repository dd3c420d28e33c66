"""Training a marker model: cohort CSV -> features -> nested cross-validation -> final model -> ONNX + card.

The steps follow the radiomics literature: features by the extraction engine (cached per case), a near-
constant filter, z-scoring, a correlation filter, a univariate Mann-Whitney test, LASSO-logistic selection and
a classifier (logistic regression by default; SVM or random forest selectable). Optional clinical columns
(age, sex, smoking, ...) join the selected radiomics features in the classifier, making a combined
clinical-radiomics nomogram.

Internal validation is *nested* cross-validation: every selection step and the LASSO penalty are fitted
inside each outer training fold, so the out-of-fold probabilities never saw their own rows and the internal
AUC is not optimistic. External validation scores the final model (fitted on the development centres) on
held-out centres at the threshold fixed during development.

This module holds the nested cross-validation and the final model; the steps before it have their own
modules: :mod:`~spinerad.models.training_csv` (the CSV), :mod:`~spinerad.models.clinical` (clinical
variables), :mod:`~spinerad.models.feature_table` (cached extraction into a table) and
:mod:`~spinerad.models.sklearn_pipeline` (selection + classifier, and its exportable form). Their names are
importable from here too.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from ..settings import ExtractionParams, load_params
from .clinical import MAX_LEVELS, ClinicalVariable, clinical_variables, encode_clinical
from .errors import CohortError
from .feature_table import FeatureTable, cohort_table, extract_cohort_features
from .metrics import binary_metrics
from .sklearn_pipeline import (
    CLASSIFIERS,
    TrainConfig,
    build_pipeline,
    export_pipeline,
    make_classifier,
    selected_inputs,
)
from .tasks import SIMULATED, get_task
from .training_csv import ID_COLUMNS, CohortRow, TrainingCohort, parse_label, read_training_csv


def _check_classes(y, folds, what):
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2 * folds:
        raise CohortError(
            f"{what} has {counts[1]} positive and {counts[0]} negative case(s); {folds}-fold nested "
            f"cross-validation needs at least {2 * folds} of each"
        )


def nested_cv(X, y, n_radiomics, config):
    """Out-of-fold probabilities of nested CV and the selected input columns of every outer fold."""
    outer = StratifiedKFold(config.outer_folds, shuffle=True, random_state=config.seed)
    probabilities = np.empty(y.size)
    selections = []
    template = build_pipeline(n_radiomics, X.shape[1] - n_radiomics, config)
    for train, test in outer.split(X, y):
        pipeline = clone(template).fit(X[train], y[train])
        probabilities[test] = pipeline.predict_proba(X[test])[:, 1]
        selections.append(selected_inputs(pipeline, n_radiomics)[0])
    return probabilities, selections


@dataclass
class TrainedModel:
    """A fitted, validated model and everything its card and ONNX export need."""

    task: str
    config: TrainConfig
    table: FeatureTable
    pipeline: Pipeline
    columns: np.ndarray
    export: Pipeline
    input_names: list
    threshold: float
    validation: dict
    selection_frequency: dict
    development: np.ndarray
    external: np.ndarray
    trained_on: str
    model_version: str = "1"
    #: The card's ``applicability_domain`` (:func:`spinerad.models.applicability.fit_domain`).
    domain: dict = None

    @property
    def feature_names(self):
        """Names of the model's inputs, in order (selected radiomics features, then clinical columns)."""
        return [self.input_names[i] for i in self.columns]

    def predict_proba(self, inputs):
        """Probability of the positive class from full input rows (radiomics + clinical columns)."""
        return self.pipeline.predict_proba(np.asarray(inputs, dtype=np.float64))[:, 1]


def training_domain(table, columns, modality=None, field_strength=None, sequence=None):
    """The applicability domain of a model with input ``columns`` (indices into ``table.inputs()``).

    The domain features are the model's selected radiomics features plus the intensity descriptors
    (:data:`~spinerad.models.applicability.INTENSITY_DESCRIPTORS`) the extraction computed; clinical inputs
    do not enter. Every case of the table (development and external centres: the cases the model was
    developed and validated on) is part of the training distribution.
    """
    from .applicability import INTENSITY_DESCRIPTORS, fit_domain

    n_radiomics = len(table.names)
    selected = [table.names[i] for i in np.asarray(columns) if i < n_radiomics]
    names = selected + [d for d in INTENSITY_DESCRIPTORS if d in table.names and d not in selected]
    X = table.X[:, [table.names.index(n) for n in names]]
    if table.simulated:
        from .simulate import FIELD_STRENGTH, MODALITY, SEQUENCE

        modality = modality or table.simulated.get("modality", MODALITY)
        field_strength = field_strength or table.simulated.get("field_strength_t", FIELD_STRENGTH)
        sequence = sequence or table.simulated.get("sequence", SEQUENCE)
    return fit_domain(
        X,
        names,
        modality=modality,
        field_strength=field_strength,
        sequence=sequence,
        population=f"all {table.y.size} cases of {table.source} (development and external centres)",
        selected=selected,
    )


def train(
    table,
    task,
    config=None,
    external_centres=(),
    trained_on=None,
    model_version="1",
    modality=None,
    field_strength=None,
    sequence=None,
):
    """Select, fit and validate a model on a :class:`FeatureTable`.

    Parameters
    ----------
    table : FeatureTable
    task : str
        One of the seven task ids.
    config : TrainConfig or None
    external_centres : sequence of str
        Centres held out for external validation; the model is developed on the others.
    trained_on : str or None
        What the card says the model was trained on (default: the simulator's statement for a simulated
        cohort, else the source and its size).
    model_version : str
    modality, field_strength, sequence : str or None
        What the training images were (DICOM modality code, field strength in tesla, sequence), recorded in
        the card's applicability domain; a simulated cohort's sidecar supplies them.

    Returns
    -------
    TrainedModel
    """
    spec = get_task(task)
    config = config or TrainConfig()
    inputs = table.inputs()
    n_radiomics = len(table.names)
    external_centres = tuple(external_centres or ())
    if external_centres:
        if table.centres is None:
            raise CohortError("external validation needs a 'center' column in the cohort CSV")
        present = set(table.centres)
        absent = [c for c in external_centres if c not in present]
        if absent:
            raise CohortError(
                f"external centre(s) {', '.join(absent)} not in the cohort's 'center' column "
                f"(centres: {', '.join(sorted(present))})"
            )
        is_external = np.array([c in external_centres for c in table.centres])
    else:
        is_external = np.zeros(table.y.size, dtype=bool)
    development, external = np.flatnonzero(~is_external), np.flatnonzero(is_external)
    if development.size == 0:
        raise CohortError("every centre is held out for external validation; nothing is left to develop on")
    X_dev, y_dev = inputs[development], table.y[development]
    _check_classes(y_dev, config.outer_folds, "the development set")
    if external.size and np.unique(table.y[external]).size < 2:
        raise CohortError("the external centres hold only one class; their AUC is undefined")

    probabilities, selections = nested_cv(X_dev, y_dev, n_radiomics, config)
    internal = binary_metrics(y_dev, probabilities)
    internal["method"] = (
        f"nested {config.outer_folds}x{config.inner_folds}-fold cross-validation (out-of-fold)"
    )
    threshold = internal["threshold"]
    counts = {}
    for columns in selections:
        for i in columns:
            counts[table.input_names[i]] = counts.get(table.input_names[i], 0) + 1
    frequency = {
        name: n / len(selections) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    }

    pipeline = build_pipeline(n_radiomics, inputs.shape[1] - n_radiomics, config).fit(X_dev, y_dev)
    columns, export = export_pipeline(pipeline, n_radiomics)
    validation = {"internal": internal, "external": None}
    if external.size:
        p_ext = pipeline.predict_proba(inputs[external])[:, 1]
        metrics = binary_metrics(table.y[external], p_ext, threshold=threshold)
        metrics["method"] = "final model on held-out centre(s), development threshold"
        metrics["centres"] = list(external_centres)
        validation["external"] = metrics
    if trained_on is None:
        if table.simulated:
            trained_on = SIMULATED
        else:
            trained_on = f"{table.source}: {table.y.size} cases ({int(table.y.sum())} {spec.positive})"
    domain = training_domain(table, columns, modality, field_strength, sequence)
    return TrainedModel(
        task=task,
        config=config,
        table=table,
        pipeline=pipeline,
        columns=columns,
        export=export,
        input_names=table.input_names,
        threshold=float(threshold),
        validation=validation,
        selection_frequency=frequency,
        development=development,
        external=external,
        trained_on=trained_on,
        model_version=model_version,
        domain=domain,
    )


def train_from_csv(
    cohort_csv,
    task,
    out_dir=None,
    params=None,
    config=None,
    external_centres=(),
    cache_dir=None,
    skip_unreadable=False,
    label_column="label",
    center_column="center",
    ignore_columns=(),
    trained_on=None,
    model_version="1",
    progress=None,
    modality=None,
    field_strength=None,
    sequence=None,
):
    """``spinerad train``: cohort CSV -> extraction (cached) -> nested CV -> final model [-> ``out_dir``].

    With ``out_dir`` the model is written there (``model.onnx``, ``card.json``, ``card.md``; see
    :func:`spinerad.models.export.save_model`) and the features are cached in ``out_dir/feature-cache``
    unless ``cache_dir`` says otherwise. ``progress(total)`` makes a progress reporter
    (:func:`spinerad.cohort_progress.terminal_progress`).
    """
    params = params if isinstance(params, ExtractionParams) else load_params(params)
    cohort = read_training_csv(cohort_csv, task, label_column, center_column, ignore_columns)
    if cache_dir is None and out_dir is not None:
        cache_dir = Path(out_dir) / "feature-cache"
    bar = progress(len(cohort.rows)) if progress else None
    try:
        table = cohort_table(cohort, params, cache_dir, skip_unreadable, bar)
    finally:
        if bar is not None:
            bar.close()
    model = train(
        table, task, config, external_centres, trained_on, model_version, modality, field_strength, sequence
    )
    if out_dir is not None:
        from .export import save_model

        save_model(model, out_dir)
    return model


# The steps' names, importable from here as before the split (the modules above hold them).
__all__ = [
    "CLASSIFIERS",
    "ID_COLUMNS",
    "MAX_LEVELS",
    "ClinicalVariable",
    "CohortRow",
    "FeatureTable",
    "TrainConfig",
    "TrainedModel",
    "TrainingCohort",
    "build_pipeline",
    "clinical_variables",
    "cohort_table",
    "encode_clinical",
    "export_pipeline",
    "extract_cohort_features",
    "make_classifier",
    "nested_cv",
    "parse_label",
    "read_training_csv",
    "selected_inputs",
    "train",
    "train_from_csv",
    "training_domain",
]

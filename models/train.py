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
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..errors import CohortError, SpineradError
from ..settings import ExtractionParams, load_params
from .metrics import binary_metrics
from .selection import CorrelationFilter, LassoSelector, UnivariateFilter, VarianceFilter
from .tasks import SIMULATED, get_task

CLASSIFIERS = ("logistic", "svm", "random_forest")
#: Columns never taken as clinical variables (case identifiers).
ID_COLUMNS = ("id", "case", "case_id", "patient", "patient_id", "subject", "subject_id")
_POSITIVE_WORDS = ("1", "1.0", "true", "yes", "positive", "pos")
_NEGATIVE_WORDS = ("0", "0.0", "false", "no", "negative", "neg")
#: A categorical clinical column with more levels than this is almost surely an identifier.
MAX_LEVELS = 10


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the training pipeline (the defaults are the published recipe's usual ones)."""

    classifier: str = "logistic"
    outer_folds: int = 5
    inner_folds: int = 3
    max_mode_fraction: float = 0.9
    correlation_threshold: float = 0.9
    univariate_alpha: float = 0.05
    min_univariate: int = 3
    max_features: int = 8
    seed: int = 0

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise CohortError(
                f"unknown classifier {self.classifier!r}; choose one of {', '.join(CLASSIFIERS)}"
            )
        if self.outer_folds < 2 or self.inner_folds < 2:
            raise CohortError("nested cross-validation needs at least 2 outer and 2 inner folds")


# --- clinical variables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicalVariable:
    """One clinical column: numeric (z-scored) or categorical (an indicator per non-reference level)."""

    name: str
    kind: str
    levels: tuple = ()

    @property
    def columns(self):
        """Model input columns this variable becomes (the first level is the reference)."""
        if self.kind == "numeric":
            return (f"clinical:{self.name}",)
        return tuple(f"clinical:{self.name}={level}" for level in self.levels[1:])

    def encode(self, value):
        """The variable's input values for ``value``; ValueError naming the problem."""
        text = str(value).strip() if value is not None else ""
        if not text:
            raise ValueError(f"clinical value '{self.name}' is empty")
        if self.kind == "numeric":
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"clinical value '{self.name}' must be a number, got {text!r}") from None
            if not np.isfinite(number):
                raise ValueError(f"clinical value '{self.name}' must be finite, got {text!r}")
            return [number]
        matches = [level for level in self.levels if level.lower() == text.lower()]
        if not matches:
            raise ValueError(
                f"clinical value '{self.name}' must be one of {', '.join(self.levels)}; got {text!r}"
            )
        return [1.0 if matches[0] == level else 0.0 for level in self.levels[1:]]

    def as_dict(self):
        """JSON form (model metadata and card)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "levels": list(self.levels),
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`as_dict`."""
        return cls(data["name"], data["kind"], tuple(data.get("levels", ())))


def clinical_variables(names, rows):
    """Infer each clinical column's kind from its cells: numeric when every cell is a number."""
    variables = []
    for name in names:
        cells = [row.clinical[name] for row in rows]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            values = None
        if values is not None and all(np.isfinite(values)):
            if np.std(values) == 0:
                raise CohortError(
                    f"clinical column '{name}' has one value for every case; drop it with --ignore-columns"
                )
            variables.append(ClinicalVariable(name, "numeric"))
            continue
        levels = {}
        for cell in cells:
            levels.setdefault(cell.lower(), cell)
        if len(levels) < 2:
            raise CohortError(
                f"clinical column '{name}' has one value for every case; drop it with --ignore-columns"
            )
        if len(levels) > MAX_LEVELS:
            raise CohortError(
                f"clinical column '{name}' has {len(levels)} different values (an identifier?); "
                f"drop it with --ignore-columns or make it numeric"
            )
        variables.append(ClinicalVariable(name, "categorical", tuple(sorted(levels.values(), key=str.lower))))
    return tuple(variables)


def encode_clinical(variables, values, where):
    """One row of clinical input values; :class:`CohortError` naming ``where`` on a bad cell."""
    out = []
    for variable in variables:
        try:
            out.extend(variable.encode(values.get(variable.name)))
        except ValueError as exc:
            raise CohortError(f"{where}: {exc}") from None
    return out


# --- the cohort CSV ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
    """One case of a training cohort."""

    line: int
    image: str
    mask: str
    label: int
    center: str | None
    clinical: dict
    #: ROI of a DICOM SEG/RTSTRUCT mask: ``{"segment": N}`` and/or ``{"roi": NAME}`` (empty for a label map)
    roi_choice: dict = None


@dataclass(frozen=True)
class TrainingCohort:
    """A parsed training CSV."""

    path: str
    rows: tuple
    clinical: tuple
    has_center: bool
    simulated: dict | None = None


def _column(fieldnames, name, path):
    matches = [f for f in fieldnames if f.strip().lower() == name.lower()]
    if len(matches) > 1:
        raise CohortError(f"cohort CSV {path} has more than one '{name}' column: {', '.join(matches)}")
    return matches[0] if matches else None


def parse_label(text, task, line, column):
    """0/1 from a label cell: 0/1, true/false, yes/no, positive/negative or the task's class names."""
    spec = get_task(task)
    value = text.strip().lower()
    if value in _POSITIVE_WORDS or value == spec.positive.lower():
        return 1
    if value in _NEGATIVE_WORDS or value == spec.negative.lower():
        return 0
    shown = repr(text.strip()) if text.strip() else "empty"
    raise CohortError(
        f"cohort CSV line {line}: label {shown} in column '{column}' is not binary "
        f"(use 0/1, or '{spec.positive}'/'{spec.negative}' for task {task})"
    )


def _roi_choice(cells, segment_col, roi_col, path, line):
    """The ``segment``/``roi`` cells of a row (a DICOM SEG/RTSTRUCT mask's ROI); empty cells choose nothing."""
    choice = {}
    if segment_col and cells[segment_col].strip():
        text = cells[segment_col].strip()
        if not text.isdigit() or int(text) < 1:
            raise CohortError(f"cohort CSV {path} line {line}: segment {text!r} is not a positive integer")
        choice["segment"] = int(text)
    if roi_col and cells[roi_col].strip():
        choice["roi"] = cells[roi_col].strip()
    return choice


def read_training_csv(path, task, label_column="label", center_column="center", ignore_columns=()):
    """Read a training cohort CSV: ``image, mask, <label>[, <center>][, clinical columns...]``.

    Paths are relative to the CSV's folder (or absolute). Every column that is not image, mask, label,
    center, an identifier (:data:`ID_COLUMNS`) or in ``ignore_columns`` is a clinical variable.
    """
    from .simulate import read_sidecar

    get_task(task)
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle))
    except FileNotFoundError:
        raise CohortError(f"cohort CSV not found: {path}") from None
    except IsADirectoryError:
        raise CohortError(f"cohort CSV {path} is a folder, not a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"cohort CSV {path} is not a readable UTF-8 CSV file: {exc}") from None
    except OSError as exc:
        raise CohortError(f"cannot read cohort CSV {path}: {exc.strerror}") from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise CohortError(f"cohort CSV {path} has no header row")
    fieldnames = [name.strip() for name in records[0]]
    duplicated = sorted({f for f in fieldnames if fieldnames.count(f) > 1})
    if duplicated:
        raise CohortError(f"cohort CSV {path} repeats column(s): {', '.join(duplicated)}")
    image_col, mask_col, label_col = (_column(fieldnames, n, path) for n in ("image", "mask", label_column))
    missing = [
        n for n, c in (("image", image_col), ("mask", mask_col), (label_column, label_col)) if c is None
    ]
    if missing:
        raise CohortError(
            f"cohort CSV {path} lacks column(s) {', '.join(repr(m) for m in missing)}; "
            f"found: {', '.join(fieldnames)}"
        )
    center_col = _column(fieldnames, center_column, path)
    segment_col, roi_col = _column(fieldnames, "segment", path), _column(fieldnames, "roi", path)
    ignored = {c.strip().lower() for c in ignore_columns}
    unknown = ignored - {f.lower() for f in fieldnames}
    if unknown:
        raise CohortError(f"--ignore-columns names column(s) not in {path}: {', '.join(sorted(unknown))}")
    taken = {image_col, mask_col, label_col, center_col, segment_col, roi_col}
    clinical = [
        f for f in fieldnames if f not in taken and f.lower() not in ID_COLUMNS and f.lower() not in ignored
    ]
    base = path.resolve().parent
    rows = []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(fieldnames):
            raise CohortError(
                f"cohort CSV {path} line {line} has {len(record)} fields; the header has {len(fieldnames)}"
            )
        cells = dict(zip(fieldnames, record, strict=True))
        for column in (image_col, mask_col):
            if not cells[column].strip():
                raise CohortError(f"cohort CSV {path} line {line}: column '{column}' is empty")
        center = cells[center_col].strip() if center_col else None
        if center_col and not center:
            raise CohortError(f"cohort CSV {path} line {line}: column '{center_col}' is empty")
        for column in clinical:
            if not cells[column].strip():
                raise CohortError(f"cohort CSV {path} line {line}: clinical column '{column}' is empty")
        rows.append(
            CohortRow(
                line=line,
                image=str(base / cells[image_col].strip()),
                mask=str(base / cells[mask_col].strip()),
                label=parse_label(cells[label_col], task, line, label_col),
                center=center,
                clinical={c: cells[c].strip() for c in clinical},
                roi_choice=_roi_choice(cells, segment_col, roi_col, path, line),
            )
        )
    if not rows:
        raise CohortError(f"cohort CSV {path} lists no cases")
    classes = {row.label for row in rows}
    if len(classes) < 2:
        spec = get_task(task)
        only = spec.positive if 1 in classes else spec.negative
        raise CohortError(
            f"cohort CSV {path}: every case has label '{only}'; a binary model needs both classes"
        )
    # Inferred from every row before any extraction, so a bad clinical column fails fast.
    variables = clinical_variables(clinical, rows)
    return TrainingCohort(str(path), tuple(rows), variables, center_col is not None, read_sidecar(path))


# --- feature extraction -----------------------------------------------------------------------------------


def _extract_cohort_features(rows, params, cache_dir, skip_unreadable, progress=None):
    """Features of every row, one extraction per case, cached per case in ``cache_dir``.

    The per-case work and its content key are :mod:`spinerad.cohort`'s (``case_key``, ``extract_case``),
    and the cache files are in its part format, so a cache folder is interchangeable with the ``.parts``
    folder of ``spinerad extract-cohort``. Runs in this process (a training cohort is hundreds of cases).

    Returns
    -------
    (list of str, numpy.ndarray, list of int, list of dict)
        Feature names, the ``(cases, features)`` matrix of the extracted rows, the indices of those rows in
        ``rows``, and the skipped cases ``{"line", "error"}``.

    Raises
    ------
    CohortError
        A case could not be extracted and ``skip_unreadable`` is False (naming its CSV line), or cases
        produced different feature names.
    """
    from ..cohort import case_key, extract_case, read_part, write_part

    settings_hash = params.settings_hash()
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CohortError(f"cannot create the feature cache {cache}: {exc.strerror}") from None
    records = []
    for row in rows:
        try:
            key = case_key(
                row.image, row.mask, params.settings.label, params.settings.label_channel, settings_hash,
                roi_choice=row.roi_choice,
            )
        except SpineradError as exc:
            record, cached = {"status": "error", "error": str(exc)}, True
        else:
            record = read_part(cache, key) if cache is not None else None
            cached = record is not None
            if record is None:
                result = extract_case(row.image, row.mask, None, None, params, **(row.roi_choice or {}))
                record = {k: v for k, v in result.items() if k != "cacheable"}
                if cache is not None and (result["status"] == "ok" or result.get("cacheable")):
                    write_part(cache, key, record)
        records.append(record)
        if progress is not None:
            progress.update(record["status"], skipped=cached)
    pairs = zip(rows, records, strict=True)
    failed = [(row, record["error"]) for row, record in pairs if record["status"] != "ok"]
    if failed and not skip_unreadable:
        row, error = failed[0]
        raise CohortError(
            f"{len(failed)} of {len(rows)} case(s) could not be extracted; "
            f"first: cohort CSV line {row.line}: "
            f"{error} (fix the case, or pass --skip-unreadable to train without it)"
        )
    skipped = [{"line": row.line, "error": error} for row, error in failed]
    kept = [i for i, record in enumerate(records) if record["status"] == "ok"]
    if not kept:
        raise CohortError("no case of the cohort could be extracted")
    names = list(records[kept[0]]["features"])
    for i in kept:
        if list(records[i]["features"]) != names:
            other = set(records[i]["features"]) ^ set(names)
            raise CohortError(
                f"cohort CSV line {rows[i].line} gives other feature names than line {rows[kept[0]].line} "
                f"({', '.join(sorted(other)[:3])}, ...); every case must produce the same features"
            )
    X = np.array([[records[i]["features"][n] for n in names] for i in kept], dtype=np.float64)
    return names, X, kept, skipped


# --- the table the pipeline learns from --------------------------------------------------------------------


@dataclass
class FeatureTable:
    """What the model-fitting steps see: radiomics features, labels, centres and clinical values.

    ``extracted_names`` are every feature the extraction produced (the names a prediction must supply);
    ``names`` the finite ones the pipeline may use.
    """

    names: list
    X: np.ndarray
    y: np.ndarray
    params: ExtractionParams
    extracted_names: list = None
    centres: list = None
    clinical: tuple = ()
    clinical_values: list = None
    lines: list = None
    skipped: list = field(default_factory=list)
    dropped: dict = field(default_factory=dict)
    source: str = "feature table"
    simulated: dict | None = None

    def __post_init__(self):
        self.X = np.asarray(self.X, dtype=np.float64)
        self.y = np.asarray(self.y).astype(np.int64)
        if self.extracted_names is None:
            self.extracted_names = list(self.names)
        if self.X.shape != (self.y.size, len(self.names)):
            raise CohortError(
                f"feature table shape {self.X.shape} does not match "
                f"{self.y.size} labels x {len(self.names)} names"
            )
        finite = np.isfinite(self.X).all(axis=0)
        if not finite.all():
            for name in np.asarray(self.names)[~finite]:
                self.dropped[str(name)] = "undefined (NaN) for some training case"
            self.X = self.X[:, finite]
            self.names = [n for n, keep in zip(self.names, finite, strict=True) if keep]
        if not self.names:
            raise CohortError("no feature is finite for every training case")

    def clinical_matrix(self, rows=None):
        """Encoded clinical inputs of the table's rows (``(n, 0)`` without clinical variables)."""
        rows = range(self.y.size) if rows is None else rows
        width = sum(len(v.columns) for v in self.clinical)
        if not self.clinical:
            return np.zeros((len(rows), 0))
        return np.array(
            [encode_clinical(self.clinical, self.clinical_values[i], f"row {i}") for i in rows],
            dtype=np.float64,
        ).reshape(len(rows), width)

    def inputs(self):
        """The full input matrix: radiomics columns then encoded clinical columns."""
        return np.hstack([self.X, self.clinical_matrix()])

    @property
    def input_names(self):
        """Names of :meth:`inputs`' columns."""
        return list(self.names) + [c for v in self.clinical for c in v.columns]


def cohort_table(cohort, params, cache_dir=None, skip_unreadable=False, progress=None):
    """Extract a :class:`TrainingCohort` into a :class:`FeatureTable`."""
    names, X, kept, skipped = _extract_cohort_features(
        cohort.rows, params, cache_dir, skip_unreadable, progress
    )
    rows = [cohort.rows[i] for i in kept]
    clinical = cohort.clinical
    table = FeatureTable(
        names=names,
        X=X,
        y=np.array([row.label for row in rows]),
        params=params,
        centres=[row.center for row in rows] if cohort.has_center else None,
        clinical=clinical,
        clinical_values=[row.clinical for row in rows],
        lines=[row.line for row in rows],
        skipped=skipped,
        source=Path(cohort.path).name,
        simulated=cohort.simulated,
    )
    return table


# --- the model --------------------------------------------------------------------------------------------


def make_classifier(config):
    """The final classifier of the pipeline."""
    if config.classifier == "logistic":
        # Mild L2 (C=1) keeps the nomogram stable when a few selected features separate the classes.
        return LogisticRegression(C=1.0, max_iter=1000)
    if config.classifier == "svm":
        # Platt-scaled RBF SVM (scikit-learn's replacement for SVC(probability=True)).
        folds = StratifiedKFold(3, shuffle=True, random_state=config.seed)
        return CalibratedClassifierCV(
            SVC(kernel="rbf", random_state=config.seed), method="sigmoid", cv=folds, ensemble=False
        )
    return RandomForestClassifier(
        n_estimators=200, max_depth=4, min_samples_leaf=3, random_state=config.seed, n_jobs=1
    )


def build_pipeline(n_radiomics, n_clinical, config):
    """The unfitted scikit-learn pipeline: radiomics selection (+ z-scored clinical columns) -> classifier."""
    radiomics = Pipeline(
        [
            ("variance", VarianceFilter(config.max_mode_fraction)),
            ("zscore", StandardScaler()),
            ("correlation", CorrelationFilter(config.correlation_threshold)),
            ("univariate", UnivariateFilter(config.univariate_alpha, config.min_univariate)),
            (
                "lasso",
                LassoSelector(
                    inner_folds=config.inner_folds, max_features=config.max_features, seed=config.seed
                ),
            ),
        ]
    )
    if n_clinical:
        features = ColumnTransformer(
            [
                ("radiomics", radiomics, list(range(n_radiomics))),
                ("clinical", StandardScaler(), list(range(n_radiomics, n_radiomics + n_clinical))),
            ]
        )
    else:
        features = radiomics
    return Pipeline([("features", features), ("classifier", make_classifier(config))])


def selected_inputs(pipeline, n_radiomics):
    """Input columns the fitted pipeline uses, in the classifier's order, with their z-scoring.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Column indices into the pipeline's input, their means and scales.
    """
    features = pipeline.named_steps["features"]
    if isinstance(features, ColumnTransformer):
        radiomics = features.named_transformers_["radiomics"]
        clinical = features.named_transformers_["clinical"]
    else:
        radiomics, clinical = features, None
    columns = radiomics.named_steps["variance"].get_support(indices=True)
    scaler = radiomics.named_steps["zscore"]
    mean, scale = scaler.mean_, scaler.scale_
    picked = np.arange(columns.size)
    for step in ("correlation", "univariate", "lasso"):
        picked = picked[radiomics.named_steps[step].get_support(indices=True)]
    columns, mean, scale = columns[picked], mean[picked], scale[picked]
    if clinical is not None:
        columns = np.concatenate([columns, n_radiomics + np.arange(clinical.mean_.size)])
        mean = np.concatenate([mean, clinical.mean_])
        scale = np.concatenate([scale, clinical.scale_])
    return columns, mean, scale


def export_pipeline(pipeline, n_radiomics):
    """The fitted pipeline restricted to its selected inputs: ``StandardScaler -> classifier``.

    Its probabilities on ``X[:, columns]`` equal the full pipeline's on ``X``; this is what goes to ONNX.
    """
    columns, mean, scale = selected_inputs(pipeline, n_radiomics)
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean.copy(), scale.copy(), scale**2
    scaler.n_features_in_, scaler.n_samples_seen_ = columns.size, 1
    steps = [("zscore", scaler), ("classifier", pipeline.named_steps["classifier"])]
    if isinstance(steps[-1][1], RandomForestClassifier):
        # scikit-learn's trees compare float32(x) with their thresholds; ONNX must see the same values.
        from skl2onnx.sklapi import CastTransformer

        steps.insert(1, ("float32", CastTransformer(dtype=np.float32)))
    return columns, Pipeline(steps)


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

    @property
    def feature_names(self):
        """Names of the model's inputs, in order (selected radiomics features, then clinical columns)."""
        return [self.input_names[i] for i in self.columns]

    def predict_proba(self, inputs):
        """Probability of the positive class from full input rows (radiomics + clinical columns)."""
        return self.pipeline.predict_proba(np.asarray(inputs, dtype=np.float64))[:, 1]


def train(table, task, config=None, external_centres=(), trained_on=None, model_version="1"):
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
):
    """``spinerad train``: cohort CSV -> extraction (cached) -> nested CV -> final model [-> ``out_dir``].

    With ``out_dir`` the model is written there (``model.onnx``, ``card.json``, ``card.md``; see
    :func:`spinerad.models.export.save_model`) and the features are cached in ``out_dir/feature-cache``
    unless ``cache_dir`` says otherwise. ``progress(total)`` makes a progress reporter
    (:func:`spinerad.cohort.terminal_progress`).
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
    model = train(table, task, config, external_centres, trained_on, model_version)
    if out_dir is not None:
        from .export import save_model

        save_model(model, out_dir)
    return model

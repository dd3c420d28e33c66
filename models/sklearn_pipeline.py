"""The scikit-learn pipeline of a marker model: selection steps, classifier, and its exportable form.

Near-constant filter -> z-scoring -> correlation filter -> univariate Mann-Whitney test -> LASSO-logistic
selection -> classifier (logistic regression by default; SVM or random forest), with optional z-scored
clinical columns beside the radiomics selection. :func:`export_pipeline` restricts a fitted pipeline to its
selected inputs (``StandardScaler -> classifier``): what goes to ONNX (:mod:`spinerad.models.export`).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from .errors import CohortError
from .selection import CorrelationFilter, LassoSelector, UnivariateFilter, VarianceFilter

CLASSIFIERS = ("logistic", "svm", "random_forest")


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

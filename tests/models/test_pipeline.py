"""The training pipeline at the feature-table level: no leakage, and ONNX equals scikit-learn.

No leakage: nested CV reaches the Bayes optimum of a known cohort and chance on noise labels.

Gaussian feature tables make the Bayes-optimal AUC analytic: with ``x | y ~ N(mu_y, I)`` the best possible
classifier (linear, along ``mu_1 - mu_0``) has ``AUC = Phi(|mu_1 - mu_0| / sqrt(2))``.
"""

import numpy as np
import onnxruntime as ort
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from spinerad.models import metrics
from spinerad.models.export import to_onnx
from spinerad.models.rebuild import DEMO_PARAMS
from spinerad.models.selection import mann_whitney_p
from spinerad.models.train import (
    ClinicalVariable,
    FeatureTable,
    TrainConfig,
    build_pipeline,
    export_pipeline,
    train,
)
from spinerad.settings import load_params

PARAMS = load_params(DEMO_PARAMS)
SMOKING = ["current", "former", "never"]


def gaussian_table(n=300, p=40, bayes_auc=0.8, seed=0, noise_labels=False, clinical=False):
    """A table whose first 3 columns carry the signal; labels independent of X when ``noise_labels``."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    rng.shuffle(y)
    direction = np.zeros(p)
    direction[:3] = [0.7, 0.5, 0.5]
    direction /= np.linalg.norm(direction)
    separation = np.sqrt(2) * norm.ppf(bayes_auc)
    X = rng.normal(size=(n, p)) + (0 if noise_labels else 1) * np.outer(y - 0.5, direction * separation)
    X = X * rng.uniform(0.5, 50, p) + rng.uniform(-100, 100, p)  # raw radiomics-like scales
    names = [f"original_glcm_F{j:02d}" for j in range(p)]
    kwargs = {}
    if clinical:
        kwargs = {
            "clinical": (
                ClinicalVariable("age", "numeric"),
                ClinicalVariable("smoking", "categorical", ("current", "former", "never")),
            ),
            "clinical_values": [
                {"age": str(int(a)), "smoking": s}
                for a, s in zip(rng.normal(63, 10, n), rng.choice(SMOKING, n), strict=True)
            ],
        }
    return FeatureTable(names=names, X=X, y=y, params=PARAMS, **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nested_cv_reaches_the_bayes_optimum(seed):
    # 58 features (as many as firstorder + GLCM + GLRLM), 3 of them informative; Bayes AUC 0.80.
    bayes = 0.8
    model = train(gaussian_table(p=58, bayes_auc=bayes, seed=seed), "egfr_mutation")
    internal = model.validation["internal"]
    low, high = internal["auc_ci95"]
    assert low <= bayes <= high, internal
    assert {"original_glcm_F00", "original_glcm_F01", "original_glcm_F02"} & set(model.feature_names)


def test_noise_labels_give_chance_auc():
    # Labels independent of 58 features. Nested-CV AUC must centre on 0.5. Its spread across cohorts is
    # somewhat wider than DeLong's SE (which ignores model-fitting variability): ~85 % of 95 % CIs cover
    # 0.5 in a 20-cohort check, so most (not all) of six must.
    aucs, covered = [], 0
    for seed in range(6):
        model = train(gaussian_table(n=200, p=58, noise_labels=True, seed=100 + seed), "ki67_high")
        internal = model.validation["internal"]
        aucs.append(internal["auc"])
        covered += internal["auc_ci95"][0] <= 0.5 <= internal["auc_ci95"][1]
    assert np.mean(aucs) == pytest.approx(0.5, abs=0.05), aucs
    assert covered >= 4, aucs


def test_leaky_selection_would_be_caught():
    # The same noise cohort, but features chosen on *all* rows before cross-validation (the classic leak):
    # the CV AUC is then far above chance. The nested pipeline on the same data is not (test above), so
    # the no-leakage check has the power to see a leak.
    table = gaussian_table(n=200, p=58, noise_labels=True, seed=100)
    X = (table.X - table.X.mean(0)) / table.X.std(0)
    top = np.argsort(mann_whitney_p(X, table.y))[:8]
    oof = np.empty(table.y.size)
    for train_rows, test_rows in StratifiedKFold(5, shuffle=True, random_state=0).split(X, table.y):
        fitted = LogisticRegression().fit(X[train_rows][:, top], table.y[train_rows])
        oof[test_rows] = fitted.predict_proba(X[test_rows][:, top])[:, 1]
    _, low, _ = metrics.delong_ci(table.y, oof)
    assert low > 0.5


def test_export_pipeline_equals_full_pipeline():
    table = gaussian_table(clinical=True)
    inputs = table.inputs()
    pipeline = build_pipeline(len(table.names), inputs.shape[1] - len(table.names), TrainConfig())
    pipeline.fit(inputs[:200], table.y[:200])
    columns, export = export_pipeline(pipeline, len(table.names))
    assert columns[-3:].tolist() == [40, 41, 42]  # clinical: age, smoking=former, smoking=never (always kept)
    np.testing.assert_allclose(
        export.predict_proba(inputs[200:, columns]), pipeline.predict_proba(inputs[200:]), rtol=0, atol=1e-12
    )


@pytest.mark.filterwarnings("ignore:Attribute `prob[AB]_` was deprecated:FutureWarning")
@pytest.mark.parametrize("classifier", ["logistic", "svm", "random_forest"])
def test_onnx_equals_sklearn_on_held_out_rows(classifier):
    table = gaussian_table(n=300, clinical=True, seed=3)
    held_out = np.arange(240, 300)
    development = FeatureTable(
        names=table.names,
        X=table.X[:240],
        y=table.y[:240],
        params=PARAMS,
        clinical=table.clinical,
        clinical_values=table.clinical_values[:240],
    )
    model = train(development, "her2_positive", TrainConfig(classifier=classifier))
    inputs = table.inputs()[held_out]
    expected = model.predict_proba(inputs)
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"features": inputs[:, model.columns]})
    assert np.max(np.abs(got[:, 1] - expected)) <= 1e-5
    assert any(name.startswith("clinical:") for name in model.feature_names)


def test_nan_columns_are_dropped_and_recorded():
    table = gaussian_table()
    X = table.X.copy()
    X[5, 7] = np.nan
    with_nan = FeatureTable(names=table.names, X=X, y=table.y, params=PARAMS)
    assert "original_glcm_F07" not in with_nan.names
    assert "original_glcm_F07" in with_nan.extracted_names
    assert "original_glcm_F07" in with_nan.dropped

"""Validation metrics: DeLong against a hand-worked example and a bootstrap, Youden, Brier, calibration."""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from spinerad.models import metrics


def test_delong_hand_example():
    # Positives 0.9, 0.6, 0.4; negatives 0.6, 0.3 (one tie, psi = 1/2).
    # Placement values: V10 = [1, 3/4, 1/2] (fraction of negatives each positive beats),
    # V01 = [1/2, 1] (fraction of positives beating each negative); AUC = mean(V10) = 3/4.
    # s2(V10) = ((1/4)^2 + 0 + (1/4)^2) / 2 = 1/16; s2(V01) = 2 (1/4)^2 / 1 = 1/8.
    # Var = (1/16)/3 + (1/8)/2 = 1/12.
    y = [1, 1, 1, 0, 0]
    p = [0.9, 0.6, 0.4, 0.6, 0.3]
    value, variance = metrics.delong(y, p)
    assert value == pytest.approx(0.75, abs=1e-15)
    assert variance == pytest.approx(1 / 12, abs=1e-15)
    auc, low, high = metrics.delong_ci(y, p)
    assert low == pytest.approx(max(0.0, 0.75 - 1.959963984540054 * np.sqrt(1 / 12)))
    assert high == 1.0  # clipped


@pytest.mark.parametrize("seed", range(3))
def test_auc_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 157)
    p = np.round(rng.normal(size=157) + 0.7 * y, 1)  # many ties
    assert metrics.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.delong(y, p)[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_delong_agrees_with_bootstrap(seed):
    # Same data, two estimates of the AUC's sampling variability: DeLong's closed form and a stratified
    # percentile bootstrap (2,000 replicates). They agree within the bootstrap's own Monte Carlo error.
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(90, int), np.zeros(110, int)]
    p = expit(rng.normal(size=200) + 1.2 * y)
    auc, low, high = metrics.delong_ci(y, p)
    boot_auc, boot_low, boot_high, boot_se = metrics.bootstrap_auc_ci(y, p, n_boot=2000, seed=seed)
    delong_se = np.sqrt(metrics.delong(y, p)[1])
    assert boot_auc == pytest.approx(auc, abs=1e-12)
    assert boot_se == pytest.approx(delong_se, rel=0.12)
    assert boot_low == pytest.approx(low, abs=0.02)
    assert boot_high == pytest.approx(high, abs=0.02)


def test_youden_threshold():
    y = [0, 0, 0, 1, 1, 1]
    p = [0.1, 0.2, 0.45, 0.4, 0.8, 0.9]
    threshold, sensitivity, specificity = metrics.youden(y, p)
    # p >= 0.8: sens 2/3, spec 1 (J = 2/3); p >= 0.4: sens 1, spec 2/3 (J = 2/3): the tie goes to the one
    # nearer 0.5.
    assert threshold == 0.4 and sensitivity == 1.0 and specificity == pytest.approx(2 / 3)
    assert metrics.sensitivity_specificity(y, p, 0.8) == (pytest.approx(2 / 3), 1.0)


def test_brier():
    assert metrics.brier([0, 1, 1], [0.0, 1.0, 0.5]) == pytest.approx(0.25 / 3)


def test_calibration_slope_and_intercept():
    rng = np.random.default_rng(0)
    true = expit(rng.normal(0, 1.5, 20000))
    y = (rng.random(true.size) < true).astype(int)
    slope, intercept = metrics.calibration(y, true)
    assert slope == pytest.approx(1.0, abs=0.06) and intercept == pytest.approx(0.0, abs=0.05)
    # Overconfident predictions (logits doubled): slope ~ 1/2. Shifted ones: intercept ~ -shift.
    slope, _ = metrics.calibration(y, expit(2 * logit(true)))
    assert slope == pytest.approx(0.5, abs=0.04)
    _, intercept = metrics.calibration(y, expit(logit(true) + 0.7))
    assert intercept == pytest.approx(-0.7, abs=0.06)


def test_binary_metrics_at_fixed_threshold():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.2, 0.6, 0.4, 0.9])
    m = metrics.binary_metrics(y, p, threshold=0.5)
    assert m["threshold"] == 0.5 and m["sensitivity"] == 0.5 and m["specificity"] == 0.5
    assert m["auc"] == 0.75 and m["n"] == 4 and m["n_positive"] == 2 and m["auc_ci_method"] == "DeLong"


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="both classes"):
        metrics.auc([1, 1], [0.2, 0.3])

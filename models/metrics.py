"""Validation metrics of a binary classifier: AUC with its DeLong CI, Youden threshold, Brier, calibration.

Plain NumPy on ``(y, p)`` arrays: ``y`` holds 0/1 labels, ``p`` the predicted probability of class 1.
"""

import math

import numpy as np
from scipy.stats import norm


def _check(y, p):
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y and p differ in length: {y.size} vs {p.size}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0/1 labels")
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("y must hold both classes")
    return y, p


def _midranks(x):
    """1-based ranks with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(x.size, dtype=np.float64)
    # Boundaries of runs of equal values; each run gets the mean of its 1-based positions.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auc(y, p):
    """Area under the ROC curve (Mann-Whitney form; ties count one half)."""
    y, p = _check(y, p)
    m = int(y.sum())
    n = y.size - m
    ranks = _midranks(p)
    return float((ranks[y == 1].sum() - m * (m + 1) / 2.0) / (m * n))


def delong(y, p):
    r"""AUC and its variance by DeLong, DeLong & Clarke-Pearson (1988), fast form of Sun & Xu (2014).

    .. math::
        \widehat{\mathrm{Var}} = \frac{s^2(V_{10})}{m} + \frac{s^2(V_{01})}{n}

    with the placement values :math:`V_{10}(x_i) = \frac1n\sum_j \psi(x_i, y_j)` of the ``m`` positives
    and :math:`V_{01}(y_j) = \frac1m\sum_i \psi(x_i, y_j)` of the ``n`` negatives, where
    :math:`\psi(x, y) = 1` if ``x > y``, 1/2 if equal, 0 otherwise.

    Returns
    -------
    (float, float)
        The AUC and its variance.
    """
    y, p = _check(y, p)
    positives, negatives = p[y == 1], p[y == 0]
    m, n = positives.size, negatives.size
    ranks_all = _midranks(np.concatenate([positives, negatives]))
    ranks_pos = _midranks(positives)
    ranks_neg = _midranks(negatives)
    v10 = (ranks_all[:m] - ranks_pos) / n  # per positive: fraction of negatives it beats
    v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m  # per negative: fraction of positives that beat it
    value = float(v10.mean())
    s10 = v10.var(ddof=1) if m > 1 else 0.0
    s01 = v01.var(ddof=1) if n > 1 else 0.0
    return value, float(s10 / m + s01 / n)


def delong_ci(y, p, level=0.95):
    """AUC with its DeLong confidence interval ``(auc, low, high)`` (normal approximation, in 0..1)."""
    value, variance = delong(y, p)
    half = norm.ppf(0.5 + level / 2.0) * math.sqrt(max(variance, 0.0))
    return value, float(max(0.0, value - half)), float(min(1.0, value + half))


def bootstrap_auc_ci(y, p, n_boot=2000, level=0.95, seed=0):
    """Stratified percentile-bootstrap CI of the AUC ``(auc, low, high, standard error)``.

    Positives and negatives are resampled separately (as pROC's default), so every replicate has both.
    """
    y, p = _check(y, p)
    rng = np.random.default_rng(seed)
    positives, negatives = p[y == 1], p[y == 0]
    m, n = positives.size, negatives.size
    values = np.empty(n_boot)
    labels = np.r_[np.ones(m, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    for b in range(n_boot):
        sample = np.concatenate([rng.choice(positives, m), rng.choice(negatives, n)])
        ranks = _midranks(sample)
        values[b] = (ranks[labels == 1].sum() - m * (m + 1) / 2.0) / (m * n)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return auc(y, p), float(low), float(high), float(values.std(ddof=1))


def youden(y, p):
    """The threshold maximising sensitivity + specificity - 1 (a case is positive when ``p >= threshold``).

    Returns
    -------
    (float, float, float)
        Threshold, sensitivity and specificity there. Among equally good thresholds the one nearest 0.5.
    """
    y, p = _check(y, p)
    candidates = np.unique(p)
    positive = p[None, :] >= candidates[:, None]
    sensitivity = (positive & (y == 1)).sum(axis=1) / (y == 1).sum()
    specificity = (~positive & (y == 0)).sum(axis=1) / (y == 0).sum()
    j = sensitivity + specificity - 1.0
    best = np.flatnonzero(np.isclose(j, j.max(), rtol=0, atol=1e-12))
    pick = best[np.argmin(np.abs(candidates[best] - 0.5))]
    return float(candidates[pick]), float(sensitivity[pick]), float(specificity[pick])


def sensitivity_specificity(y, p, threshold):
    """Sensitivity and specificity when ``p >= threshold`` is called positive."""
    y, p = _check(y, p)
    positive = p >= threshold
    return float((positive & (y == 1)).sum() / (y == 1).sum()), float(
        (~positive & (y == 0)).sum() / (y == 0).sum()
    )


def brier(y, p):
    """Brier score: mean squared difference between probability and outcome (0 is perfect)."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def _logistic_fit(y, design, offset, iterations=100):
    """Unpenalised logistic regression by Newton-Raphson with step halving; returns the coefficients."""
    beta = np.zeros(design.shape[1])

    def loglik(b):
        eta = offset + design @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for _ in range(iterations):
        eta = offset + design @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        gradient = design.T @ (y - mu)
        hessian = design.T @ (design * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian + 1e-12 * np.eye(len(beta)), gradient)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            candidate = beta + step
            value = loglik(candidate)
            if value >= current - 1e-12:
                break
            step /= 2.0
        beta, previous, current = candidate, current, value
        if abs(current - previous) < 1e-10:
            break
    return beta


def calibration(y, p, eps=1e-9):
    """Calibration slope and intercept (calibration-in-the-large) of predicted probabilities.

    The slope is ``b`` of ``logit P(y=1) = a + b * logit(p)``; the intercept is ``a`` of
    ``logit P(y=1) = a + logit(p)`` (slope fixed at 1). Perfect calibration: slope 1, intercept 0; a
    slope below 1 means predictions too extreme (overfitting).
    """
    y, p = _check(y, p)
    clipped = np.clip(p, eps, 1.0 - eps)
    logit = np.log(clipped / (1.0 - clipped))
    ones = np.ones((y.size, 1))
    _, slope = _logistic_fit(y, np.column_stack([ones, logit]), np.zeros(y.size))
    (intercept,) = _logistic_fit(y, ones, logit)
    return float(slope), float(intercept)


def binary_metrics(y, p, threshold=None):
    """Every validation metric of one set of predictions, as a JSON-ready dict.

    ``threshold`` None chooses the Youden threshold on these data (internal validation); an external set
    is scored at the threshold fixed during development.
    """
    y, p = _check(y, p)
    value, low, high = delong_ci(y, p)
    if threshold is None:
        threshold, sensitivity, specificity = youden(y, p)
    else:
        sensitivity, specificity = sensitivity_specificity(y, p, threshold)
    slope, intercept = calibration(y, p)
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "auc": value,
        "auc_ci95": [low, high],
        "auc_ci_method": "DeLong",
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "brier": brier(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }

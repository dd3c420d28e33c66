"""The feature-selection steps of a marker model, as scikit-learn transformers fitted inside each CV fold.

Order, as in the radiomics literature: near-constant filter -> z-score -> correlation filter -> univariate
test -> LASSO-logistic. Every step learns only from the rows it is fitted on, so inside nested CV the held-out
fold never influences which features are kept (no selection leakage).
"""

import warnings

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from .metrics import auc


def l1_logistic(C, seed):
    """An L1-penalised (LASSO) logistic regression (scikit-learn >= 1.8 spells L1 as ``l1_ratio=1``)."""
    return LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", max_iter=2000, random_state=seed)


def mann_whitney_p(X, y):
    """Two-sided Mann-Whitney U p-value of every column (normal approximation; NaN for a constant column)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = mannwhitneyu(X[y == 1], X[y == 0], axis=0, method="asymptotic").pvalue
    return np.where(np.isfinite(p), p, 1.0)


class _Selector(TransformerMixin, BaseEstimator):
    """Keeps the columns of ``support_`` (a boolean mask over the input columns)."""

    def get_support(self, indices=False):
        """The kept columns: a boolean mask, or their indices."""
        return np.flatnonzero(self.support_) if indices else self.support_

    def transform(self, X):
        """The kept columns of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.support_.size:
            raise ValueError(f"expected {self.support_.size} columns, got {X.shape[1]}")
        return X[:, self.support_]

    def _done(self, X, support):
        self.n_features_in_ = X.shape[1]
        self.support_ = np.asarray(support, dtype=bool)
        return self


class VarianceFilter(_Selector):
    """Drops constant and quasi-constant features (one value in more than ``max_mode_fraction`` of rows)."""

    def __init__(self, max_mode_fraction=0.9):
        self.max_mode_fraction = max_mode_fraction

    def fit(self, X, y=None):
        """Learn which columns vary."""
        X = np.asarray(X, dtype=np.float64)
        std = X.std(axis=0)
        mode_fraction = np.array(
            [np.unique(column, return_counts=True)[1].max() / X.shape[0] for column in X.T]
        )
        support = (std > 1e-12 * (1.0 + np.abs(X.mean(axis=0)))) & (mode_fraction <= self.max_mode_fraction)
        if not support.any():
            support = std > 0
        return self._done(X, support)


class CorrelationFilter(_Selector):
    """Of every pair of features with ``|Pearson r| >= threshold`` keeps the one more related to the label.

    Features are visited in order of their Mann-Whitney p-value (most significant first); a feature is kept
    when it is not that correlated with any feature kept before it.
    """

    def __init__(self, threshold=0.9):
        self.threshold = threshold

    def fit(self, X, y):
        """Learn the kept columns from the fold's rows."""
        X = np.asarray(X, dtype=np.float64)
        order = np.argsort(mann_whitney_p(X, y), kind="stable")
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(np.corrcoef(X, rowvar=False)) if X.shape[1] > 1 else np.ones((1, 1))
        r = np.nan_to_num(r, nan=0.0)
        kept = []
        for j in order:
            if all(r[j, k] < self.threshold for k in kept):
                kept.append(j)
        support = np.zeros(X.shape[1], dtype=bool)
        support[kept] = True
        return self._done(X, support)


class UnivariateFilter(_Selector):
    """Keeps features whose Mann-Whitney U test has ``p < alpha`` (at least the ``min_keep`` best)."""

    def __init__(self, alpha=0.05, min_keep=3):
        self.alpha = alpha
        self.min_keep = min_keep

    def fit(self, X, y):
        """Test every column on the fold's rows."""
        X = np.asarray(X, dtype=np.float64)
        self.pvalues_ = mann_whitney_p(X, y)
        support = self.pvalues_ < self.alpha
        if support.sum() < min(self.min_keep, X.shape[1]):
            support = np.zeros(X.shape[1], dtype=bool)
            support[np.argsort(self.pvalues_, kind="stable")[: self.min_keep]] = True
        return self._done(X, support)


class LassoSelector(_Selector):
    """LASSO-logistic selection: the features with non-zero coefficients at the C chosen by inner CV.

    The penalty ``C`` is chosen from ``Cs`` by the mean AUC over ``inner_folds`` stratified folds of the
    rows it is fitted on (ties: the smaller C, i.e. the sparser model). At most ``max_features`` are kept
    (largest ``|coefficient|``); if the chosen C keeps none, the largest coefficient at the weakest penalty.
    """

    def __init__(self, Cs=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0), inner_folds=3, max_features=8, seed=0):
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.max_features = max_features
        self.seed = seed

    def _coef(self, X, y, C):
        with warnings.catch_warnings():
            # liblinear may stop at max_iter for the weakest penalties; the selection it gives is still valid.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return l1_logistic(C, self.seed).fit(X, y).coef_[0]

    def fit(self, X, y):
        """Choose C by inner CV, then select on all the rows given."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        folds = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.seed)
        scores = np.zeros(len(self.Cs))
        for train, test in folds.split(X, y):
            for i, C in enumerate(self.Cs):
                coef = self._coef(X[train], y[train], C)
                scores[i] += auc(y[test], X[test] @ coef) if np.any(coef) else 0.5
        self.inner_auc_ = scores / self.inner_folds
        self.C_ = float(self.Cs[int(np.argmax(self.inner_auc_))])
        coef = self._coef(X, y, self.C_)
        if not np.any(coef):
            coef = self._coef(X, y, max(self.Cs))
            coef = np.where(np.abs(coef) == np.abs(coef).max(), coef, 0.0)
        if not np.any(coef):
            coef = np.zeros(X.shape[1])
            coef[np.argmin(mann_whitney_p(X, y))] = 1.0
        self.coef_ = coef
        order = np.argsort(-np.abs(coef), kind="stable")
        keep = [j for j in order[: self.max_features] if coef[j] != 0]
        support = np.zeros(X.shape[1], dtype=bool)
        support[keep] = True
        return self._done(X, support)

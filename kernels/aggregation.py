"""Aggregation of per-angle texture features, as PyRadiomics does it (mean over angles ignoring NaN)."""

import numpy as np


def nanmean_last(values):
    """Mean over the last axis ignoring NaN; NaN (without a warning) where no value is finite or none exist."""
    finite = ~np.isnan(values)
    n = finite.sum(axis=-1)
    total = np.where(finite, values, 0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def nanmean_angles(per_angle):
    """(n_batch, n_angles, n_features) -> (n_batch, n_features)."""
    return nanmean_last(np.moveaxis(per_angle, 1, -1))

"""IBSI mode's intensity families: ``stat_`` statistics, ``ih_`` histogram, ``ivh_`` IVH.

The statistics IBSI and PyRadiomics define alike (mean, variance, moments, percentiles, MAD, robust MAD,
energy, RMS, entropy, uniformity) come from PyRadiomics mode's kernel
(:func:`spinerad.kernels.firstorder.firstorder_features`, no voxel shift); this module adds what only IBSI
defines (excess kurtosis, median absolute deviation, coefficients of variation and quartile dispersion, the
histogram's mode and gradients, the IVH).
"""

import numpy as np

from .kernels import firstorder as _firstorder

#: IBSI suffix -> PyRadiomics first-order name, for the statistics both define alike.
_SHARED_STATS = {
    "mean": "Mean",
    "var": "Variance",
    "skew": "Skewness",
    "median": "Median",
    "min": "Minimum",
    "p10": "10Percentile",
    "p90": "90Percentile",
    "max": "Maximum",
    "iqr": "InterquartileRange",
    "range": "Range",
    "mad": "MeanAbsoluteDeviation",
    "rmad": "RobustMeanAbsoluteDeviation",
}


def _statistics(x, level_counts, prefix):
    """IBSI statistics of ``x`` named ``<prefix>_<suffix>``, plus PyRadiomics' raw values (for the caller)."""
    values = _firstorder.firstorder_features(x, level_counts, 1.0)
    out = {f"{prefix}_{suffix}": values[name] for suffix, name in _SHARED_STATS.items()}
    out[f"{prefix}_kurt"] = (
        values["Kurtosis"] - 3.0 if values["Variance"] > 0 else 0.0
    )  # IBSI: excess kurtosis
    p25, p75 = np.percentile(x, [25, 75])
    mean = values["Mean"]
    out[f"{prefix}_medad"] = float(np.mean(np.abs(x - values["Median"])))
    out[f"{prefix}_cov"] = np.sqrt(values["Variance"]) / mean if mean != 0 else np.nan
    out[f"{prefix}_qcod"] = (p75 - p25) / (p75 + p25) if (p75 + p25) != 0 else np.nan
    return out, values


def intensity_statistics(values):
    """``stat_*``: statistics of the ROI intensities (IBSI 3.3)."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    out, raw = _statistics(x, np.ones(1), "stat")
    out["stat_energy"] = raw["Energy"]
    out["stat_rms"] = raw["RootMeanSquared"]
    return out


def intensity_histogram(levels, n_levels):
    """``ih_*``: statistics of the discretised intensities and of their histogram (IBSI 3.4)."""
    hist = np.bincount(levels, minlength=n_levels + 1)[1:].astype(np.float64)
    out, raw = _statistics(np.asarray(levels, dtype=np.float64), hist, "ih")
    out["ih_mode"] = float(np.argmax(hist) + 1)
    out["ih_entropy"] = raw["Entropy"]
    out["ih_uniformity"] = raw["Uniformity"]
    if n_levels > 1:
        grad = np.gradient(hist)  # one-sided at the ends, central inside: IBSI's definition
    else:
        grad = np.zeros(1)
    out["ih_max_grad"] = grad.max()
    out["ih_max_grad_g"] = float(np.argmax(grad) + 1)
    out["ih_min_grad"] = grad.min()
    out["ih_min_grad_g"] = float(np.argmin(grad) + 1)
    return out


def intensity_volume_histogram(values, levels, n_levels, bin_width=None, bin_count=None, bounds=None):
    """``ivh_*`` (IBSI 3.5): volume fraction above an intensity fraction, and the converse.

    The IVH has its own discretisation: by default the discretised levels 1..Ng of the texture families
    (``levels``); with ``bin_width`` the intensities in bins of that width anchored at the lower bound and
    represented by the bin centre; with ``bin_count`` that many equal bins (levels 1..n); with
    ``bin_width=0`` the intensities rounded to integers (CT, 1 HU). ``bounds`` (the re-segmentation range)
    sets the intensity range of the fraction; else the ROI's minimum and maximum.
    """
    from .ibsi import discretise

    values = np.asarray(values, dtype=np.float64)
    if bin_count is not None:
        idx, _ = discretise(values, bin_count=bin_count)
        grid = np.arange(1, bin_count + 1, dtype=np.float64)
        x, low, high = idx.astype(np.float64), 1.0, float(bin_count)
    elif bin_width == 0:
        x = np.round(values)
        low, high = bounds if bounds is not None else (x.min(), x.max())
        grid = np.arange(x.min(), x.max() + 1)
    elif bin_width is not None:
        anchor = bounds[0] if bounds is not None else values.min()
        idx = np.floor((values - anchor) / bin_width) + 1
        x = anchor + bin_width * (idx - 0.5)
        grid = anchor + bin_width * (np.arange(1, idx.max() + 1) - 0.5)
        low, high = bounds if bounds is not None else (values.min(), values.max())
    else:
        x = np.asarray(levels, dtype=np.float64)
        grid = np.arange(1, n_levels + 1, dtype=np.float64)
        low, high = x.min(), x.max()
    sorted_x = np.sort(x)
    volume = 1.0 - np.searchsorted(sorted_x, grid, side="left") / len(sorted_x)  # fraction with x >= grid
    gamma = (grid - low) / (high - low) if high > low else np.zeros(len(grid))

    def v_at(fraction):
        return float(volume[gamma >= fraction].max()) if np.any(gamma >= fraction) else 0.0

    def i_at(fraction):
        candidates = grid[volume <= fraction]
        return float(candidates.min()) if len(candidates) else float(grid[-1] + 1)

    v10, v90, i10, i90 = v_at(0.1), v_at(0.9), i_at(0.1), i_at(0.9)
    return {
        "ivh_v10": v10,
        "ivh_v90": v90,
        "ivh_i10": i10,
        "ivh_i90": i90,
        "ivh_diff_v10_v90": v10 - v90,
        "ivh_diff_i10_i90": i10 - i90,
    }

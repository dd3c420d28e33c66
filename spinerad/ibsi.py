"""IBSI mode: IBSI 1 feature families and aggregation methods, named by their IBSI tags.

PyRadiomics computes one aggregation per texture family (3D, features averaged over directions). IBSI 1
also defines merged matrices and slice-wise variants; this module computes, from the same preprocessing
settings (PyRadiomics-format parameters), the families

- ``stat_`` intensity statistics, ``ih_`` intensity histogram, ``ivh_`` intensity-volume histogram,
- ``cm_`` GLCM and ``rlm_`` GLRLM: ``2D_avg``, ``2D_comb``, ``2_5D_avg``, ``2_5D_comb``, ``3D_avg``, ``3D_comb``,
- ``szm_`` GLSZM, ``dzm_`` GLDZM, ``ngt_`` NGTDM, ``ngl_`` NGLDM: ``2D``, ``2_5D``, ``3D``,

named ``<family>_<feature>_<aggregation>`` exactly as the IBSI reference tables (e.g. ``cm_joint_max_3D_avg``).
Morphology (``morph_``), local intensity (``loc_``) and the per-step diagnostic values are in
:mod:`spinerad.ibsi_morph`.
Differences from PyRadiomics mode that IBSI prescribes: fixed-bin-size discretisation is anchored at the
lower re-segmentation bound (else the ROI minimum), fixed bin number uses ``floor(Ng (x-min)/(max-min)) + 1``,
``Ng`` is the number of bins (not the highest level present), kurtosis is excess kurtosis, and entropies use
``0 log 0 = 0``. The GLCM/GLRLM counts come from the same kernels as PyRadiomics mode; zone, distance,
neighbourhood matrices use SciPy's connected-component labelling and distance transform.

Axial slices are the first array axis (z). Matrices are computed for ``2D`` per slice (in-plane neighbours),
``2_5D`` by merging the per-slice matrices, and ``3D`` over the volume.
"""

import numpy as np
from scipy import ndimage

from . import kernels
from .kernels import ibsi_texture as _texture_kernels


def _xlog2x(p):
    p = np.asarray(p, dtype=np.float64)
    out = np.zeros_like(p)
    positive = p > 0
    out[positive] = p[positive] * np.log2(p[positive])
    return out


# ---------------------------------------------------------------------------------------------------------
# Discretisation (IBSI)
# ---------------------------------------------------------------------------------------------------------


def discretise(values, bin_width=None, bin_count=None, lower_bound=None):
    """IBSI discretisation: returns (levels 1..Ng per voxel, Ng)."""
    values = np.asarray(values, dtype=np.float64)
    if bin_count is not None:
        low, high = values.min(), values.max()
        if high == low:
            return np.ones(values.shape, dtype=np.int64), int(bin_count)
        levels = np.floor(bin_count * (values - low) / (high - low)).astype(np.int64) + 1
        levels[values == high] = bin_count
        return levels, int(bin_count)
    anchor = values.min() if lower_bound is None else lower_bound
    levels = np.floor((values - anchor) / bin_width).astype(np.int64) + 1
    return levels, int(levels.max())


# ---------------------------------------------------------------------------------------------------------
# Intensity statistics, histogram and IVH
# ---------------------------------------------------------------------------------------------------------


def _moments(x):
    mean = x.mean()
    d = x - mean
    m2 = np.mean(d**2)
    skew = np.mean(d**3) / m2**1.5 if m2 > 0 else 0.0
    kurt = np.mean(d**4) / m2**2 - 3 if m2 > 0 else 0.0
    return mean, m2, skew, kurt


def _common_stats(x, prefix):
    mean, var, skew, kurt = _moments(x)
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    median = np.median(x)
    robust = x[(x >= p10) & (x <= p90)]
    return {
        f"{prefix}_mean": mean,
        f"{prefix}_var": var,
        f"{prefix}_skew": skew,
        f"{prefix}_kurt": kurt,
        f"{prefix}_median": median,
        f"{prefix}_min": x.min(),
        f"{prefix}_p10": p10,
        f"{prefix}_p90": p90,
        f"{prefix}_max": x.max(),
        f"{prefix}_iqr": p75 - p25,
        f"{prefix}_range": x.max() - x.min(),
        f"{prefix}_mad": np.mean(np.abs(x - mean)),
        f"{prefix}_rmad": np.mean(np.abs(robust - robust.mean())),
        f"{prefix}_medad": np.mean(np.abs(x - median)),
        f"{prefix}_cov": np.sqrt(var) / mean if mean != 0 else np.nan,
        f"{prefix}_qcod": (p75 - p25) / (p75 + p25) if (p75 + p25) != 0 else np.nan,
    }


def intensity_statistics(values):
    """``stat_*``: statistics of the ROI intensities (IBSI 3.3)."""
    x = np.asarray(values, dtype=np.float64)
    out = _common_stats(x, "stat")
    out["stat_energy"] = np.sum(x**2)
    out["stat_rms"] = np.sqrt(np.mean(x**2))
    return out


def intensity_histogram(levels, n_levels):
    """``ih_*``: statistics of the discretised intensities and of their histogram (IBSI 3.4)."""
    x = np.asarray(levels, dtype=np.float64)
    out = _common_stats(x, "ih")
    hist = np.bincount(levels, minlength=n_levels + 1)[1:].astype(np.float64)
    p = hist / hist.sum()
    out["ih_mode"] = float(np.argmax(hist) + 1)
    out["ih_entropy"] = -np.sum(_xlog2x(p))
    out["ih_uniformity"] = np.sum(p**2)
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
    values = np.asarray(values, dtype=np.float64)
    if bin_count is not None:
        idx, _ = discretise(values, bin_count=bin_count)
        grid = np.arange(1, bin_count + 1, dtype=np.float64)
        x, low, high = idx.astype(np.float64), 1.0, float(bin_count)
    elif bin_width == 0:
        x = np.round(values)
        low, high = (bounds if bounds is not None else (x.min(), x.max()))
        grid = np.arange(x.min(), x.max() + 1)
    elif bin_width is not None:
        anchor = bounds[0] if bounds is not None else values.min()
        idx = np.floor((values - anchor) / bin_width) + 1
        x = anchor + bin_width * (idx - 0.5)
        grid = anchor + bin_width * (np.arange(1, idx.max() + 1) - 0.5)
        low, high = (bounds if bounds is not None else (values.min(), values.max()))
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


# ---------------------------------------------------------------------------------------------------------
# GLCM / GLRLM: counts from the spinerad kernels, IBSI aggregation and feature definitions
# ---------------------------------------------------------------------------------------------------------


def _compact(levels_volume):
    """Levels 1..Ng (0 outside) -> compact 0..Ng-1 (-1 outside): the kernels' convention, on the full grid."""
    return (levels_volume - 1).astype(np.int32)


def _glcm_stack(compact, n_levels, two_d):
    """Raw counts: 3D -> (13, Ng, Ng); 2D -> (n_slices, 4, Ng, Ng) over slices holding ROI voxels."""
    if not two_d:
        angles = kernels.generate_angles((3, 3, 3), (1,))
        counts = kernels.glcm_matrix(compact, angles, n_levels)
        return counts + np.transpose(counts, (0, 2, 1))
    angles = kernels.generate_angles((1, 3, 3), (1,))
    stack = []
    for z in range(compact.shape[0]):
        plane = compact[z : z + 1]
        if np.any(plane >= 0):
            counts = kernels.glcm_matrix(plane, angles, n_levels)
            stack.append(counts + np.transpose(counts, (0, 2, 1)))
    return np.array(stack)


def glcm_features_batch(counts, n_levels):
    """IBSI GLCM features (3.6) of a stack of co-occurrence count matrices (k, Ng, Ng), levels 1..Ng.

    Returns ``{feature: (k,) array}``; a matrix without counts gives NaN in every feature (IBSI leaves it
    out of any average).
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.shape[0]
    total = counts.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / np.where(total > 0, total, np.nan)[:, None, None]
    g = np.arange(1, n_levels + 1, dtype=np.float64)
    i, j = g[:, None], g[None, :]
    px, py = p.sum(axis=2), p.sum(axis=1)
    mu = px @ g
    mu_y = py @ g
    flat = p.reshape(k, -1)
    diff_index = np.abs(i - j).astype(np.int64).ravel()
    sum_index = (i + j).astype(np.int64).ravel() - 2
    k_diff = np.arange(n_levels, dtype=np.float64)
    k_sum = np.arange(2, 2 * n_levels + 1, dtype=np.float64)
    p_diff = np.zeros((k, n_levels))
    p_sum = np.zeros((k, 2 * n_levels - 1))
    for row in range(k):
        p_diff[row] = np.bincount(diff_index, weights=flat[row], minlength=n_levels)
        p_sum[row] = np.bincount(sum_index, weights=flat[row], minlength=2 * n_levels - 1)
    diff_avg = p_diff @ k_diff
    sum_avg = p_sum @ k_sum
    hxy = -_xlog2x(p).sum(axis=(1, 2))
    hx = -_xlog2x(px).sum(axis=1)
    hy = -_xlog2x(py).sum(axis=1)
    pxy = px[:, :, None] * py[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        hxy1 = -np.sum(np.where(p > 0, p * np.log2(np.where(pxy > 0, pxy, 1)), 0), axis=(1, 2))
    hxy2 = -_xlog2x(pxy).sum(axis=(1, 2))
    dx = i[None] - mu[:, None, None]
    dy = j[None] - mu_y[:, None, None]
    var_x = np.sum(dx**2 * p, axis=(1, 2))
    var_y = np.sum(dy**2 * p, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(var_x * var_y > 0, np.sum(dx * dy * p, axis=(1, 2)) / np.sqrt(var_x * var_y), 1.0)
        info1 = np.where(np.maximum(hx, hy) > 0, (hxy - hxy1) / np.maximum(hx, hy), 0.0)
    cluster = dx + dy
    out = {
        "joint_max": p.max(axis=(1, 2)),
        "joint_avg": mu,
        "joint_var": var_x,
        "joint_entr": hxy,
        "diff_avg": diff_avg,
        "diff_var": np.sum((k_diff[None] - diff_avg[:, None]) ** 2 * p_diff, axis=1),
        "diff_entr": -_xlog2x(p_diff).sum(axis=1),
        "sum_avg": sum_avg,
        "sum_var": np.sum((k_sum[None] - sum_avg[:, None]) ** 2 * p_sum, axis=1),
        "sum_entr": -_xlog2x(p_sum).sum(axis=1),
        "energy": np.sum(p**2, axis=(1, 2)),
        "contrast": np.sum((i - j) ** 2 * p, axis=(1, 2)),
        "dissimilarity": np.sum(np.abs(i - j) * p, axis=(1, 2)),
        "inv_diff": p_diff @ (1 / (1 + k_diff)),
        "inv_diff_norm": p_diff @ (1 / (1 + k_diff / n_levels)),
        "inv_diff_mom": p_diff @ (1 / (1 + k_diff**2)),
        "inv_diff_mom_norm": p_diff @ (1 / (1 + (k_diff / n_levels) ** 2)),
        "inv_var": p_diff[:, 1:] @ (1 / k_diff[1:] ** 2),
        "corr": corr,
        "auto_corr": np.sum(i * j * p, axis=(1, 2)),
        "clust_tend": np.sum(cluster**2 * p, axis=(1, 2)),
        "clust_shade": np.sum(cluster**3 * p, axis=(1, 2)),
        "clust_prom": np.sum(cluster**4 * p, axis=(1, 2)),
        "info_corr1": info1,
        "info_corr2": np.sqrt(np.maximum(0.0, 1 - np.exp(-2 * (hxy2 - hxy)))),
    }
    empty = total == 0
    for values in out.values():
        values[empty] = np.nan
    return out


def glcm_features(counts, n_levels):
    """IBSI GLCM features (3.6) of one co-occurrence count matrix (Ng x Ng); None when it has no counts."""
    if np.sum(counts) == 0:
        return None
    return {k: float(v[0]) for k, v in glcm_features_batch(np.asarray(counts)[None], n_levels).items()}


def _runs_stack(compact, n_levels, two_d):
    """Raw run counts: 3D -> (13, Ng, Nr); 2D -> (n_slices, 4, Ng, Nr). No PyRadiomics 'flat' zeroing."""
    n_runs = max(compact.shape)
    if not two_d:
        angles = kernels.generate_angles((3, 3, 3), (1,))
        return _runs(compact, angles, n_levels, n_runs)
    angles = kernels.generate_angles((1, 3, 3), (1,))
    stack = []
    for z in range(compact.shape[0]):
        plane = compact[z : z + 1]
        if np.any(plane >= 0):
            stack.append(_runs(plane, angles, n_levels, n_runs))
    return np.array(stack)


def _runs(compact, angles, n_levels, n_runs):
    """Run-length counts per angle; unlike PyRadiomics, IBSI keeps directions in which the ROI is flat."""
    counts = kernels.glrlm_matrix(compact, angles, n_levels, zero_flat_angles=False)
    return counts[:, :, :n_runs]


def _emphasis_features_batch(matrices, n_voxels, names, n_levels):
    """Shared IBSI formulas of run/zone/distance/dependence matrices, for a stack (k, Ng, L) at once.

    Rows: grey level 1..Ng, columns: length 1..L; ``n_voxels``: (k,) ROI voxels per matrix. Returns
    ``{IBSI name: (k,) array}``, NaN for a matrix without counts.
    """
    m = np.asarray(matrices, dtype=np.float64)
    k = m.shape[0]
    total = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(total > 0, total, np.nan)
        g = np.arange(1, n_levels + 1, dtype=np.float64)[:, None]
        length = np.arange(1, m.shape[2] + 1, dtype=np.float64)[None, :]
        p = m / safe[:, None, None]
        rows, cols = m.sum(axis=2), m.sum(axis=1)
        mu_g = np.sum(g[None] * p, axis=(1, 2))
        mu_l = np.sum(length[None] * p, axis=(1, 2))

        def weighted(weights):
            return np.sum(m * weights[None], axis=(1, 2)) / safe

        values = {
            "short": weighted(1 / length**2),
            "long": weighted(length**2 + 0 * g),
            "low": weighted(1 / g**2 + 0 * length),
            "high": weighted(g**2 + 0 * length),
            "short_low": weighted(1 / (g**2 * length**2)),
            "short_high": weighted(g**2 / length**2),
            "long_low": weighted(length**2 / g**2),
            "long_high": weighted(g**2 * length**2),
            "glnu": np.sum(rows**2, axis=1) / safe,
            "glnu_norm": np.sum(rows**2, axis=1) / safe**2,
            "lnu": np.sum(cols**2, axis=1) / safe,
            "lnu_norm": np.sum(cols**2, axis=1) / safe**2,
            "perc": total / np.asarray(n_voxels, dtype=np.float64).reshape(k),
            "gl_var": np.sum((g[None] - mu_g[:, None, None]) ** 2 * p, axis=(1, 2)),
            "l_var": np.sum((length[None] - mu_l[:, None, None]) ** 2 * p, axis=(1, 2)),
            "entr": -_xlog2x(np.nan_to_num(p)).sum(axis=(1, 2)),
            "energy": np.sum(p**2, axis=(1, 2)),
        }
    empty = total == 0
    out = {}
    for key, ibsi in names.items():
        column = np.array(values[key], dtype=np.float64)
        column[empty] = np.nan
        out[ibsi] = column
    return out


def _emphasis_features(matrix, n_voxels, names, n_levels):
    """:func:`_emphasis_features_batch` of one matrix; None when it has no counts."""
    if np.sum(matrix) == 0:
        return None
    batch = _emphasis_features_batch(np.asarray(matrix)[None], [n_voxels], names, n_levels)
    return {k: float(v[0]) for k, v in batch.items()}


_RLM_NAMES = {
    "short": "sre", "long": "lre", "low": "lgre", "high": "hgre", "short_low": "srlge", "short_high": "srhge",
    "long_low": "lrlge", "long_high": "lrhge", "glnu": "glnu", "glnu_norm": "glnu_norm", "lnu": "rlnu",
    "lnu_norm": "rlnu_norm", "perc": "r_perc", "gl_var": "gl_var", "l_var": "rl_var", "entr": "rl_entr",
}
_SZM_NAMES = {
    "short": "sze", "long": "lze", "low": "lgze", "high": "hgze", "short_low": "szlge", "short_high": "szhge",
    "long_low": "lzlge", "long_high": "lzhge", "glnu": "glnu", "glnu_norm": "glnu_norm", "lnu": "zsnu",
    "lnu_norm": "zsnu_norm", "perc": "z_perc", "gl_var": "gl_var", "l_var": "zs_var", "entr": "zs_entr",
}
_DZM_NAMES = {
    "short": "sde", "long": "lde", "low": "lgze", "high": "hgze", "short_low": "sdlge", "short_high": "sdhge",
    "long_low": "ldlge", "long_high": "ldhge", "glnu": "glnu", "glnu_norm": "glnu_norm", "lnu": "zdnu",
    "lnu_norm": "zdnu_norm", "perc": "z_perc", "gl_var": "gl_var", "l_var": "zd_var", "entr": "zd_entr",
}
_NGL_NAMES = {
    "short": "lde", "long": "hde", "low": "lgce", "high": "hgce", "short_low": "ldlge", "short_high": "ldhge",
    "long_low": "hdlge", "long_high": "hdhge", "glnu": "glnu", "glnu_norm": "glnu_norm", "lnu": "dcnu",
    "lnu_norm": "dcnu_norm", "perc": "dc_perc", "gl_var": "gl_var", "l_var": "dc_var", "entr": "dc_entr",
    "energy": "dc_energy",
}


def _mean_dicts(dicts):
    dicts = [d for d in dicts if d is not None]
    if not dicts:
        return {}
    return {k: float(np.nanmean([d[k] for d in dicts])) for k in dicts[0]}


def _mean_rows(batch):
    """IBSI average over matrices: the mean of each feature over the matrices that have counts."""
    if not batch:
        return {}
    first = next(iter(batch.values()))
    if np.all(np.isnan(first)):
        return {}
    with np.errstate(invalid="ignore"):
        return {k: float(np.nanmean(v)) for k, v in batch.items()}


def _aggregate_directional(stack3d, stack2d, features, n_voxels_3d, n_voxels_2d):
    """The six IBSI aggregations of a per-direction matrix family.

    ``features(matrices (k, ...), n_voxels (k,))`` -> ``{name: (k,) array}`` (NaN rows for empty matrices).
    ``stack3d``: (13, ...); ``stack2d``: (n_slices, 4, ...); ``n_voxels_2d``: ROI voxels per slice.
    """
    out = {}
    n3 = len(stack3d)
    out["3D_avg"] = _mean_rows(features(stack3d, np.full(n3, n_voxels_3d)))
    out["3D_comb"] = _mean_rows(features(stack3d.sum(axis=0)[None], [n_voxels_3d * n3]))
    if len(stack2d):
        n_slices, n_dirs = stack2d.shape[:2]
        per_slice = np.asarray(n_voxels_2d, dtype=np.float64)
        flat = stack2d.reshape((n_slices * n_dirs,) + stack2d.shape[2:])
        out["2D_avg"] = _mean_rows(features(flat, np.repeat(per_slice, n_dirs)))
        out["2D_comb"] = _mean_rows(features(stack2d.sum(axis=1), per_slice * n_dirs))
        total = float(per_slice.sum())
        out["2_5D_avg"] = _mean_rows(features(stack2d.sum(axis=0), np.full(n_dirs, total)))
        out["2_5D_comb"] = _mean_rows(features(stack2d.sum(axis=(0, 1))[None], [total * n_dirs]))
    return out


# ---------------------------------------------------------------------------------------------------------
# Zones, distances, neighbourhoods
# ---------------------------------------------------------------------------------------------------------


def _zones(levels_volume, n_levels, two_d, morph_mask=None):
    """(level, size, min border distance) of every zone of equal grey level (8/26-connected).

    Distances are taxicab distances to the border of ``morph_mask`` (the ROI before re-segmentation; the
    intensity ROI when not given), 1 for a voxel on the border (IBSI 3.8).
    """
    roi = levels_volume > 0 if morph_mask is None else morph_mask
    padded = np.pad(roi, 1)
    if two_d:
        distance = np.stack([ndimage.distance_transform_cdt(plane, metric="taxicab") for plane in padded])
    else:
        distance = ndimage.distance_transform_cdt(padded, metric="taxicab")
    distance = np.ascontiguousarray(distance[1:-1, 1:-1, 1:-1], dtype=np.int64)
    levels_volume = np.ascontiguousarray(levels_volume, dtype=np.int64)
    capacity = max(1, int(np.count_nonzero(levels_volume)))
    zone_level = np.empty(capacity, dtype=np.int64)
    zone_size = np.empty(capacity, dtype=np.int64)
    zone_distance = np.empty(capacity, dtype=np.int64)
    n = _texture_kernels.zones_kernel(levels_volume, distance, two_d, zone_level, zone_size, zone_distance)
    return list(zip(zone_level[:n].tolist(), zone_size[:n].tolist(), zone_distance[:n].tolist()))


def _zone_matrices(levels_volume, n_levels, two_d, morph_mask=None):
    zones = np.array(_zones(levels_volume, n_levels, two_d, morph_mask), dtype=np.int64).reshape(-1, 3)
    level, size, distance = zones[:, 0] - 1, zones[:, 1] - 1, zones[:, 2] - 1
    size_matrix = np.zeros((n_levels, size.max() + 1))
    distance_matrix = np.zeros((n_levels, distance.max() + 1))
    np.add.at(size_matrix, (level, size), 1)
    np.add.at(distance_matrix, (level, distance), 1)
    return size_matrix, distance_matrix


def _neighbourhood(levels_volume, two_d):
    """Per ROI voxel: grey level, number of ROI neighbours, their sum and the count of equal-level ones."""
    levels_volume = np.ascontiguousarray(levels_volume, dtype=np.int64)
    count = np.zeros(levels_volume.shape)
    total = np.zeros(levels_volume.shape)
    same = np.zeros(levels_volume.shape)
    _texture_kernels.neighbourhood_kernel(levels_volume, two_d, count, total, same)
    roi = levels_volume > 0
    return levels_volume[roi], count[roi], total[roi], same[roi]


def _ngtdm(levels_volume, n_levels, two_d):
    level, count, total, _ = _neighbourhood(levels_volume, two_d)
    has = count > 0
    s = np.zeros(n_levels)
    n = np.zeros(n_levels)
    np.add.at(s, level[has] - 1, np.abs(level[has] - total[has] / count[has]))
    np.add.at(n, level[has] - 1, 1)
    return s, n


def ngtdm_features(s, n):
    """IBSI NGTDM features (3.10) from per-level sums of absolute differences ``s`` and counts ``n``."""
    n_valid = n.sum()
    p = n / n_valid
    g = np.arange(1, len(n) + 1, dtype=np.float64)
    present = p > 0
    gp, pp, sp = g[present], p[present], s[present]
    n_present = present.sum()
    gi, gj = np.meshgrid(gp, gp, indexing="ij")
    pi, pj = np.meshgrid(pp, pp, indexing="ij")
    si, sj = np.meshgrid(sp, sp, indexing="ij")
    weighted = np.sum(pp * sp)
    contrast = (
        np.sum(pi * pj * (gi - gj) ** 2) / (n_present * (n_present - 1)) * np.sum(sp) / n_valid
        if n_present > 1
        else 0.0
    )
    busy_den = np.sum(np.abs(gi * pi - gj * pj))
    return {
        "coarseness": 1 / weighted if weighted > 0 else 1e6,
        "contrast": contrast,
        "busyness": weighted / busy_den if busy_den > 0 else 0.0,
        "complexity": np.sum(np.abs(gi - gj) * (pi * si + pj * sj) / (pi + pj)) / n_valid,
        "strength": np.sum((pi + pj) * (gi - gj) ** 2) / np.sum(sp) if np.sum(sp) > 0 else 0.0,
    }


def _ngldm(levels_volume, n_levels, two_d):
    level, _, _, same = _neighbourhood(levels_volume, two_d)
    max_dependence = 9 if two_d else 27
    matrix = np.zeros((n_levels, max_dependence))
    np.add.at(matrix, (level - 1, same.astype(np.int64)), 1)  # dependence k = 1 + equal neighbours
    return matrix


def _slice_family(levels_volume, n_levels, per_slice, features, merge, morph_mask):
    """``2D`` (features per slice, averaged), ``2_5D`` (per-slice matrices merged) and ``3D``.

    ``per_slice(volume, two_d, morph)`` builds one matrix; ``morph`` is the matching morphological mask.
    """
    if morph_mask is None:
        morph_mask = levels_volume > 0
    planes = [z for z in range(levels_volume.shape[0]) if np.any(levels_volume[z] > 0)]
    slices = [levels_volume[z : z + 1] for z in planes]
    matrices = [per_slice(levels_volume[z : z + 1], True, morph_mask[z : z + 1]) for z in planes]
    return {
        "2D": _mean_dicts([features(m, s) for m, s in zip(matrices, slices)]),
        "2_5D": _mean_dicts([features(merge(matrices), levels_volume)]),
        "3D": _mean_dicts([features(per_slice(levels_volume, False, morph_mask), levels_volume)]),
    }


def _pad_sum(matrices):
    width = max(m.shape[1] for m in matrices)
    return sum(np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in matrices)


# ---------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------


def ibsi_features(values, levels_volume, n_levels, ivh=None, morph_mask=None):
    """All implemented IBSI families of one ROI.

    Parameters
    ----------
    values : numpy.ndarray
        ROI intensities (after re-segmentation), any order.
    levels_volume : numpy.ndarray
        int (z, y, x) discretised levels 1..Ng inside the ROI, 0 outside (cropped to the ROI box).
    n_levels : int
        Number of grey levels Ng.
    ivh : dict or None
        Keyword arguments of :func:`intensity_volume_histogram` (its own discretisation and range).
    morph_mask : numpy.ndarray or None
        bool ROI before re-segmentation, same grid as ``levels_volume`` (GLDZM distances).

    Returns
    -------
    dict
        ``{IBSI tag: float}``.
    """
    levels_volume = np.asarray(levels_volume, dtype=np.int64)
    roi_levels = levels_volume[levels_volume > 0]
    out = {}
    out.update(intensity_statistics(values))
    out.update(intensity_histogram(roi_levels, n_levels))
    out.update(intensity_volume_histogram(values, roi_levels, n_levels, **(ivh or {})))

    compact = _compact(levels_volume)
    n_voxels = int(roi_levels.size)
    n_per_slice = [int(np.count_nonzero(levels_volume[z])) for z in range(levels_volume.shape[0])]
    n_per_slice = [n for n in n_per_slice if n]

    cm = _aggregate_directional(
        _glcm_stack(compact, n_levels, False),
        _glcm_stack(compact, n_levels, True),
        lambda m, nv: glcm_features_batch(m, n_levels),
        n_voxels,
        n_per_slice,
    )
    for aggregation, values_ in cm.items():
        out.update({f"cm_{k}_{aggregation}": v for k, v in values_.items()})

    rlm = _aggregate_directional(
        _runs_stack(compact, n_levels, False),
        _runs_stack(compact, n_levels, True),
        lambda m, nv: _emphasis_features_batch(m, nv, _RLM_NAMES, n_levels),
        n_voxels,
        n_per_slice,
    )
    for aggregation, values_ in rlm.items():
        out.update({f"rlm_{k}_{aggregation}": v for k, v in values_.items()})

    def voxels(volume):
        return int(np.count_nonzero(volume))

    families = {
        "szm": (
            lambda v, two_d, morph: _zone_matrices(v, n_levels, two_d)[0],
            lambda m, v: _emphasis_features(m, voxels(v), _SZM_NAMES, n_levels),
            _pad_sum,
        ),
        "dzm": (
            lambda v, two_d, morph: _zone_matrices(v, n_levels, two_d, morph)[1],
            lambda m, v: _emphasis_features(m, voxels(v), _DZM_NAMES, n_levels),
            _pad_sum,
        ),
        "ngl": (
            lambda v, two_d, morph: _ngldm(v, n_levels, two_d),
            lambda m, v: _emphasis_features(m, voxels(v), _NGL_NAMES, n_levels),
            _pad_sum,
        ),
        "ngt": (
            lambda v, two_d, morph: _ngtdm(v, n_levels, two_d),
            lambda m, v: ngtdm_features(*m),
            lambda ms: (sum(m[0] for m in ms), sum(m[1] for m in ms)),
        ),
    }
    for family, (matrix, features, merge) in families.items():
        for aggregation, values_ in _slice_family(levels_volume, n_levels, matrix, features, merge, morph_mask).items():
            out.update({f"{family}_{k}_{aggregation}": v for k, v in values_.items()})
    return {k: float(v) for k, v in out.items()}

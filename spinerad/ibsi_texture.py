"""IBSI mode's texture families and their aggregations, on PyRadiomics mode's kernels where IBSI agrees.

Families and aggregations (IBSI 1, sections 3.6-3.11), named ``<family>_<feature>_<aggregation>``:

- ``cm_`` GLCM and ``rlm_`` GLRLM, matrices per direction: ``2D_avg`` (per slice and direction),
  ``2D_comb`` (per slice, directions merged), ``2_5D_avg`` (per direction, slices merged), ``2_5D_comb``
  (everything merged), ``3D_avg`` (per 3D direction), ``3D_comb`` (3D directions merged);
- ``szm_`` GLSZM, ``dzm_`` GLDZM, ``ngt_`` NGTDM, ``ngl_`` NGLDM, one matrix per neighbourhood:
  ``2D`` (per slice, in-plane neighbours), ``2_5D`` (the per-slice matrices merged), ``3D`` (the volume).

An ``avg`` value is the mean of the feature over the matrices that hold counts. Every matrix of one family
and ROI (per slice, per direction, merged) goes to the feature formulas in one batch.

Where the definitions coincide the formulas are PyRadiomics mode's, so each exists once:

- GLCM features: :func:`spinerad.kernels.glcm.glcm_features` on levels ``1..Ng`` with ``Ng`` the bin count
  (IBSI's sum variance is PyRadiomics' cluster tendency, dissimilarity its difference average).
- GLRLM, GLSZM, GLDZM and NGLDM: IBSI defines the same 16 emphasis / non-uniformity / variance / entropy
  formulas for any (grey level, length) count matrix; they are
  :func:`spinerad.kernels.glrlm.glrlm_features`. Only the "percentage" divisor differs for GLDZM and NGLDM
  (their columns are not voxel counts: the ROI's voxels are used) and NGLDM adds its energy.
- NGTDM features: :func:`spinerad.kernels.ngtdm.ngtdm_features` (IBSI's definitions). IBSI's matrix,
  unlike PyRadiomics', leaves out voxels without an ROI neighbour.

Entropies there take ``log2(p + eps)``: against IBSI's ``0 log 0 = 0`` that is a relative difference of
about ``eps`` per term (below 1e-13 on the IBSI phantoms), far inside IBSI's tolerances.

Matrices: co-occurrence and run counts from PyRadiomics mode's kernels (IBSI keeps directions in which
the ROI is flat); zones with their border distances, and the neighbourhood counts of NGTDM and NGLDM,
from :mod:`spinerad.kernels.ibsi_texture` (one pass gives both matrices of a pair, all slices at once).
Axial slices are the first array axis (z).
"""

import numpy as np
from scipy import ndimage

from . import kernels
from .kernels import glcm as _glcm
from .kernels import glrlm as _glrlm
from .kernels import ibsi_texture as _ibsi_kernels
from .kernels import ngtdm as _ngtdm
from .kernels.aggregation import nanmean_last

#: IBSI GLCM feature -> PyRadiomics GLCM feature of the same definition.
_CM_NAMES = {
    "joint_max": "MaximumProbability",
    "joint_avg": "JointAverage",
    "joint_var": "SumSquares",
    "joint_entr": "JointEntropy",
    "diff_avg": "DifferenceAverage",
    "diff_var": "DifferenceVariance",
    "diff_entr": "DifferenceEntropy",
    "sum_avg": "SumAverage",
    "sum_var": "ClusterTendency",
    "sum_entr": "SumEntropy",
    "energy": "JointEnergy",
    "contrast": "Contrast",
    "dissimilarity": "DifferenceAverage",
    "inv_diff": "Id",
    "inv_diff_norm": "Idn",
    "inv_diff_mom": "Idm",
    "inv_diff_mom_norm": "Idmn",
    "inv_var": "InverseVariance",
    "corr": "Correlation",
    "auto_corr": "Autocorrelation",
    "clust_tend": "ClusterTendency",
    "clust_shade": "ClusterShade",
    "clust_prom": "ClusterProminence",
    "info_corr1": "Imc1",
    "info_corr2": "Imc2",
}

#: Each family's IBSI names of the emphasis formulas' columns, in the order of
#: :data:`spinerad.kernels.glrlm.FEATURE_NAMES` (short/long emphasis, non-uniformities, percentage,
#: variances, entropy, grey-level emphases; GLRLM's are its ``FORMULAS`` tags).
_IBSI_EMPHASIS = {
    "rlm": "sre lre glnu glnu_norm rlnu rlnu_norm r_perc gl_var rl_var rl_entr "
    "lgre hgre srlge srhge lrlge lrhge",
    "szm": "sze lze glnu glnu_norm zsnu zsnu_norm z_perc gl_var zs_var zs_entr "
    "lgze hgze szlge szhge lzlge lzhge",
    "dzm": "sde lde glnu glnu_norm zdnu zdnu_norm z_perc gl_var zd_var zd_entr "
    "lgze hgze sdlge sdhge ldlge ldhge",
    "ngl": "lde hde glnu glnu_norm dcnu dcnu_norm dc_perc gl_var dc_var dc_entr "
    "lgce hgce ldlge ldhge hdlge hdhge",
}
_NGT_NAMES = {name.lower(): name for name in _ngtdm.FEATURE_NAMES}


# ---------------------------------------------------------------------------------------------------------
# Feature formulas of a batch of matrices: (k, ...) -> {IBSI name: (k,) array}, NaN for an empty matrix
# ---------------------------------------------------------------------------------------------------------


def glcm_batch(counts, n_levels):
    """IBSI GLCM features of symmetric co-occurrence counts (k, Ng, Ng)."""
    total = counts.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / np.where(total > 0, total, np.nan)[:, None, None]
    grey = np.arange(1, n_levels + 1, dtype=np.float64)
    values = _glcm.glcm_features(p[None], grey, n_levels)[0]
    column = {name: values[:, _glcm.FEATURE_NAMES.index(name)] for name in set(_CM_NAMES.values())}
    out = {ibsi: column[name].copy() for ibsi, name in _CM_NAMES.items()}
    # sqrt(1 - exp(-2 (HXY2 - HXY))) of a rounding-level negative difference: IBSI's value is 0
    out["info_corr2"][(total > 0) & np.isnan(out["info_corr2"])] = 0.0
    return _blank_empty(out, total)


def emphasis_batch(counts, n_levels, family, n_voxels=None):
    """IBSI run/zone/distance/dependence features of count matrices (k, Ng, L) (column c: length c + 1).

    ``n_voxels`` (k,): the divisor of the percentage feature where the columns are not voxel counts
    (GLDZM, NGLDM); else the voxels the matrix covers (sum of length x count), as for runs and zones.
    """
    counts = _trim_columns(counts)
    total = counts.sum(axis=(1, 2))
    grey = np.arange(1, n_levels + 1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = _glrlm.glrlm_features(counts[None], total[None], grey)[0]
        if n_voxels is not None:
            values[:, _glrlm.FEATURE_NAMES.index("RunPercentage")] = total / np.asarray(
                n_voxels, dtype=np.float64
            )
    names = _IBSI_EMPHASIS[family].split()
    out = {ibsi: values[:, column] for column, ibsi in enumerate(names)}
    if family == "ngl":
        with np.errstate(invalid="ignore", divide="ignore"):
            out["dc_energy"] = np.sum(counts**2, axis=(1, 2)) / total**2
    return _blank_empty(out, total)


def ngtdm_batch(matrices, n_levels):
    """IBSI NGTDM features of (k, Ng, 2) matrices: column 0 the voxels with neighbours, 1 the sums s_i."""
    total = matrices[:, :, 0].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = _ngtdm.ngtdm_features(matrices, np.arange(1, n_levels + 1, dtype=np.float64))
    out = {ibsi: values[:, _ngtdm.FEATURE_NAMES.index(name)] for ibsi, name in _NGT_NAMES.items()}
    return _blank_empty(out, total)


def _blank_empty(out, total):
    empty = total == 0
    for values in out.values():
        values[empty] = np.nan
    return out


def _trim_columns(counts):
    used = np.flatnonzero(counts.any(axis=(0, 1)))
    width = int(used[-1]) + 1 if len(used) else 1
    return np.ascontiguousarray(counts[:, :, :width], dtype=np.float64)


def _mean(batch, rows):
    """IBSI average of the features over the matrices ``rows`` that hold counts ({} when none does)."""
    names = list(batch)
    table = np.stack([batch[k][rows] for k in names])  # (features, matrices)
    if table.size == 0 or np.all(np.isnan(table[0])):
        return {}
    return dict(zip(names, nanmean_last(table).tolist(), strict=True))


def _named(family, aggregated):
    return {
        f"{family}_{k}_{aggregation}": v
        for aggregation, values in aggregated.items()
        for k, v in values.items()
    }


# ---------------------------------------------------------------------------------------------------------
# Directional families (GLCM, GLRLM): six aggregations from one batch
# ---------------------------------------------------------------------------------------------------------


def _directional(stack3d, stack2d, features, aggregations):
    """Compute the IBSI aggregations of ``aggregations`` (2D, 2_5D, 3D: two each) in one feature batch.

    ``stack3d``: (13, ...) or None without 3D; ``stack2d``: (slices, 4, ...) or None without 2D and 2.5D.
    """
    parts = {}
    if "3D" in aggregations:
        parts["3D_avg"] = stack3d
        parts["3D_comb"] = stack3d.sum(axis=0)[None]
    if stack2d is not None and len(stack2d):
        if "2D" in aggregations:
            parts["2D_avg"] = stack2d.reshape((-1,) + stack2d.shape[2:])
            parts["2D_comb"] = stack2d.sum(axis=1)
        if "2_5D" in aggregations:
            parts["2_5D_avg"] = stack2d.sum(axis=0)
            parts["2_5D_comb"] = stack2d.sum(axis=(0, 1))[None]
    if not parts:
        return {}
    batch = features(np.concatenate([np.asarray(v, dtype=np.float64) for v in parts.values()]))
    out, start = {}, 0
    for aggregation, matrices in parts.items():
        out[aggregation] = _mean(batch, slice(start, start + len(matrices)))
        start += len(matrices)
    return out


_ANGLES_3D = kernels.generate_angles((3, 3, 3), (1,))
_ANGLES_2D = kernels.generate_angles((1, 3, 3), (1,))


def glcm_family(compact, planes, n_levels, aggregations):
    """``cm_*``: co-occurrences at distance 1, symmetric."""
    stack3d = stack2d = None
    if "3D" in aggregations:
        counts = kernels.glcm_matrix(compact, _ANGLES_3D, n_levels)
        stack3d = counts + np.transpose(counts, (0, 2, 1))
    if {"2D", "2_5D"} & set(aggregations):
        stack2d = np.empty((len(planes), len(_ANGLES_2D), n_levels, n_levels))
        for row, z in enumerate(planes):
            counts = kernels.glcm_matrix(compact[z : z + 1], _ANGLES_2D, n_levels)
            stack2d[row] = counts + np.transpose(counts, (0, 2, 1))
    return _named("cm", _directional(stack3d, stack2d, lambda m: glcm_batch(m, n_levels), aggregations))


def glrlm_family(compact, planes, n_levels, aggregations):
    """``rlm_*``: runs along each direction (IBSI keeps directions along which the ROI is flat).

    The per-slice matrices come from one call: level ``g`` of slice ``s`` is counted as level
    ``s * Ng + g`` (an in-plane run never leaves its slice), then the rows are split by slice.
    """
    width = max(compact.shape)  # the longest run
    stack3d = stack2d = None
    if "3D" in aggregations:
        stack3d = kernels.glrlm_matrix(compact, _ANGLES_3D, n_levels, zero_flat_angles=False)
    if {"2D", "2_5D"} & set(aggregations):
        tagged = compact[planes]
        offset = (np.arange(len(planes), dtype=np.int32) * n_levels)[:, None, None]
        tagged = np.where(tagged >= 0, tagged + offset, -1)
        runs = kernels.glrlm_matrix(tagged, _ANGLES_2D, len(planes) * n_levels, zero_flat_angles=False)
        stack2d = np.zeros((len(planes), len(_ANGLES_2D), n_levels, width))
        by_slice = runs.reshape(len(_ANGLES_2D), len(planes), n_levels, -1).transpose(1, 0, 2, 3)
        stack2d[..., : by_slice.shape[3]] = by_slice
    rlm = _directional(stack3d, stack2d, lambda m: emphasis_batch(m, n_levels, "rlm"), aggregations)
    return _named("rlm", rlm)


# ---------------------------------------------------------------------------------------------------------
# Neighbourhood families (GLSZM, GLDZM, NGTDM, NGLDM): 2D, 2.5D and 3D
# ---------------------------------------------------------------------------------------------------------


def _by_slice(per_slice, merged_3d, features, aggregations):
    """``2D`` (mean over the slices' matrices), ``2_5D`` (their sum), ``3D``: those in ``aggregations``.

    ``per_slice``: the slices' matrices (each (Ng, its own width); None without 2D and 2.5D);
    ``merged_3d``: the volume's (None without 3D). ``features(stack, rows)`` gets them in batches (see
    :func:`_batched`), ``rows`` their positions in (slices..., 2.5D, 3D) as indices (2.5D: -2, 3D: -1).
    """
    n = len(per_slice) if per_slice is not None else 0
    matrices, rows = [], []  # rows: a slice's index, -2 for 2.5D, -1 for 3D (as in n_voxels-like arrays)
    if "2D" in aggregations:
        matrices += per_slice
        rows += range(n)
    if "2_5D" in aggregations:
        merged = np.zeros((per_slice[0].shape[0], max(m.shape[1] for m in per_slice)))
        for m in per_slice:
            merged[:, : m.shape[1]] += m
        matrices.append(merged)
        rows.append(-2)
    if "3D" in aggregations:
        matrices.append(merged_3d)
        rows.append(-1)
    batch = _batched(matrices, np.array(rows), features)
    position = {row: i for i, row in enumerate(rows)}
    out = {}
    if "2D" in aggregations:
        out["2D"] = _mean(batch, slice(0, n))
    for name, row in (("2_5D", -2), ("3D", -1)):
        if name in aggregations:
            out[name] = _mean(batch, [position[row]])
    return out


#: Most matrix elements in one feature batch (bounds the memory of wide zone matrices).
_BATCH_ELEMENTS = 1 << 22


def _batched(matrices, rows, features):
    """``features(stack, rows)`` of a list of (Ng, width) matrices, in batches of similar width, padded.

    Matrices are taken in order of width; a batch closes before its padded width would exceed twice its
    narrowest, or its size :data:`_BATCH_ELEMENTS`, so padding at most doubles the formulas' work.
    """
    positions = rows
    order = sorted(range(len(matrices)), key=lambda i: matrices[i].shape[1])
    pieces, start = [], 0
    while start < len(order):
        narrowest = matrices[order[start]].shape[1]
        stop = start + 1
        while stop < len(order):
            width = matrices[order[stop]].shape[1]
            if width > 2 * narrowest or (stop + 1 - start) * matrices[0].shape[0] * width > _BATCH_ELEMENTS:
                break
            stop += 1
        rows = np.array(order[start:stop])
        stack = np.zeros((len(rows), matrices[0].shape[0], matrices[order[stop - 1]].shape[1]))
        for row, i in enumerate(rows):
            stack[row, :, : matrices[i].shape[1]] = matrices[i]
        pieces.append((rows, features(stack, positions[rows])))
        start = stop
    out = {}
    for rows, values in pieces:
        for k, v in values.items():
            out.setdefault(k, np.empty(len(matrices)))[rows] = v
    return out


def _histogram(index, shape):
    """Count the flat ``index`` values into an array of ``shape``."""
    return np.bincount(index, minlength=int(np.prod(shape))).astype(np.float64).reshape(shape)


def _count_matrices(rows, n_rows, level, length, n_levels):
    """One (Ng, longest length) count matrix per row: entries (level 1..Ng, length 1..) of that row."""
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(n_rows + 1))
    out = []
    for r in range(n_rows):
        part = order[bounds[r] : bounds[r + 1]]
        width = int(length[part].max()) if len(part) else 1
        out.append(_histogram((level[part] - 1) * width + length[part] - 1, (n_levels, width)))
    return out


def _border_distance(morph_mask, two_d):
    """Taxicab distance to the border of ``morph_mask`` (1 on the border; in-plane when ``two_d``)."""
    structure = ndimage.generate_binary_structure(3, 1)
    if two_d:
        structure[0] = structure[2] = False
    distance = ndimage.distance_transform_cdt(np.pad(morph_mask, 1), metric=structure)
    return np.ascontiguousarray(distance[1:-1, 1:-1, 1:-1], dtype=np.int64)


def zone_families(levels, row_of_slice, n_levels, morph_mask, aggregations):
    """``szm_*`` and ``dzm_*``: zones 8-connected in-plane (2D) or 26-connected (3D).

    Distances are taxicab distances to the border of ``morph_mask`` (the ROI before re-segmentation).
    """
    n_slices = int(row_of_slice.max()) + 1
    sizes_2d = distances_2d = sizes_3d = distances_3d = None
    if {"2D", "2_5D"} & set(aggregations):
        z, level, size, distance = _ibsi_kernels.equal_level_zones(
            levels, _border_distance(morph_mask, True), True
        )
        rows = row_of_slice[z]
        sizes_2d = _count_matrices(rows, n_slices, level, size, n_levels)
        distances_2d = _count_matrices(rows, n_slices, level, distance, n_levels)
    if "3D" in aggregations:
        _, level, size, distance = _ibsi_kernels.equal_level_zones(
            levels, _border_distance(morph_mask, False), False
        )
        (sizes_3d,) = _count_matrices(np.zeros_like(level), 1, level, size, n_levels)
        (distances_3d,) = _count_matrices(np.zeros_like(level), 1, level, distance, n_levels)
    n_voxels = _voxels_per_row(levels, row_of_slice)
    szm = _by_slice(sizes_2d, sizes_3d, lambda m, rows: emphasis_batch(m, n_levels, "szm"), aggregations)
    dzm = _by_slice(
        distances_2d,
        distances_3d,
        lambda m, rows: emphasis_batch(m, n_levels, "dzm", n_voxels[rows]),
        aggregations,
    )
    return {**_named("szm", szm), **_named("dzm", dzm)}


def _voxels_per_row(levels, row_of_slice):
    """ROI voxels of each slice's row, then of the 2.5D and 3D rows (all)."""
    voxels = np.bincount(row_of_slice[np.nonzero(levels)[0]]).astype(np.float64)
    return np.concatenate([voxels, [voxels.sum(), voxels.sum()]])


def neighbourhood_families(levels, planes, n_levels, aggregations):
    """``ngt_*`` and ``ngl_*``: the 8 in-plane (2D) or 26 (3D) neighbours of each ROI voxel.

    NGTDM: per level, the voxels that have an ROI neighbour and the sum of |level - neighbour mean|;
    NGLDM: voxels by level and dependence ``1 + equal-level neighbours`` (coarseness 0, distance 1).
    """
    ngt, ngl = [None, None], [None, None]
    padded = np.pad(levels, 1)  # a border of zeros: no neighbour step leaves the array
    for i, (two_d, dependence) in enumerate(((True, 9), (False, 27))):
        if not ({"2D", "2_5D"} if two_d else {"3D"}) & set(aggregations):
            continue
        ngtdm = np.zeros((levels.shape[0], n_levels, 2))
        ngldm = np.zeros((levels.shape[0], n_levels, dependence))
        steps = _ibsi_kernels.flat_offsets(_ibsi_kernels.neighbour_offsets(two_d), padded.shape)
        _ibsi_kernels.neighbourhood_kernel(padded, steps, ngtdm, ngldm)
        ngt[i] = list(ngtdm[planes]) if two_d else ngtdm.sum(axis=0)
        ngl[i] = list(ngldm[planes]) if two_d else ngldm.sum(axis=0)
    voxels = np.count_nonzero(levels[planes], axis=(1, 2)).astype(np.float64)
    n_voxels = np.concatenate([voxels, [voxels.sum(), voxels.sum()]])
    ngt_values = _by_slice(*ngt, lambda m, rows: ngtdm_batch(m, n_levels), aggregations)
    ngl_values = _by_slice(
        *ngl, lambda m, rows: emphasis_batch(m, n_levels, "ngl", n_voxels[rows]), aggregations
    )
    return {**_named("ngt", ngt_values), **_named("ngl", ngl_values)}

r"""GLCM feature maps: the co-occurrence features of every voxel's kernel, PyRadiomics-exact.

Per voxel (one thread, thread-private scratch): count the pairs of the kernel box per angle over the box's
local grey levels, symmetrise, drop the angles without a pair (PyRadiomics computing this voxel alone),
normalise, then the same feature formulas as the per-ROI class (:mod:`spinerad.kernels.glcm`) with the real
level values and the ROI's ``Ng``. Levels absent from the kernel would only add zero rows and columns:
every sum skips them, and the MCC matrix gets zero rows whose eigenvalues are exactly 0.

MCC: for a symmetric GLCM, :math:`Q = D^{-1}PD^{-1}P` is similar to :math:`S^2` with the symmetric
:math:`S = D^{-1/2}PD^{-1/2}`, so its second-largest eigenvalue is the second-largest :math:`s_k^2`
(``eigvalsh``, always real). PyRadiomics takes the general eigenvalues of Q (+ eps in the denominator):
the two agree to rounding except where the true value is 0, where PyRadiomics' square root of a
rounding-level eigenvalue is ~1e-8 or NaN and this one is ~1e-8 or 0.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT, JIT_PARALLEL
from .glcm import EPS, FEATURE_NAMES, MCC_NAME
from .symmetric_eigen import _symmetric_eigenvalues
from .voxel_common import box_bounds, local_box, nanmean_row

N_FEATURES = len(FEATURE_NAMES) + 1  # + MCC, last
_JOINT_AVERAGE = FEATURE_NAMES.index("JointAverage")


@njit(**JIT)
def _mcc(p, n, d, s, w):
    """Sqrt of the second-largest eigenvalue of Q for one symmetric normalised matrix ``p[:n, :n]``.

    ``d``, ``s``, ``w``: scratch (n), (n, n), (n). NaN if the eigenvalue iteration does not converge.
    """
    for i in range(n):
        d[i] = 0.0
        for j in range(n):
            d[i] += p[i, j]
    for i in range(n):
        for j in range(n):
            s[i, j] = p[i, j] / np.sqrt(d[i] * d[j]) if d[i] > 0 and d[j] > 0 else 0.0
    if not _symmetric_eigenvalues(s, n, w, d):
        return np.nan
    first = -1.0
    second = -1.0
    for i in range(n):
        v = w[i] * w[i]
        if v > first:
            second = first
            first = v
        elif v > second:
            second = v
    return np.sqrt(second)


@njit(**JIT)
def _angle_features(p, n, g, ng_max, px, py, p_sum, p_diff, row):
    """The 23 GLCM features of one normalised matrix ``p[:n, :n]`` (local levels ``g``) into ``row``.

    The formulas and their order of operations are :func:`spinerad.kernels.glcm._glcm_feature_kernel`'s,
    with zero entries skipped (they add exactly 0) and the sum/difference marginals in dense scratch
    (``p_sum`` 2 Ng - 1, ``p_diff`` Ng, all zero on entry and on return).
    """
    for i in range(n):
        px[i] = 0.0
        py[i] = 0.0
    ux = 0.0
    uy = 0.0
    autocorr = 0.0
    contrast = 0.0
    energy = 0.0
    hxy = 0.0
    max_p = -np.inf
    for i in range(n):
        for j in range(n):
            v = p[i, j]
            if np.isnan(v):
                max_p = v
            if v == 0.0:
                continue
            px[i] += v
            py[j] += v
            ux += g[i] * v
            uy += g[j] * v
            autocorr += v * (g[i] * g[j])
            d = abs(g[i] - g[j])
            contrast += v * d**2
            energy += v**2
            hxy -= v * np.log2(v + EPS)
            if v > max_p:
                max_p = v
            p_sum[int(g[i] + g[j]) - 2] += v
            p_diff[int(d)] += v
    prominence = 0.0
    shade = 0.0
    tendency = 0.0
    sig_x = 0.0
    sig_y = 0.0
    cor_m = 0.0
    hxy1 = 0.0
    hxy2 = 0.0
    for i in range(n):
        for j in range(n):
            v = p[i, j]
            pxy = px[i] * py[j]
            if pxy != 0.0:
                hxy2 -= pxy * np.log2(pxy + EPS)
            if v == 0.0:
                continue
            s = (g[i] + g[j]) - ux - uy
            prominence += v * s**4
            shade += v * s**3
            tendency += v * s**2
            sig_x += v * (g[i] - ux) ** 2
            sig_y += v * (g[j] - uy) ** 2
            cor_m += v * (g[i] - ux) * (g[j] - uy)
            hxy1 -= v * np.log2(pxy + EPS)
    hx = 0.0
    hy = 0.0
    for i in range(n):
        if px[i] != 0.0:
            hx -= px[i] * np.log2(px[i] + EPS)
        if py[i] != 0.0:
            hy -= py[i] * np.log2(py[i] + EPS)
    sum_squares = sig_x
    sig_x = sig_x**0.5
    sig_y = sig_y**0.5
    if sig_x * sig_y == 0:
        correlation = 1.0
    else:
        correlation = cor_m / (sig_x * sig_y + EPS)
    diff_avg = 0.0
    diff_ent = 0.0
    idm = 0.0
    idmn = 0.0
    id_ = 0.0
    idn = 0.0
    inv_var = 0.0
    for k in range(ng_max):
        v = p_diff[k]
        if v == 0.0:
            continue
        diff_avg += k * v
        diff_ent -= v * np.log2(v + EPS)
        idm += v / (1 + k**2)
        idmn += v / (1 + k**2 / ng_max**2)
        id_ += v / (1 + k)
        idn += v / (1 + k / ng_max)
        if k > 0:
            inv_var += v / k**2
    diff_var = 0.0
    for k in range(ng_max):
        v = p_diff[k]
        if v != 0.0:
            diff_var += v * (k - diff_avg) ** 2
            p_diff[k] = 0.0
    sum_avg = 0.0
    sum_ent = 0.0
    for k in range(2 * ng_max - 1):
        v = p_sum[k]
        if v != 0.0:
            sum_avg += (k + 2) * v
            sum_ent -= v * np.log2(v + EPS)
            p_sum[k] = 0.0
    div = max(hx, hy)
    imc1 = (hxy - hxy1) / div if div != 0 else 0.0
    if hxy2 == hxy:
        imc2 = 0.0
    else:
        imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5
    row[0] = autocorr
    row[1] = ux
    row[2] = prominence
    row[3] = shade
    row[4] = tendency
    row[5] = contrast
    row[6] = correlation
    row[7] = diff_avg
    row[8] = diff_ent
    row[9] = diff_var
    row[10] = energy
    row[11] = hxy
    row[12] = imc1
    row[13] = imc2
    row[14] = idm
    row[15] = idmn
    row[16] = id_
    row[17] = idn
    row[18] = inv_var
    row[19] = max_p
    row[20] = sum_avg
    row[21] = sum_ent
    row[22] = sum_squares


@njit(**JIT_PARALLEL)
def glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, blocks, out):
    """GLCM features (+ MCC last) of each voxel's kernel; ``out`` (n_voxels, 24).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, distances, force2D, axis)``.
    ``grey_levels``: float64 real level of each global compact index; its last entry is PyRadiomics' Ng.
    ``symmetrical``: ``symmetricalGLCM`` (MCC is computed for symmetric matrices only; NaN otherwise).
    ``want_mcc``: compute MCC (the costliest feature); NaN when False.
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    span = 2 * radius + 1
    kmax = span * span * span
    lmax = min(kmax, n_global)
    n_feat = len(FEATURE_NAMES)
    shape = levels.shape
    for blk in prange(blocks):
        box = np.empty(kmax, dtype=np.int32)
        marker = np.full(n_global, -1, dtype=np.int32)
        local = np.empty(lmax, dtype=np.int64)
        g = np.empty(lmax)
        counts = np.zeros((n_angles, lmax, lmax))
        p = np.empty((lmax, lmax))
        px = np.empty(lmax)
        py = np.empty(lmax)
        p_sum = np.zeros(2 * ng_max + 1)
        p_diff = np.zeros(ng_max + 1)
        s = np.empty((lmax, lmax))
        w = np.empty(lmax)
        feats = np.empty((n_angles, n_feat))
        active = np.empty(lmax, dtype=np.int64)
        ga = np.empty(lmax)
        mcc = np.empty(n_angles)
        agg = np.empty(n_angles)
        for v in range(blk * n_vox // blocks, (blk + 1) * n_vox // blocks):
            z0, y0, x0, sz, sy, sx = box_bounds(
                shape, coords[v, 0], coords[v, 1], coords[v, 2], radius, axis2d
            )
            n = local_box(levels, z0, y0, x0, sz, sy, sx, box, marker, local)
            for i in range(n):
                g[i] = grey_levels[local[i]]
            kept = 0
            for a in range(n_angles):
                for i in range(n):
                    for j in range(n):
                        counts[a, i, j] = 0.0
                az, ay, ax = angles[a, 0], angles[a, 1], angles[a, 2]
                total = 0.0
                for bz in range(max(0, -az), min(sz, sz - az)):
                    for by in range(max(0, -ay), min(sy, sy - ay)):
                        for bx in range(max(0, -ax), min(sx, sx - ax)):
                            i = box[(bz * sy + by) * sx + bx]
                            if i >= 0:
                                j = box[((bz + az) * sy + by + ay) * sx + bx + ax]
                                if j >= 0:
                                    counts[a, i, j] += 1.0
                                    total += 1.0
                # PyRadiomics drops an angle without any pair (the voxel computed alone)
                if not (total > 0 or n_angles == 1):
                    continue
                norm = total * 2.0 if symmetrical else total
                if norm == 0:
                    norm = np.nan
                # only the levels with a pair at this angle: the others are zero rows and columns, which
                # add exactly 0 to every feature sum and only zero eigenvalues to Q
                na = 0
                for i in range(n):
                    used = False
                    for j in range(n):
                        if counts[a, i, j] != 0.0 or counts[a, j, i] != 0.0:
                            used = True
                            break
                    if used or total == 0:
                        active[na] = i
                        ga[na] = g[i]
                        na += 1
                for ii in range(na):
                    i = active[ii]
                    for jj in range(na):
                        j = active[jj]
                        c = counts[a, i, j] + counts[a, j, i] if symmetrical else counts[a, i, j]
                        p[ii, jj] = c / norm
                _angle_features(p, na, ga, ng_max, px, py, p_sum, p_diff, feats[kept])
                if not want_mcc or not symmetrical:
                    mcc[kept] = np.nan
                elif n_global < 2:
                    mcc[kept] = 1.0  # PyRadiomics: a single grey level in the whole ROI
                elif total == 0:
                    mcc[kept] = np.nan
                elif na < 2:
                    mcc[kept] = 0.0  # eigenvalues {1, 0, ...}
                else:
                    mcc[kept] = _mcc(p, na, px, s, w)
                kept += 1
            row = out[v]
            for f in range(n_feat):
                for a in range(kept):
                    agg[a] = feats[a, f]
                if f == _JOINT_AVERAGE:
                    # PyRadiomics averages Joint Average with a plain mean (NaN if any angle is NaN)
                    total = 0.0
                    for a in range(kept):
                        total += agg[a]
                    row[f] = total / kept if kept else np.nan
                else:
                    row[f] = nanmean_row(agg, kept)
            row[N_FEATURES - 1] = nanmean_row(mcc, kept)


__all__ = ["FEATURE_NAMES", "MCC_NAME", "N_FEATURES", "glcm_maps"]

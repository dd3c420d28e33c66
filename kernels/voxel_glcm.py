r"""GLCM feature maps: the co-occurrence features of every voxel's kernel, PyRadiomics-exact.

Per voxel (one thread, thread-private scratch): count the pairs of the kernel box per angle over the box's
local grey levels, symmetrise, drop the angles without a pair (PyRadiomics computing this voxel alone),
normalise, then the GLCM formulas with the real level values and the ROI's ``Ng``. A kernel's matrix is
sparse (at most one non-zero cell per pair of the box: ~100 at kernelRadius 2 against ~25 x 25 cells for
25 levels), so the counting records the non-zero cells and :func:`cell_features_body` sums the definitions of
:mod:`spinerad.kernels.glcm_formulas` over them alone (measured: the dense formulas were ~85 % of the
GLCM maps' time without MCC). Where Imc2 is within reach of the rounding of HXY2 - HXY, the angle is
recomputed by the dense per-ROI formulas (:data:`DENSE_IMC2`). Levels absent from an angle's pairs would
only add zero rows and columns: every sum skips them, and the MCC matrix would only get zero rows whose
eigenvalues are exactly 0, so each angle's MCC matrix holds only the levels with a pair at that angle.

MCC (:func:`cell_mcc_body`: the per-ROI :func:`spinerad.kernels.glcm_formulas.symmetric_mcc` from the cells,
with the spectral radius of :mod:`spinerad.kernels.symmetric_eigen`, see :data:`MCC_BODIES`): exact up to
rounding (tested at 1e-12 absolute against the per-ROI MCC of the dense matrix); where the true value is 0
(an angle whose matrix has rank one), PyRadiomics' square root of a rounding-level eigenvalue is ~1e-8 or
NaN and this one is ~1e-8 or 0.
"""

import math

import numpy as np
from numba import njit, prange

from . import glcm_formulas, symmetric_eigen
from ._config import JIT, JIT_PARALLEL
from .glcm import FEATURE_NAMES, MCC_NAME
from .glcm_formulas import EPS, features_tail, matrix_features
from .voxel_common import block_scratch, block_voxels, load_window, nanmean_row, retarget

N_FEATURES = len(FEATURE_NAMES) + 1  # + MCC, last
_N_FORMULAS = len(FEATURE_NAMES)
_JOINT_AVERAGE = FEATURE_NAMES.index("JointAverage")
_IMC2 = FEATURE_NAMES.index("Imc2")
#: Below this Imc2 an angle's features come from the dense cell-by-cell pass (see ``voxel_features_body``).
#: Imc2 = sqrt(1 - exp(-2 D)), D = HXY2 - HXY: a rounding change dD (~1e-15, summation order) moves it by
#: ~dD / Imc2, under 1e-12 from here up; below, D is at the rounding noise (0 for independent rows and
#: columns, where a rounding-level negative D would give NaN), and the dense sums round as the per-ROI path.
DENSE_IMC2 = 1e-3

#: MCC of one angle after its graph search (:func:`cell_mcc_body`): the per-ROI deflation of the eigenvalue 1
#: (:func:`spinerad.kernels.glcm_formulas.deflated_mcc_body`) with the largest magnitude of the deflated
#: block from :func:`spinerad.kernels.symmetric_eigen.spectral_radius_body` instead of every eigenvalue by QL
#: (measured on the 50k-voxel ROI at kernelRadius 2: QL was ~70 % of MCC's eigenvalue time).
MCC_BODIES = symmetric_eigen.BODIES + (("deflated_mcc", glcm_formulas.deflated_mcc_body),)
deflated_mcc = retarget(njit(**JIT), MCC_BODIES, {**vars(glcm_formulas), **vars(symmetric_eigen)}, "voxel_")[
    "deflated_mcc"
]


def cell_mcc_body(counts, cells, n_cells, norm, px, n, na, order, s, u, q, w):
    """MCC of one symmetric angle from its non-zero cells (as :func:`cell_features_body` keeps them).

    :func:`spinerad.kernels.glcm_formulas.symmetric_mcc_body` without the dense matrix: the graph search
    (several groups of levels that never co-occur, or two alternating groups: MCC 1) is a union-find with
    parity over the cells, and :math:`S = D^{-1/2}PD^{-1/2}` is filled from the cells and the marginals
    ``px`` (on return from :func:`cell_features_body`), then
    :func:`spinerad.kernels.glcm_formulas.deflated_mcc_body`. Two levels (~30 % of the angles at
    kernelRadius 1 on lung2): the other eigenvalue of the 2 x 2 ``S`` is its trace - 1, no search. Measured on
    lung2's kernels: about as fast as the dense matrix's path at kernelRadius 2, ~5 % faster at 1.

    ``px[:n]``: marginals by local level (overwritten: scratch), ``na >= 2`` of them non-zero, numbered in
    ``order[0]``; ``order[1]`` int scratch (>= na); ``s`` (>= na, >= na), ``u``, ``q``, ``w`` (>= na) scratch.
    """
    if na == 2:
        # S is 2 x 2 with the eigenvalue 1: the other one is its trace - 1 (both graph cases included: no
        # pair between the two levels gives 1 + 1 - 1, no pair within a level 0 + 0 - 1)
        other = -1.0
        for c in range(n_cells):
            i = cells[0, c]
            if i == cells[1, c]:
                other += 2.0 * counts[i, i] / norm / px[i]
        return abs(other)
    link = order[1]  # union-find: 2 * parent + parity against the parent
    for k in range(na):
        link[k] = 2 * k
    groups = na
    bipartite = True
    for c in range(n_cells):
        a = order[0, cells[0, c]]
        b = order[0, cells[1, c]]
        if a == b:
            bipartite = False  # a level next to itself: an odd cycle
            continue
        parity_a = 0
        while link[a] >> 1 != a:
            parity_a ^= link[a] & 1
            a = link[a] >> 1
        parity_b = 0
        while link[b] >> 1 != b:
            parity_b ^= link[b] & 1
            b = link[b] >> 1
        if a != b:
            link[a] = 2 * b + (parity_a ^ parity_b ^ 1)
            groups -= 1
        elif parity_a == parity_b:
            bipartite = False
    if groups > 1 or bipartite:
        return 1.0
    total = 0.0
    for i in range(n):
        if px[i] != 0.0:
            k = order[0, i]
            root = math.sqrt(px[i])
            u[k] = root
            w[k] = 1.0 / root
            total += px[i]
    total = math.sqrt(total)
    for k in range(na):
        u[k] /= total  # the unit eigenvector of eigenvalue 1
    dense_cells(counts, cells, n_cells, norm, order[0], na, True, w, s)
    return deflated_mcc(s, na, px, u, q, w)


def dense_cells_body(counts, cells, n_cells, norm, index, na, symmetric, w, p):
    """Fill ``p[:na, :na]`` with the angle's normalised matrix over the levels with a pair.

    Levels are numbered by ``index``; each cell is scaled by ``w[a] w[b]`` (ones: the matrix itself; MCC:
    :math:`D^{-1/2}PD^{-1/2}`).
    """
    for a in range(na):
        for b in range(na):
            p[a, b] = 0.0
    for c in range(n_cells):
        i = cells[0, c]
        j = cells[1, c]
        a = index[i]
        b = index[j]
        if symmetric:
            v = (counts[i, j] if i != j else 2.0 * counts[i, j]) / norm * w[a] * w[b]
            p[b, a] = v
        else:
            v = counts[i, j] / norm * w[a] * w[b]
        p[a, b] = v


def cell_features_body(
    counts, cells, n_cells, norm, g, n, ng_max, symmetric, px, py, lx, p_sum, p_diff, row, log2_int
):
    r"""The 23 GLCM features of one angle's matrix, from its non-zero cells only (a kernel's matrix is sparse).

    The definitions of :func:`spinerad.kernels.glcm_formulas.matrix_features_body`, summed over the cells
    ``(cells[0, c], cells[1, c])``, ``c < n_cells``, with ``p = counts / norm``; for a symmetric matrix
    ``counts`` holds the pair counts of ``(i, j)`` and ``(j, i)`` together in the cell ``i < j`` (and
    ``p(i, i) = 2 counts(i, i) / norm``), each off-diagonal cell standing for both. A kernel's matrix holds at
    most one cell per pair of the box, while a dense pass visits every (level, level) cell and takes a
    logarithm per cell for HXY2: on a 5 x 5 x 5 kernel of ~25 levels, ~100 cells instead of 625.

    The entropies with marginal products take the logarithms of the marginals only:

    .. math:: \log_2(p_x(i) p_y(j) + \epsilon) = \log_2 p_x(i) + \log_2 p_y(j)
        + \frac{\epsilon}{p_x(i) p_y(j) \ln 2} - \delta,
        \quad 0 \le \delta \le \frac{1}{2 \ln 2}\left(\frac{\epsilon}{p_x(i) p_y(j)}\right)^2

    so :math:`\text{HXY1} = -\sum p(i, j) (\log_2 p_x(i) + \log_2 p_y(j) + \epsilon / (p_x(i) p_y(j) \ln 2))`
    over the cells and :math:`\text{HXY2} = -2 (\sum_i p_x(i) \log_2 p_x(i)) - N_x N_y \epsilon / \ln 2` (the
    product marginal's sum factorises; :math:`N_x, N_y` the levels with a non-zero marginal). The dropped
    :math:`\delta` is below ``1e-18`` relative for any kernel of radius <= 10 (``p_x(i) >= 1 / norm``,
    ``norm`` at most twice the box's voxel count), far under the rounding of the sums: exact up to rounding.

    Every probability here is an integer over ``norm`` (a cell's pair count, a level's pairs), so its
    logarithm is ``log2_int[count] - log2(norm)`` from a table of the integers' logarithms (``log2_int[k] =
    log2(k)``, ``k`` up to ``norm``) instead of a ``log2`` per cell and per level (measured: the GLCM maps
    without MCC ~9 % faster at kernelRadius 1 and 2), and :math:`\log_2(p + \epsilon) = \log_2 p + \epsilon / (p \ln 2)
    - \delta` with the same bound on :math:`\delta` as above: within a few rounding units of the logarithm.

    ``g[:n]``: the real level of each level index; ``px``, ``py`` (marginals on return) and ``lx`` float64
    (>= n) scratch; ``p_sum``, ``p_diff`` as in ``matrix_features_body`` (all zero on entry and on return).
    """
    for i in range(n):
        px[i] = 0.0
        py[i] = 0.0
        lx[i] = 0.0  # the rows' pair counts (integers), then their logarithms
    log_norm = math.log2(norm)
    eps_ln2 = EPS / math.log(2.0)
    ux = 0.0
    uy = 0.0
    autocorr = 0.0
    contrast = 0.0
    energy = 0.0
    max_p = 0.0
    g_lo = math.inf
    g_hi = -math.inf
    for c in range(n_cells):
        i = cells[0, c]
        j = cells[1, c]
        gi = g[i]
        gj = g[j]
        g_lo = min(g_lo, gi, gj)
        g_hi = max(g_hi, gi, gj)
        d = abs(gi - gj)
        if symmetric and i != j:
            v = counts[i, j] / norm
            px[i] += v
            px[j] += v
            lx[i] += counts[i, j]
            lx[j] += counts[i, j]
            ux += v * (gi + gj)
            autocorr += 2.0 * v * (gi * gj)
            contrast += 2.0 * v * d**2
            energy += 2.0 * v**2
            p_sum[int(gi + gj) - 2] += 2.0 * v
            p_diff[int(d)] += 2.0 * v
        else:
            v = (2.0 * counts[i, j] if symmetric else counts[i, j]) / norm
            px[i] += v
            py[j] += v
            lx[i] += 2.0 * counts[i, j] if symmetric else counts[i, j]
            ux += v * gi
            uy += v * gj
            autocorr += v * (gi * gj)
            contrast += v * d**2
            energy += v**2
            p_sum[int(gi + gj) - 2] += v
            p_diff[int(d)] += v
        max_p = max(max_p, v)
    if symmetric:
        uy = ux
    sig_x = 0.0
    sig_y = 0.0
    cor_m = 0.0
    hxy = 0.0
    prominence = 0.0
    shade = 0.0
    tendency = 0.0
    for c in range(n_cells):
        i = cells[0, c]
        j = cells[1, c]
        gi = g[i]
        gj = g[j]
        s = (gi + gj) - ux - uy
        if symmetric and i != j:
            m = counts[i, j]
            v = m / norm
            w = 2.0 * v
            sig_x += v * ((gi - ux) ** 2 + (gj - ux) ** 2)
            cor_m += w * (gi - ux) * (gj - uy)
        else:
            m = 2.0 * counts[i, j] if symmetric else counts[i, j]
            v = m / norm
            w = v
            sig_x += v * (gi - ux) ** 2
            sig_y += v * (gj - uy) ** 2
            cor_m += v * (gi - ux) * (gj - uy)
        prominence += w * s**4
        shade += w * s**3
        tendency += w * s**2
        hxy -= w * ((log2_int[int(m)] - log_norm) + eps_ln2 / v)  # log2(v + eps)
    if symmetric:
        sig_y = sig_x
    # logarithms of the marginals (lx: log2 px; py's are taken per cell when not symmetric)
    hx = 0.0
    hy = 0.0
    sum_x = 0.0  # sum px log2 px, for HXY2
    sum_y = 0.0
    count_x = 0
    count_y = 0
    for i in range(n):
        if px[i] != 0.0:
            lx[i] = log2_int[int(lx[i])] - log_norm
            hx -= px[i] * (lx[i] + eps_ln2 / px[i])  # log2(px + eps)
            sum_x += px[i] * lx[i]
            count_x += 1
        if not symmetric and py[i] != 0.0:
            hy -= py[i] * math.log2(py[i] + EPS)
            sum_y += py[i] * math.log2(py[i])
            count_y += 1
    if symmetric:
        hy = hx
        sum_y = sum_x
        count_y = count_x
    hxy1 = 0.0
    for c in range(n_cells):
        i = cells[0, c]
        j = cells[1, c]
        if symmetric:
            v = counts[i, j] / norm
            if i != j:
                hxy1 -= 2.0 * v * (lx[i] + lx[j] + EPS / (px[i] * px[j] * math.log(2.0)))
            else:
                hxy1 -= 2.0 * v * (2.0 * lx[i] + EPS / (px[i] * px[i] * math.log(2.0)))
        else:
            v = counts[i, j] / norm
            hxy1 -= v * (lx[i] + math.log2(py[j]) + EPS / (px[i] * py[j] * math.log(2.0)))
    hxy2 = -(sum_x + sum_y) - count_x * count_y * EPS / math.log(2.0)
    # HXY2 >= HXY (joint entropy <= the marginals' sum); a rounding-level negative difference would make Imc2
    # NaN: 0 instead, which sends the angle to the dense pass all the same (below DENSE_IMC2)
    hxy2 = max(hxy2, hxy)
    diff_stop = min(int(g_hi - g_lo) + 1, ng_max)
    sum_start = max(int(2 * g_lo) - 2, 0)
    sum_stop = min(int(2 * g_hi) - 1, 2 * ng_max - 1)
    moments = (autocorr, ux, prominence, shade, tendency, contrast, energy, max_p)
    spread = (sig_x, sig_y, cor_m)
    entropies = (hx, hy, hxy, hxy1, hxy2)
    marginals = (diff_stop, sum_start, sum_stop)
    features_tail(row, moments, spread, entropies, p_diff, p_sum, marginals, ng_max)


def voxel_features_body(
    box,
    n,
    g,
    sz,
    sy,
    sx,
    angles,
    ng_max,
    n_global,
    symmetrical,
    want_mcc,
    scratch,
    counts,
    cells,
    p,
    s,
    order,
    feats,
    row,
    log2_int,
):
    """Compute the GLCM features (+ MCC last) of one kernel box into ``row`` (CPU and GPU per-voxel body).

    ``box`` (sz * sy * sx) local levels (-1 not valid) with real values ``g[:n]``; ``angles``, ``ng_max``,
    ``n_global``, ``symmetrical``, ``want_mcc`` as :func:`glcm_maps`. Scratch: ``scratch`` float64
    (7, >= n) rows px, py, w, u, q, ga, mcc (the last one >= n_angles); ``counts`` (>= n, >= n), all zero on
    entry and on return; ``cells`` int (2, >= the box's voxel count): the non-zero cells of one angle;
    ``p``, ``s`` (>= n, >= n); ``order`` int (2, >= n) (MCC search, active levels); ``feats``
    (23, >= n_angles); p_sum and p_diff marginals are ``scratch[7]`` and ``scratch[8]`` (>= 2 Ng - 1, all
    zero on entry and on return); ``log2_int``: :func:`log2_table` of at least the box's voxel count.
    """
    n_angles = angles.shape[0]
    px = scratch[0]
    py = scratch[1]
    w = scratch[2]
    u = scratch[3]
    q = scratch[4]
    ga = scratch[5]
    mcc = scratch[6]
    p_sum = scratch[7]
    p_diff = scratch[8]
    kept = 0
    for a in range(n_angles):
        az, ay, ax = angles[a, 0], angles[a, 1], angles[a, 2]
        total = 0.0
        n_cells = 0
        norm = 1.0
        # a symmetric matrix counts (i, j) and (j, i) together in the cell i <= j
        for bz in range(max(0, -az), min(sz, sz - az)):
            for by in range(max(0, -ay), min(sy, sy - ay)):
                for bx in range(max(0, -ax), min(sx, sx - ax)):
                    i = box[(bz * sy + by) * sx + bx]
                    if i >= 0:
                        j = box[((bz + az) * sy + by + ay) * sx + bx + ax]
                        if j >= 0:
                            if symmetrical and j < i:
                                i, j = j, i
                            if counts[i, j] == 0.0:
                                cells[0, n_cells] = i
                                cells[1, n_cells] = j
                                n_cells += 1
                            counts[i, j] += 1.0
                            total += 1.0
        # PyRadiomics drops an angle without any pair (the voxel computed alone)
        if not (total > 0 or n_angles == 1):
            continue
        na = 0
        if total == 0:
            # the single angle of the voxel has no pair: PyRadiomics' matrix is 0 / 0 (all NaN)
            for i in range(n):
                ga[i] = g[i]
                for j in range(n):
                    p[i, j] = math.nan
            matrix_features(p, n, ga, ng_max, symmetrical, px, py, p_sum, p_diff, row)
        else:
            norm = total * 2.0 if symmetrical else total
            cell_features(
                counts,
                cells,
                n_cells,
                norm,
                g,
                n,
                ng_max,
                symmetrical,
                px,
                py,
                w,
                p_sum,
                p_diff,
                row,
                log2_int,
            )
            # the dense matrix over the levels with a pair at this angle (px or py > 0): the others are zero
            # rows and columns, which add exactly 0 to every feature sum and only zero eigenvalues to Q
            for i in range(n):
                if px[i] != 0.0 or py[i] != 0.0:
                    order[0, i] = na
                    ga[na] = g[i]
                    na += 1
            if want_mcc and symmetrical and n_global >= 2 and na >= 2:
                # (before the dense pass below, which overwrites px)
                mcc[kept] = cell_mcc(counts, cells, n_cells, norm, px, n, na, order, s, u, q, w)
            dense = not row[_IMC2] >= DENSE_IMC2  # also NaN
            if dense:
                for k in range(na):
                    u[k] = 1.0
                dense_cells(counts, cells, n_cells, norm, order[0], na, symmetrical, u, p)
                # Imc2 = sqrt(1 - exp(-2 (HXY2 - HXY))) near the rounding noise of HXY2 - HXY (rows and
                # columns (nearly) independent): the cell-by-cell sums of the per-ROI formulas, whose
                # rounding follows PyRadiomics' there (HXY2 - HXY exactly 0, not a rounding-level negative)
                matrix_features(p, na, ga, ng_max, symmetrical, px, py, p_sum, p_diff, row)
            for c in range(n_cells):
                counts[cells[0, c], cells[1, c]] = 0.0
        for f in range(_N_FORMULAS):
            feats[f, kept] = row[f]
        if not want_mcc or not symmetrical:
            mcc[kept] = math.nan
        elif n_global < 2:
            mcc[kept] = 1.0  # PyRadiomics: a single grey level in the whole ROI
        elif total == 0:
            mcc[kept] = math.nan
        elif na < 2:
            mcc[kept] = 0.0  # eigenvalues {1, 0, ...}
        kept += 1
    for f in range(_N_FORMULAS):
        if f == _JOINT_AVERAGE:
            # PyRadiomics averages Joint Average with a plain mean (NaN if any angle is NaN)
            total = 0.0
            for a in range(kept):
                total += feats[f, a]
            row[f] = total / kept if kept else math.nan
        else:
            row[f] = nanmean_row(feats[f], kept)
    row[N_FEATURES - 1] = nanmean_row(mcc, kept)


@njit(**JIT)
def log2_table(radius):
    """``log2(k)`` for every pair count ``k`` of a kernel: up to twice the box's voxels (a symmetric norm).

    The table of :func:`cell_features_body` (``-inf`` at 0, never read).
    """
    table = np.empty(2 * (2 * radius + 1) ** 3 + 1)
    table[0] = -math.inf
    for k in range(1, table.shape[0]):
        table[k] = math.log2(k)
    return table


cell_features = njit(**JIT)(cell_features_body)
dense_cells = njit(**JIT)(dense_cells_body)
cell_mcc = njit(**JIT)(cell_mcc_body)
voxel_features = njit(**JIT)(voxel_features_body)

#: The per-voxel body and its callees by name, callees first (for the GPU twin).
BODIES = MCC_BODIES + (
    ("cell_features", cell_features_body),
    ("dense_cells", dense_cells_body),
    ("cell_mcc", cell_mcc_body),
    ("voxel_features", voxel_features_body),
)


@njit(**JIT_PARALLEL)
def glcm_maps(levels, coords, radius, axis2d, angles, grey_levels, symmetrical, want_mcc, blocks, out):
    """GLCM features (+ MCC last) of each voxel's kernel; ``out`` (n_voxels, 24).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, distances, force2D, axis)``.
    ``grey_levels``: float64 real level of each global compact index; its last entry is PyRadiomics' Ng.
    ``symmetrical``: ``symmetricalGLCM`` (MCC is computed for symmetric matrices only; NaN otherwise).
    ``want_mcc``: compute MCC (the costliest feature); NaN when False.
    """
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    ng_max = int(grey_levels[n_global - 1])
    log2_int = log2_table(radius)  # shared read-only
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        lmax = g.shape[0]
        scratch = np.zeros((9, max(lmax, n_angles, 2 * ng_max + 1)))
        counts = np.zeros((lmax, lmax))
        cells = np.empty((2, box.shape[0]), dtype=np.int64)
        p = np.empty((lmax, lmax))
        s = np.empty((lmax, lmax))
        order = np.empty((2, lmax), dtype=np.int64)
        feats = np.empty((_N_FORMULAS, n_angles))
        start, stop = block_voxels(blk, blocks, coords.shape[0])
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            voxel_features(
                box, n, g, sz, sy, sx, angles, ng_max, n_global, symmetrical, want_mcc,
                scratch, counts, cells, p, s, order, feats, out[v], log2_int,
            )  # fmt: skip


__all__ = ["BODIES", "FEATURE_NAMES", "MCC_NAME", "N_FEATURES", "glcm_maps"]

"""GLCM features from a kernel's non-zero cells equal the dense per-ROI formulas on the same matrix.

:func:`spinerad.kernels.voxel_glcm.cell_features_body` sums the definitions over the non-zero cells (a
symmetric matrix's cell pairs once) and takes HXY1/HXY2 from the marginals' logarithms; the dense
:func:`spinerad.kernels.glcm_formulas.matrix_features` (checked against PyRadiomics per ROI) is the reference.
Bar 1e-12 relative (floor: the feature's largest magnitude over the cases); Imc2 only where it is >=
``DENSE_IMC2``, below which the voxel body takes the dense formulas itself.
"""

import numpy as np
import pytest

from spinerad.kernels.glcm import FEATURE_NAMES
from spinerad.kernels.glcm_formulas import matrix_features, symmetric_mcc
from spinerad.kernels.voxel_glcm import DENSE_IMC2, cell_features, cell_mcc, log2_table

IMC2 = FEATURE_NAMES.index("Imc2")


def _case(rng, symmetric):
    """Pair counts of a random sparse kernel matrix: (counts as the voxel body keeps them, cells, dense p)."""
    n = int(rng.integers(1, 13))
    ng_max = int(rng.integers(n, 40))
    g = np.sort(rng.choice(np.arange(1, ng_max + 1), n, replace=False)).astype(np.float64)
    g[-1] = ng_max if rng.random() < 0.5 else g[-1]
    n_pairs = int(rng.integers(1, 60))
    # neighbours tend to have close levels, as in an image
    first = rng.integers(0, n, n_pairs)
    second = np.clip(first + rng.integers(-2, 3, n_pairs), 0, n - 1)
    directed = np.zeros((n, n))
    np.add.at(directed, (first, second), 1.0)
    counts = np.zeros((n, n))
    cells = []
    for i, j in zip(first, second, strict=True):
        if symmetric and j < i:
            i, j = j, i
        if counts[i, j] == 0:
            cells.append((i, j))
        counts[i, j] += 1.0
    total = float(n_pairs)
    p = (directed + directed.T) / (2 * total) if symmetric else directed / total
    norm = 2 * total if symmetric else total
    return n, g, ng_max, counts, np.array(cells, dtype=np.int64).T.copy(), norm, p


@pytest.mark.parametrize("symmetric", [True, False])
def test_cell_features_equal_dense_formulas(symmetric):
    rng = np.random.default_rng(int(symmetric))
    got = []
    expected = []
    log2_int = log2_table(2)  # pair counts up to 2 x 125 (the cases have < 60 pairs)
    for _ in range(400):
        n, g, ng_max, counts, cells, norm, p = _case(rng, symmetric)
        width = max(n, 2 * ng_max + 1)
        row = np.empty(23)
        px, py, lx = np.zeros(width), np.zeros(width), np.zeros(width)
        p_sum, p_diff = np.zeros(width), np.zeros(width)
        cell_features(
            counts,
            cells,
            cells.shape[1],
            norm,
            g,
            n,
            ng_max,
            symmetric,
            px,
            py,
            lx,
            p_sum,
            p_diff,
            row,
            log2_int,
        )
        assert not p_sum.any() and not p_diff.any(), "the marginal scratch must be left zero"
        dense = np.empty(23)
        matrix_features(
            p, n, g, ng_max, symmetric, np.zeros(n), np.zeros(n), np.zeros(width), np.zeros(width), dense
        )
        got.append(row)
        expected.append(dense)
    got = np.array(got)
    expected = np.array(expected)
    scale = np.abs(expected).max(axis=0)
    usable = np.ones_like(expected, dtype=bool)
    usable[:, IMC2] = expected[:, IMC2] >= DENSE_IMC2
    assert usable[:, IMC2].sum() > 100
    error = np.abs(got - expected) / np.maximum(np.abs(expected), scale)
    worst = np.where(usable, error, 0).max(axis=0)
    assert (worst <= 1e-12).all(), dict(zip(FEATURE_NAMES, worst, strict=True))


def test_cell_mcc_equals_the_dense_mcc():
    """MCC from the cells equals the per-ROI MCC of the dense matrix over the levels with a pair.

    Cells: union-find graph search, S from the cells, 2 levels in closed form; the per-ROI MCC is itself
    checked against PyRadiomics.
    """
    rng = np.random.default_rng(7)
    log2_int = log2_table(2)
    checked = {"closed": 0, "graph": 0, "eigen": 0}
    for _ in range(600):
        n, g, ng_max, counts, cells, norm, p = _case(rng, True)
        if rng.random() < 0.2:  # two groups of levels that never co-occur, or two alternating ones
            keep = (cells[0] + cells[1]) % 2 == (0 if rng.random() < 0.5 else 1)
            if rng.random() < 0.5:
                keep = (cells[0] < n // 2) == (cells[1] < n // 2)
            if keep.any():
                dropped = cells[:, ~keep]
                counts[dropped[0], dropped[1]] = 0.0
                cells = cells[:, keep].copy()
                total = counts.sum()
                norm = 2 * total
                p = (counts + counts.T) / norm
        width = max(n, 2 * ng_max + 1)
        px, py, lx = np.zeros(width), np.zeros(width), np.zeros(width)
        cell_features(
            counts, cells, cells.shape[1], norm, g, n, ng_max, True, px, py, lx, np.zeros(width),
            np.zeros(width), np.empty(23), log2_int,
        )  # fmt: skip
        active = np.flatnonzero(px[:n])
        na = len(active)
        if na < 2:
            continue
        order = np.zeros((2, n), dtype=np.int64)
        order[0, active] = np.arange(na)
        got = cell_mcc(
            counts, cells, cells.shape[1], norm, px.copy(), n, na, order, np.empty((n, n)), np.empty(n),
            np.empty(n), np.empty(n),
        )  # fmt: skip
        dense = np.ascontiguousarray(p[np.ix_(active, active)])
        expected = symmetric_mcc(
            dense, na, np.empty(na), np.empty(na), np.empty(na), np.empty((na, na)), np.empty(na),
            np.empty(na, dtype=np.int64),
        )  # fmt: skip
        assert abs(got - expected) <= 1e-12, (got, expected, dense)
        checked["closed" if na == 2 else "graph" if expected == 1.0 else "eigen"] += 1
    assert min(checked.values()) >= 20, checked

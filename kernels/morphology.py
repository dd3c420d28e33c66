r"""Numba kernels of the IBSI morphology family: Moran's I / Geary's C pair sums, maximum diameter.

Moran's I and Geary's C (IBSI 3.1.28-29) sum over all pairs of ROI voxels with inverse-distance weights
:math:`w_{kk'} = 1 / \lVert p_k - p_{k'} \rVert`:

.. math::
    S_M = \sum_{k} \sum_{k' > k} w_{kk'} (X_k - \mu)(X_{k'} - \mu),\quad
    S_G = \sum_{k} \sum_{k' > k} w_{kk'} (X_k - X_{k'})^2,\quad
    W = \sum_{k} \sum_{k' > k} w_{kk'}

The voxels sit on a grid, so a weight depends only on the index offset: the kernel reads it from a table
``weights[|dz|, |dy|, |dx|]`` (no square root per pair) and runs in parallel over the first voxel of each
pair with per-voxel partial sums (race-free), reduced serially afterwards. This is the exact O(N^2) sum;
:func:`spinerad.ibsi_morph.spatial_autocorrelation` also computes the same sums by FFT correlation
(O(M log M) in the box size) and the tests check the two against each other.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL


@njit(**JIT_PARALLEL)
def pair_sums_kernel(z, y, x, deviation, weights, out):
    """Per-voxel partial sums over its partners k' > k: out[k] = (S_M, S_G, W) contributions.

    ``z, y, x``: int64 voxel indices; ``deviation``: X - mean (float64); ``weights``: inverse distances by
    absolute offset, ``weights[0, 0, 0]`` unused; ``out``: (N, 3) float64.
    """
    n = z.shape[0]
    for k in prange(n):
        sm = 0.0
        sg = 0.0
        sw = 0.0
        zk = z[k]
        yk = y[k]
        xk = x[k]
        dk = deviation[k]
        for j in range(k + 1, n):
            w = weights[abs(z[j] - zk), abs(y[j] - yk), abs(x[j] - xk)]
            dj = deviation[j]
            sm += w * dk * dj
            diff = dk - dj
            sg += w * diff * diff
            sw += w
        out[k, 0] = sm
        out[k, 1] = sg
        out[k, 2] = sw


@njit(**JIT_PARALLEL)
def max_squared_distance_kernel(points, out):
    """out[i] = max over j > i of the squared distance between points i and j (parallel over i)."""
    n = points.shape[0]
    for i in prange(n):
        best = 0.0
        for j in range(i + 1, n):
            d = 0.0
            for a in range(points.shape[1]):
                t = points[i, a] - points[j, a]
                d += t * t
            if d > best:
                best = d
        out[i] = best

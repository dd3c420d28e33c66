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

from ._config import JIT, JIT_PARALLEL


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


@njit(**JIT)
def _exact_distances(q, u, m, inverse):
    """Recompute ``inverse`` = (sum_i u_i q_i q_i^T)^-1 and every m_i = q_i^T inverse q_i from ``u``."""
    rows, n = q.shape
    x = np.zeros((rows, rows))
    for i in range(n):
        for a in range(rows):
            for b in range(rows):
                x[a, b] += u[i] * q[a, i] * q[b, i]
    inverse[:, :] = np.linalg.inv(x)
    for i in range(n):
        value = 0.0
        for a in range(rows):
            for b in range(rows):
                value += q[a, i] * inverse[a, b] * q[b, i]
        m[i] = value


@njit(**JIT)
def khachiyan_kernel(points, tolerance, max_iterations, u):
    """Minimum-volume enclosing ellipsoid weights ``u`` (in place), Khachiyan's algorithm with away steps.

    The Todd-Yildirim variant: besides moving weight towards the point farthest outside the current
    ellipsoid (Khachiyan), it moves weight away from the support point deepest inside, which makes the
    convergence fast enough for hull point sets. ``points``: (n, d) float64; ``u``: (n,) weights summing
    to 1. Stops when every point's scaled distance ``m_i / (d + 1)`` lies within [1 - tol, 1 + tol] for the
    support points and below 1 + tol for the others (a (1 + tol)-approximate ellipsoid). Returns the
    number of iterations run.

    Each step changes the matrix ``X = sum_i u_i q_i q_i^T`` by a scaled rank-one term, so its inverse and
    the distances ``m_i`` are updated by Sherman-Morrison (O(n d) a step instead of O(n d^2)); they are
    recomputed exactly every 64 steps and before the stopping test is accepted, so the test always reads
    exact distances.
    """
    n, d = points.shape
    q = np.ones((d + 1, n))
    for i in range(n):
        for a in range(d):
            q[a, i] = points[i, a]
    dim = d + 1.0
    m = np.empty(n)
    inverse = np.empty((d + 1, d + 1))
    v = np.empty(d + 1)
    _exact_distances(q, u, m, inverse)
    exact = True
    for iteration in range(max_iterations):
        if not exact and iteration % 64 == 0:
            _exact_distances(q, u, m, inverse)
            exact = True
        m_max = -1.0
        m_min = np.inf
        j_max = 0
        j_min = -1
        for i in range(n):
            if m[i] > m_max:
                m_max = m[i]
                j_max = i
            if u[i] > 0 and m[i] < m_min:
                m_min = m[i]
                j_min = i
        grow = m_max / dim - 1.0
        shrink = 1.0 - m_min / dim
        if grow <= tolerance and shrink <= tolerance:
            if exact:
                return iteration
            _exact_distances(q, u, m, inverse)  # confirm on exact distances (next pass re-tests)
            exact = True
            continue
        if grow >= shrink:
            j = j_max
            step = (m_max - dim) / (dim * (m_max - 1.0))
            for i in range(n):
                u[i] *= 1.0 - step
            u[j] += step
            scale, rank_one = 1.0 - step, step  # X' = scale X + rank_one q_j q_j^T
        else:
            j = j_min
            step = min((dim - m_min) / (dim * (m_min - 1.0)), u[j] / (1.0 - u[j]))
            for i in range(n):
                u[i] *= 1.0 + step
            u[j] -= step
            if u[j] < 0:
                u[j] = 0.0
            scale, rank_one = 1.0 + step, -step
        # Sherman-Morrison: X'^-1 = (X^-1 - c v v^T) / scale with v = X^-1 q_j, c = r / (1 + r m_j),
        # r = rank_one / scale
        for a in range(d + 1):
            value = 0.0
            for b in range(d + 1):
                value += inverse[a, b] * q[b, j]
            v[a] = value
        r = rank_one / scale
        c = r / (1.0 + r * m[j])
        for a in range(d + 1):
            for b in range(d + 1):
                inverse[a, b] = (inverse[a, b] - c * v[a] * v[b]) / scale
        for i in range(n):
            w = 0.0
            for a in range(d + 1):
                w += q[a, i] * v[a]
            m[i] = (m[i] - c * w * w) / scale
        exact = False
    return max_iterations


@njit(**JIT_PARALLEL)
def spectral_sums_kernel(fm, fd, fd2, weights, out):
    """Parseval sums of Moran's I / Geary's C over a half spectrum (``rfftn`` layout), one pass.

    ``fm``, ``fd``, ``fd2``: complex transforms of the mask, the deviations and their squares; ``weights``:
    the (real) transform of the inverse-distance weights, already multiplied by each bin's multiplicity
    and divided by the transform size. ``out[i]`` (first axis ``i``): ``(sum w |fm|^2, sum w |fd|^2,
    sum w Re(conj(fd2) fm))`` over that plane, so no two threads write the same row.
    """
    for i in prange(fm.shape[0]):
        mm = 0.0
        dd = 0.0
        qm = 0.0
        for j in range(fm.shape[1]):
            for k in range(fm.shape[2]):
                w = weights[i, j, k]
                a = fm[i, j, k]
                b = fd[i, j, k]
                c = fd2[i, j, k]
                mm += w * (a.real * a.real + a.imag * a.imag)
                dd += w * (b.real * b.real + b.imag * b.imag)
                qm += w * (c.real * a.real + c.imag * a.imag)
        out[i, 0] = mm
        out[i, 1] = dd
        out[i, 2] = qm


@njit(**JIT_PARALLEL)
def row_prefix_sums_kernel(image, out):
    """``out[z, y, i]`` = sum of ``image[z, y, :i]`` (``out``: (nz, ny, nx + 1) float64; parallel over z)."""
    for z in prange(image.shape[0]):
        for y in range(image.shape[1]):
            total = 0.0
            out[z, y, 0] = 0.0
            for x in range(image.shape[2]):
                total += image[z, y, x]
                out[z, y, x + 1] = total


@njit(**JIT_PARALLEL)
def local_sums_kernel(image, prefix, use_prefix, z, y, x, runs, out):
    """Sum and count of the ``image`` voxels of a neighbourhood around each voxel (z, y, x) (parallel).

    ``runs``: (m, 3) int64 ``(dz, dy, h)``, the neighbourhood as x-runs ``(dz, dy, -h..h)`` in
    lexicographic order; voxels outside ``image`` are not counted. ``out``: (n, 2) float64, row k: (sum,
    count) of voxel k. Directly, the sum adds the voxels in (dz, dy, dx) order; with ``use_prefix``, two
    reads of ``prefix`` (:func:`row_prefix_sums_kernel` of the image) per run instead of ``2 h + 1``:
    the same sums bit for bit when the image holds whole numbers whose absolute sum stays below 2**53
    (every partial sum is then an exact integer, whatever the order).
    """
    nz, ny, nx = image.shape
    for k in prange(z.shape[0]):
        total = 0.0
        count = 0.0
        for r in range(runs.shape[0]):
            zz = z[k] + runs[r, 0]
            yy = y[k] + runs[r, 1]
            if 0 <= zz < nz and 0 <= yy < ny:
                lo = max(x[k] - runs[r, 2], 0)
                hi = min(x[k] + runs[r, 2] + 1, nx)
                if use_prefix:
                    total += prefix[zz, yy, hi] - prefix[zz, yy, lo]
                else:
                    for xx in range(lo, hi):
                        total += image[zz, yy, xx]
                count += hi - lo
        out[k, 0] = total
        out[k, 1] = count

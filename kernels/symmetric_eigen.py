"""Eigenvalues of small symmetric matrices in Numba, for MCC per ROI and per voxel (no LAPACK threads)."""

import numpy as np
from numba import njit

from ._config import JIT


@njit(**JIT)
def _symmetric_eigenvalues(a, n, d, e):
    """Eigenvalues of the symmetric ``a[:n, :n]`` into ``d[:n]`` (``a`` is overwritten, ``e`` scratch).

    Householder reduction to tridiagonal form, then the implicit QL algorithm (eigenvalues only; the
    textbook ``tred2`` + ``tqli`` pair). Hand-written because LAPACK's per-call overhead dominates for the
    2..125-level matrices of a voxel's kernel, called 13 times per voxel, and because LAPACK runs on the BLAS
    library's own threads, which fight the Numba and extraction threads for the cores (a 66-level ROI's MCC
    took 10x longer with 2 OpenBLAS threads on a busy 2-core machine). Returns False if QL did not converge.
    """
    for i in range(n - 1, 0, -1):
        low = i - 1
        h = 0.0
        scale = 0.0
        if low > 0:
            for k in range(i):
                scale += abs(a[i, k])
            if scale == 0.0:
                e[i] = a[i, low]
            else:
                for k in range(i):
                    a[i, k] /= scale
                    h += a[i, k] * a[i, k]
                f = a[i, low]
                g = -np.sqrt(h) if f >= 0.0 else np.sqrt(h)
                e[i] = scale * g
                h -= f * g
                a[i, low] = f - g
                f = 0.0
                for j in range(i):
                    g = 0.0
                    for k in range(j + 1):
                        g += a[j, k] * a[i, k]
                    for k in range(j + 1, i):
                        g += a[k, j] * a[i, k]
                    e[j] = g / h
                    f += e[j] * a[i, j]
                hh = f / (h + h)
                for j in range(i):
                    f = a[i, j]
                    g = e[j] - hh * f
                    e[j] = g
                    for k in range(j + 1):
                        a[j, k] -= f * e[k] + g * a[i, k]
        else:
            e[i] = a[i, low]
    e[0] = 0.0
    for i in range(n):
        d[i] = a[i, i]
    # implicit QL
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    eps = np.finfo(np.float64).eps
    for low in range(n):
        iterations = 0
        while True:
            m = low
            while m < n - 1:
                dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= eps * dd:
                    break
                m += 1
            if m == low:
                break
            iterations += 1
            if iterations > 60:
                return False
            g = (d[low + 1] - d[low]) / (2.0 * e[low])
            r = np.hypot(g, 1.0)
            g = d[m] - d[low] + e[low] / (g + (r if g >= 0.0 else -r))
            s = 1.0
            c = 1.0
            p = 0.0
            underflow = False
            i = m - 1
            while i >= low:
                f = s * e[i]
                b = c * e[i]
                r = np.hypot(f, g)
                e[i + 1] = r
                if r == 0.0:
                    d[i + 1] -= p
                    e[m] = 0.0
                    underflow = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                i -= 1
            if underflow:
                continue
            d[low] -= p
            e[low] = g
            e[m] = 0.0
    return True

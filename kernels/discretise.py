"""Bin lookup for discretisation: the same answer as ``numpy.digitize`` on increasing edges, faster.

``numpy.digitize`` binary-searches every value (~17 ns per voxel on a float32 CT). Bins here are (nearly)
uniform, so the bin is guessed from ``floor((x - edge0) / width)`` and then corrected against the very
same edge array, which makes the result identical to ``numpy.digitize`` whatever the rounding of the guess.
"""

import numpy as np
from numba import njit

from ._config import JIT


@njit(**JIT)
def _digitize_kernel(values, edges, out):
    n_edges = edges.shape[0]
    low = edges[0]
    width = (edges[n_edges - 1] - low) / (n_edges - 1)
    for k in range(values.shape[0]):
        x = values[k]
        guess = (x - low) / width
        if guess < 0:
            i = 0
        elif guess >= n_edges:
            i = n_edges
        else:
            i = int(guess) + 1
        # digitize: edges[i-1] <= x < edges[i] (i = 0 below the first edge, n_edges at or above the last)
        while i > 0 and edges[i - 1] > x:
            i -= 1
        while i < n_edges and edges[i] <= x:
            i += 1
        out[k] = i


def digitize(values, edges):
    """``numpy.digitize(values, edges)`` for 1-D ``values`` and increasing ``edges`` (at least 2)."""
    values = np.ascontiguousarray(values)
    edges = np.asarray(edges)
    exact_in_float64 = values.dtype.kind == "f" or (values.dtype.kind in "iu" and values.dtype.itemsize <= 4)
    if (
        not exact_in_float64
        or edges.ndim != 1
        or edges.shape[0] < 2
        or values.ndim != 1
        or np.isnan(values).any()
    ):
        return np.digitize(values, edges)
    out = np.empty(values.shape[0], dtype=np.int64)
    common = np.result_type(values.dtype, edges.dtype, np.float64)
    _digitize_kernel(values.astype(common, copy=False), edges.astype(common, copy=False), out)
    return out

"""ROI location kernels: bounding box and voxel count of one label, in a single pass over the mask.

The mask of a CT series is tens of millions of voxels while the ROI is a few thousand; this scan is the
only step of an extraction that touches the whole volume, so it runs in parallel over slices with one
result row per slice (no shared state between threads).
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL


@njit(**JIT_PARALLEL)
def _label_box_kernel(mask, label, per_slice):
    """Per z-slice: [count, ymin, ymax, xmin, xmax, any_nonzero] of voxels equal to ``label``."""
    n_z, n_y, n_x = mask.shape
    for z in prange(n_z):
        count = 0
        y_lo, y_hi, x_lo, x_hi = n_y, -1, n_x, -1
        nonzero = 0
        for y in range(n_y):
            for x in range(n_x):
                v = mask[z, y, x]
                if v != 0:
                    nonzero = 1
                    if v == label:
                        count += 1
                        if y < y_lo:
                            y_lo = y
                        if y > y_hi:
                            y_hi = y
                        if x < x_lo:
                            x_lo = x
                        if x > x_hi:
                            x_hi = x
        per_slice[z, 0] = count
        per_slice[z, 1] = y_lo
        per_slice[z, 2] = y_hi
        per_slice[z, 3] = x_lo
        per_slice[z, 4] = x_hi
        per_slice[z, 5] = nonzero


def label_bounding_box(mask, label):
    """Locate ``label`` in a 3-D integer mask.

    Parameters
    ----------
    mask : numpy.ndarray
        Integer label map (z, y, x).
    label : int
        The label value of the ROI.

    Returns
    -------
    count : int
        Number of voxels equal to ``label``.
    box : tuple of slice or None
        (z, y, x) slices of the tight bounding box, None when the label is absent.
    any_label : bool
        Whether the mask holds any non-zero voxel at all.
    """
    per_slice = np.empty((mask.shape[0], 6), dtype=np.int64)
    _label_box_kernel(mask, mask.dtype.type(label), per_slice)
    count = int(per_slice[:, 0].sum())
    any_label = bool(per_slice[:, 5].any())
    if count == 0:
        return 0, None, any_label
    occupied = np.flatnonzero(per_slice[:, 0])
    rows = per_slice[occupied]
    box = (
        slice(int(occupied[0]), int(occupied[-1]) + 1),
        slice(int(rows[:, 1].min()), int(rows[:, 2].max()) + 1),
        slice(int(rows[:, 3].min()), int(rows[:, 4].max()) + 1),
    )
    return count, box, any_label

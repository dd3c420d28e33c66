"""ROI location kernels: bounding box and voxel count of one label, in a single pass over the mask.

The mask of a CT series is tens of millions of voxels while the ROI is a few thousand; this scan is the
only step of an extraction that touches the whole volume, so it runs in parallel over slices with one
result row per slice (no shared state between threads).
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL

# The kernel scans every mask as the unsigned integer of its item size: equal values have equal bits within
# one dtype, so int16 and uint16 masks (and int8/uint8, ...) share one compiled specialisation, not two.
_UNSIGNED = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32), 8: np.dtype(np.uint64)}


@njit(**JIT_PARALLEL)
def _label_box_kernel(mask, label, per_slice):
    """Per z-slice: [count, ymin, ymax, xmin, xmax] of voxels equal to ``label``.

    Each row is first tested with a branch-free OR of the comparisons, which vectorises at the mask's own
    width (64 one-byte voxels an instruction with AVX-512); only rows that hold the label are counted
    (a widening sum, ~3x slower a voxel) and scanned again for their first and last x. A slice without
    the ROI costs one streaming pass at memory speed: 16 million voxels took 0.34 ms in cache and ~2.5 ms
    from memory, against 1.1 ms and ~5 ms when every row was counted.
    """
    n_z, n_y, n_x = mask.shape
    for z in prange(n_z):
        count = 0
        y_lo, y_hi, x_lo, x_hi = n_y, -1, n_x, -1
        for y in range(n_y):
            row = mask[z, y]
            hit = False
            for x in range(n_x):
                hit |= row[x] == label
            if not hit:
                continue
            row_count = 0
            for x in range(n_x):
                row_count += row[x] == label
            count += row_count
            if y < y_lo:
                y_lo = y
            y_hi = y
            first = 0
            while row[first] != label:
                first += 1
            last = n_x - 1
            while row[last] != label:
                last -= 1
            if first < x_lo:
                x_lo = first
            if last > x_hi:
                x_hi = last
        per_slice[z, 0] = count
        per_slice[z, 1] = y_lo
        per_slice[z, 2] = y_hi
        per_slice[z, 3] = x_lo
        per_slice[z, 4] = x_hi


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
    if np.issubdtype(mask.dtype, np.integer):
        info = np.iinfo(mask.dtype)
        if not info.min <= label <= info.max:  # would wrap around in the mask's dtype
            return 0, None, bool(np.any(mask))
    per_slice = np.empty((mask.shape[0], 5), dtype=np.int64)
    if mask.dtype.kind in "iub":
        # One compiled parallel kernel per item size (each costs seconds to compile): the bit pattern in an
        # unsigned view, always read-only (Numba types writable and read-only arrays apart).
        unsigned = _UNSIGNED[mask.dtype.itemsize]
        key = np.array(label, dtype=mask.dtype).view(unsigned)[()]
        mask = mask.view(unsigned)
        mask.flags.writeable = False
    else:
        key = mask.dtype.type(label)
    _label_box_kernel(mask, key, per_slice)
    count = int(per_slice[:, 0].sum())
    if count == 0:
        return 0, None, bool(np.any(mask))
    occupied = np.flatnonzero(per_slice[:, 0])
    rows = per_slice[occupied]
    box = (
        slice(int(occupied[0]), int(occupied[-1]) + 1),
        slice(int(rows[:, 1].min()), int(rows[:, 2].max()) + 1),
        slice(int(rows[:, 3].min()), int(rows[:, 4].max()) + 1),
    )
    return count, box, True

"""ROI location kernel against NumPy."""

import numpy as np
import pytest

from spinerad.kernels import label_bounding_box


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint32])
@pytest.mark.parametrize("seed", range(4))
def test_box_and_count_equal_numpy(dtype, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(tuple(rng.integers(1, 9, size=3)), dtype=dtype)
    k = rng.integers(1, 6)
    idx = tuple(rng.integers(0, n, size=k) for n in mask.shape)
    mask[idx] = 3
    mask[rng.random(mask.shape) < 0.1] = 1
    mask[idx] = 3
    count, box, any_label = label_bounding_box(mask, 3)
    where = np.nonzero(mask == 3)
    assert count == len(np.flatnonzero(mask == 3))
    assert box == tuple(slice(w.min(), w.max() + 1) for w in where)
    assert any_label


def test_absent_and_unrepresentable_labels():
    mask = np.zeros((2, 3, 4), dtype=np.uint8)
    assert label_bounding_box(mask, 1) == (0, None, False)
    mask[0, 0, 0] = 1
    assert label_bounding_box(mask, 2) == (0, None, True)
    # 257 does not fit in uint8: it must not wrap around to 1
    assert label_bounding_box(mask, 257) == (0, None, True)

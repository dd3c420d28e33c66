"""Angle generation against PyRadiomics' own C implementation (the oracle) on random boxes and options."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinerad.kernels import generate_angles
from tests.conftest import require_oracle


def test_thirteen_directions_in_pyradiomics_order():
    angles = generate_angles((5, 5, 5))
    assert len(angles) == 13
    assert angles[0].tolist() == [1, 1, 1]
    assert angles[-1].tolist() == [0, 0, 1]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    size=st.lists(st.integers(1, 6), min_size=3, max_size=3),
    distances=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    force2d=st.booleans(),
    axis=st.integers(0, 2),
    bidirectional=st.booleans(),
)
def test_angles_equal_pyradiomics(size, distances, force2d, axis, bidirectional):
    require_oracle()
    from radiomics import cMatrices

    try:
        expected = cMatrices.generate_angles(
            np.array(size), np.array(distances), bidirectional, force2d, axis
        )
    except (ValueError, RuntimeError):
        expected = np.zeros((0, 3))  # PyRadiomics refuses a request that yields no angle
    got = generate_angles(size, distances, force2d, axis, bidirectional)
    np.testing.assert_array_equal(got, np.asarray(expected).reshape(-1, 3))


def test_bad_distance_rejected():
    with pytest.raises(ValueError, match="distances"):
        generate_angles((3, 3, 3), (0,))

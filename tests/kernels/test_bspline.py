"""The cubic B-spline prefilter (``spinerad.kernels.bspline``) against a one-line-at-a-time reference and ITK.

The kernel filters many lines side by side; each line must still see ITK's operations in ITK's order, so the
coefficients equal a plain transcription of ITK's ``DataToCoefficients1D`` applied line by line, bit for bit.
"""

import math

import numpy as np
import pytest
import SimpleITK as sitk

from spinerad.kernels import imagestats
from spinerad.kernels.bspline import HORIZON, POLE, bspline_coefficients


def _line_reference(s, z=POLE, horizon=HORIZON):
    """ITK's ``BSplineDecompositionImageFilter::DataToCoefficients1D`` on one line (cubic: one pole), in place."""
    n = len(s)
    if n == 1:
        return
    c0 = 1.0 * (1.0 - z) * (1.0 - 1.0 / z)
    for i in range(n):
        s[i] *= c0
    if horizon < n:  # SetInitialCausalCoefficient, accelerated loop
        total, zn = s[0], z
        for i in range(1, horizon):
            total += zn * s[i]
            zn *= z
        s[0] = total
    else:  # full loop with mirror boundaries
        zn, iz = z, 1.0 / z
        z2n = math.pow(z, float(n - 1))
        total = s[0] + z2n * s[n - 1]
        z2n *= z2n * iz
        for i in range(1, n - 1):
            total += (zn + z2n) * s[i]
            zn *= z
            z2n *= iz
        s[0] = total / (1.0 - zn * zn)
    for i in range(1, n):
        s[i] += z * s[i - 1]
    s[n - 1] = (z / (z * z - 1.0)) * (z * s[n - 2] + s[n - 1])
    for i in range(n - 2, -1, -1):
        s[i] = z * (s[i + 1] - s[i])


def _reference(values):
    """Every line of every axis, x then y then z, one line at a time (Python floats are float64)."""
    c = np.array(values, dtype=np.float64)
    for axis in (2, 1, 0):
        moved = np.moveaxis(c, axis, -1)
        for index in np.ndindex(moved.shape[:-1]):
            line = [float(v) for v in moved[index]]
            _line_reference(line)
            moved[index] = line
    return c


@pytest.mark.parametrize(
    "shape", [(1, 1, 5), (3, 17, 19), (4, 1, 30), (20, 30, 2), (2, 33, 7), (25, 21, 40), (6, 5, 1)]
)
def test_prefilter_equals_itk_line_by_line(shape):
    rng = np.random.default_rng(sum(shape))
    values = rng.normal(size=shape) * 100
    assert np.array_equal(bspline_coefficients(values), _reference(values))


def test_prefilter_of_the_read_lines_equals_the_whole_prefilter():
    rng = np.random.default_rng(7)
    values = rng.integers(-1000, 3000, size=(22, 41, 37)).astype(np.int16)
    read = (slice(5, 17), slice(9, 30), slice(3, 11))
    assert np.array_equal(bspline_coefficients(values, read)[read], _reference(values)[read])


@pytest.mark.parametrize("outliers", [None, 1.5])
def test_normalising_inside_the_prefilter_equals_normalising_first(outliers):
    rng = np.random.default_rng(11)
    values = rng.integers(-1000, 3000, size=(9, 26, 21)).astype(np.int16)
    shift, inverse_sigma, scale = -812.25, 1.0 / 437.1, 100.0
    normalised = imagestats.normalise(values, shift, inverse_sigma, outliers, scale)
    fused = bspline_coefficients(values, normaliser=(shift, inverse_sigma, outliers, scale))
    assert np.array_equal(fused, bspline_coefficients(normalised))


def test_prefilter_equals_simpleitk_decomposition():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(12, 31, 26)) * 50
    image = sitk.GetImageFromArray(values)
    decomposition = sitk.BSplineDecompositionImageFilter()
    decomposition.SetSplineOrder(3)
    theirs = sitk.GetArrayFromImage(decomposition.Execute(image))
    assert np.array_equal(bspline_coefficients(values), theirs)

"""The recursive LoG kernel against SimpleITK's LaplacianRecursiveGaussianImageFilter (PyRadiomics' call).

Bit-identical float32 output is required: LoG values are discretised, and a value one ulp across a bin edge
would move every texture feature.
"""

import numpy as np
import pytest
import SimpleITK as sitk

from spinerad.kernels.recursive_gaussian import laplacian_of_gaussian

DTYPES = [np.float64, np.float32, np.int16, np.uint16, np.uint8, np.int32]


def _itk_log(array, spacing_zyx, sigma):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    log_filter = sitk.LaplacianRecursiveGaussianImageFilter()
    log_filter.SetNormalizeAcrossScale(True)
    log_filter.SetSigma(sigma)
    return sitk.GetArrayFromImage(log_filter.Execute(image))


def _random_volume(rng, dtype, shape):
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-1200, 3000, shape).astype(dtype)
    return rng.normal(0, 300, shape).astype(dtype)


@pytest.mark.parametrize("seed", range(12))
def test_bit_identical_to_simpleitk_on_random_volumes_and_boxes(seed):
    """Random pixel types, spacings, sigmas and output boxes."""
    rng = np.random.default_rng(seed)
    dtype = DTYPES[seed % len(DTYPES)]
    shape = tuple(int(n) for n in rng.integers(4, 36, 3))
    spacing = tuple(float(s) for s in rng.uniform(0.4, 6.5, 3))
    sigma = float(rng.uniform(0.3, 6.0))
    volume = _random_volume(rng, dtype, shape)
    expected = _itk_log(volume, spacing, sigma)
    whole = laplacian_of_gaussian(volume, spacing, sigma)
    assert whole.dtype == np.float32
    assert np.array_equal(whole, expected)
    lower = [int(rng.integers(0, n)) for n in shape]
    box = tuple(slice(lo, int(rng.integers(lo + 1, n + 1))) for lo, n in zip(lower, shape, strict=True))
    assert np.array_equal(laplacian_of_gaussian(volume, spacing, sigma, box), expected[box])


@pytest.mark.parametrize("shape", [(4, 4, 4), (4, 5, 300), (300, 4, 5), (6, 600, 4)])
def test_shortest_lines_and_more_lines_than_one_block(shape):
    """Lines of ITK's minimum length 4, and line counts over one parallel block."""
    rng = np.random.default_rng(sum(shape))
    volume = rng.normal(50, 20, shape)
    spacing = (2.0, 0.7, 0.9)
    for sigma in (0.5, 3.0):
        assert np.array_equal(laplacian_of_gaussian(volume, spacing, sigma), _itk_log(volume, spacing, sigma))


def test_edges_and_constant_regions():
    """A step edge and flat areas: the border continuation and cancellation paths."""
    volume = np.zeros((12, 14, 16), dtype=np.int16)
    volume[:, :, 8:] = 1000
    volume[3:6, 2:9, 1:4] = -300
    spacing = (3.0, 0.8, 0.8)
    for sigma in (1.0, 2.5, 5.0):
        assert np.array_equal(laplacian_of_gaussian(volume, spacing, sigma), _itk_log(volume, spacing, sigma))

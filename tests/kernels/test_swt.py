"""One stationary-wavelet level against PyWavelets' ``swtn`` (what PyRadiomics calls): bit-identical bands."""

import numpy as np
import pytest
import pywt

from spinerad.imagetypes import _wavelet_taps
from spinerad.kernels.swt import swtn_level

#: every family PyRadiomics accepts, with short and long filters (haar 2 ... coif17 102 taps)
WAVELETS = [
    "haar",
    "coif1",
    "db3",
    "sym4",
    "bior1.5",
    "rbio3.1",
    "dmey",
    "coif5",
    "db10",
    "coif17",
    "bior6.8",
]
AXES = [(2, 1, 0), (2, 1), (0, 2, 1), (1,)]


@pytest.mark.parametrize("name", WAVELETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16])
def test_bands_equal_pywavelets(name, dtype):
    """Every band, on random volumes with flat parts, for several axis sets."""
    rng = np.random.default_rng(len(name) + np.dtype(dtype).itemsize)
    wavelet = pywt.Wavelet(name)
    for trial in range(4):
        shape = tuple(
            int(2 * rng.integers(1, 16)) for _ in range(3)
        )  # even lengths, shorter and longer than F
        data = rng.normal(0, 300, shape).astype(dtype)
        if trial == 0:
            data[:, :2] = 0  # flat parts: details exactly 0 in PyWavelets, so here too
        axes = AXES[trial]
        expected = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]
        filter_dtype = np.float32 if data.dtype == np.float32 else np.float64
        got = swtn_level(data, *_wavelet_taps(name, filter_dtype), axes)
        assert set(got) == set(expected)
        for band, values in expected.items():
            assert got[band].dtype == values.dtype
            assert np.array_equal(got[band], values), (name, shape, axes, band)


def test_float32_taps_are_pywavelets_own():
    """PyWavelets computes the float32 Coiflet taps in float32: rounding the float64 taps would differ."""
    low, high = _wavelet_taps("coif5", np.float32)
    wavelet = pywt.Wavelet("coif5")
    assert low.dtype == np.float32 and low.shape == (wavelet.dec_len,)
    assert not np.array_equal(low, np.float32(wavelet.dec_lo))
    assert np.array_equal(_wavelet_taps("coif5", np.float64)[0], np.array(wavelet.dec_lo))

"""Derived ("filtered") image types, computed exactly as PyRadiomics 3.0.1 does.

Each image type yields ``(name_prefix, array)`` pairs: the feature-name prefix PyRadiomics uses
(``original``, ``log-sigma-3-0-mm-3D``, ``wavelet-LLH``, ``square``, ...) and the filtered voxel array on
the same grid as the input. The filters are the ones PyRadiomics calls (SimpleITK, PyWavelets, NumPy), in
the same order and precision, so the filtered intensities are bit-identical.
"""

import logging

import numpy as np
import SimpleITK as sitk

from .errors import NotSupported

log = logging.getLogger(__name__)


def _array(image):
    return sitk.GetArrayFromImage(image)


def original(image, settings):
    """The image itself."""
    yield "original", sitk.GetArrayViewFromImage(image)


def log_sigma(image, settings):
    """Laplacian of Gaussian (normalised across scale) for every ``sigma`` (mm) that fits the image."""
    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    if np.min(size) < 4:
        log.warning("LoG skipped: the image is smaller than 4 voxels along an axis (size %s)", tuple(size))
        return
    for sigma in settings.sigma:
        if not np.all(size >= np.ceil(sigma / spacing) + 1):
            log.warning("LoG sigma %g skipped: the image is too small for it", sigma)
            continue
        lrgif = sitk.LaplacianRecursiveGaussianImageFilter()
        lrgif.SetNormalizeAcrossScale(True)
        lrgif.SetSigma(sigma)
        yield "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-"), _array(lrgif.Execute(image))


def _swt(array, axes, settings):
    import pywt

    wavelet = pywt.Wavelet(settings.wavelet)
    original_shape = array.shape
    padding = tuple((0, 1 if n % 2 != 0 else 0) for n in original_shape)
    data = np.pad(np.asarray(array).copy(), padding, "wrap")
    unpad = tuple(slice(None, -1 if n % 2 != 0 else None) for n in original_shape)
    approx_key = "a" * len(axes)
    for _ in range(settings.start_level):
        data = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0][approx_key].copy()
    levels = []
    for _ in range(settings.start_level, settings.start_level + settings.level):
        decomposition = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]
        data = decomposition[approx_key].copy()
        details = {}
        for key, band in decomposition.items():
            if key == approx_key:
                continue
            details[key.replace("a", "L").replace("d", "H")] = band.copy()[unpad]
        levels.append(details)
    return data[unpad], levels


def wavelet(image, settings):
    """Undecimated (stationary) wavelet decomposition: every detail band of each level, then the approximation."""
    if image.GetDimension() != 3:
        raise NotSupported("the Wavelet image type needs a 3-D image")
    axes = [2, 1, 0]
    if settings.force2d:
        axes.remove(settings.force2d_dimension)
    approximation, levels = _swt(_array(image), tuple(axes), settings)
    for index, bands in enumerate(levels, start=1):
        for band, values in bands.items():
            yield ("wavelet-%s" % band if index == 1 else "wavelet%s-%s" % (index, band)), values
    low = "L" * len(axes)
    yield ("wavelet-%s" % low if len(levels) == 1 else "wavelet%s-%s" % (len(levels), low)), approximation


def square(image, settings):
    """(x / sqrt(max|x|))^2."""
    x = _array(image).astype("float64")
    coefficient = 1 / np.sqrt(np.max(np.abs(x)))
    yield "square", (coefficient * x) ** 2


def square_root(image, settings):
    """sign(x) sqrt(|x| max|x|)."""
    x = _array(image).astype("float64")
    coefficient = np.max(np.abs(x))
    x[x > 0] = np.sqrt(x[x > 0] * coefficient)
    x[x < 0] = -np.sqrt(-x[x < 0] * coefficient)
    yield "squareroot", x


def logarithm(image, settings):
    """sign(x) log(|x| + 1), rescaled to the original maximum magnitude."""
    x = _array(image).astype("float64")
    top = np.max(np.abs(x))
    x[x > 0] = np.log(x[x > 0] + 1)
    x[x < 0] = -np.log(-(x[x < 0] - 1))
    yield "logarithm", x * (top / np.max(np.abs(x)))


def exponential(image, settings):
    """exp(x log(max|x|) / max|x|)."""
    x = _array(image).astype("float64")
    top = np.max(np.abs(x))
    coefficient = np.log(top) / top
    yield "exponential", np.exp(coefficient * x)


def gradient(image, settings):
    """Gradient magnitude (in mm units unless ``gradientUseSpacing`` is false)."""
    gmif = sitk.GradientMagnitudeImageFilter()
    gmif.SetUseImageSpacing(settings.gradient_use_spacing)
    yield "gradient", _array(gmif.Execute(image))


IMAGE_TYPES = {
    "Original": original,
    "LoG": log_sigma,
    "Wavelet": wavelet,
    "Square": square,
    "SquareRoot": square_root,
    "Logarithm": logarithm,
    "Exponential": exponential,
    "Gradient": gradient,
}

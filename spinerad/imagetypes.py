"""Derived ("filtered") image types, computed exactly as PyRadiomics 3.0.1 does.

Each image type takes a :class:`spinerad.cropping.FilterSource` and yields ``(name_prefix, array)`` pairs:
the feature-name prefix PyRadiomics uses (``original``, ``log-sigma-3-0-mm-3D``, ``wavelet-LLH``, ``square``,
...) and the filtered voxels of the ROI's bounding box (z, y, x). Filters run on a crop of the image around
the box, wide enough that the box's values equal those of the whole image (see :mod:`spinerad.cropping`).
The filters are the ones PyRadiomics calls (SimpleITK, PyWavelets, NumPy), in
the same order and precision, so the filtered intensities are bit-identical.
"""

import logging

import numpy as np
import SimpleITK as sitk

from .cropping import log_margin, wavelet_margin
from .errors import NotSupported

log = logging.getLogger(__name__)


def _array(image):
    array = sitk.GetArrayFromImage(image)
    return array[None] if array.ndim == 2 else array


def original(source, settings):
    """The image itself."""
    yield "original", source.box_array()


def log_sigma(source, settings):
    """Laplacian of Gaussian (normalised across scale) for every ``sigma`` (mm) that fits the image.

    The size checks are PyRadiomics' on its whole image; the filter runs on a crop ``LOG_SIGMAS`` sigmas
    wider than the ROI box (:mod:`spinerad.cropping`).
    """
    size = np.array(source.size_xyz)
    spacing = np.array(source.spacing_xyz)
    if np.min(size) < 4:
        log.warning("LoG skipped: the image is smaller than 4 voxels along an axis (size %s)", tuple(size))
        return
    spacing_zyx = source.spacing_xyz[::-1]
    if len(spacing_zyx) == 2:
        spacing_zyx = (np.inf,) + spacing_zyx
    for sigma in settings.sigma:
        if not np.all(size >= np.ceil(sigma / spacing) + 1):
            log.warning("LoG sigma %g skipped: the image is too small for it", sigma)
            continue
        image, box = source.region(log_margin(sigma, spacing_zyx))
        lrgif = sitk.LaplacianRecursiveGaussianImageFilter()
        lrgif.SetNormalizeAcrossScale(True)
        lrgif.SetSigma(sigma)
        yield "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-"), _array(lrgif.Execute(image))[box]


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


def wavelet(source, settings):
    """Undecimated (stationary) wavelet decomposition: every detail band of each level, then the approximation.

    Runs on a crop ``(dec_len - 1) * levels`` voxels wider than the ROI box; an axis where that margin reaches
    the border is kept whole, because the transform wraps around (:mod:`spinerad.cropping`).
    """
    if source.dimension != 3:
        raise NotSupported("the Wavelet image type needs a 3-D image")
    axes = [2, 1, 0]
    if settings.force2d:
        axes.remove(settings.force2d_dimension)
    margin = wavelet_margin(settings.wavelet, settings.start_level, settings.level)
    image, box = source.region((margin,) * 3, wrap=True)
    approximation, levels = _swt(_array(image), tuple(axes), settings)
    for index, bands in enumerate(levels, start=1):
        for band, values in bands.items():
            yield ("wavelet-%s" % band if index == 1 else "wavelet%s-%s" % (index, band)), values[box]
    low = "L" * len(axes)
    yield ("wavelet-%s" % low if len(levels) == 1 else "wavelet%s-%s" % (len(levels), low)), approximation[box]


# The intensity filters below are elementwise except for max |x|, which is the whole image's
# (source.max_abs()); they run on the ROI box only.


def square(source, settings):
    """(x / sqrt(max|x|))^2."""
    x = source.box_array().astype("float64")
    coefficient = 1 / np.sqrt(source.max_abs())
    yield "square", (coefficient * x) ** 2


def square_root(source, settings):
    """sign(x) sqrt(|x| max|x|)."""
    x = source.box_array().astype("float64")
    coefficient = source.max_abs()
    x[x > 0] = np.sqrt(x[x > 0] * coefficient)
    x[x < 0] = -np.sqrt(-x[x < 0] * coefficient)
    yield "squareroot", x


def logarithm(source, settings):
    """sign(x) log(|x| + 1), rescaled to the original maximum magnitude."""
    x = source.box_array().astype("float64")
    top = source.max_abs()
    x[x > 0] = np.log(x[x > 0] + 1)
    x[x < 0] = -np.log(-(x[x < 0] - 1))
    # The transformed image's max |x| is that of the voxel with the largest |x| (the transform is monotone in
    # |x| and odd): log(top + 1), computed the same way as for the voxels.
    top_transformed = np.log(np.array([top], dtype=np.float64) + 1)[0] if top > 0 else np.float64(0)
    yield "logarithm", x * (top / top_transformed)


def exponential(source, settings):
    """exp(x log(max|x|) / max|x|)."""
    x = source.box_array().astype("float64")
    top = source.max_abs()
    coefficient = np.log(top) / top
    yield "exponential", np.exp(coefficient * x)


def gradient(source, settings):
    """Gradient magnitude (in mm units unless ``gradientUseSpacing`` is false); central differences, margin 2."""
    image, box = source.region((2, 2, 2))
    gmif = sitk.GradientMagnitudeImageFilter()
    gmif.SetUseImageSpacing(settings.gradient_use_spacing)
    yield "gradient", _array(gmif.Execute(image))[box]


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

"""Derived ("filtered") image types, computed exactly as PyRadiomics 3.0.1 does.

Each image type takes a :class:`spinerad.cropping.FilterSource` and yields ``(name_prefix, array)`` pairs:
the feature-name prefix PyRadiomics uses (``original``, ``log-sigma-3-0-mm-3D``, ``wavelet-LLH``, ``square``,
...) and the filtered voxels of the ROI's bounding box (z, y, x). Filters run on a crop of the image around
the box, wide enough that the box's values equal those of the whole image (see :mod:`spinerad.cropping`).
The filters are the ones PyRadiomics calls (SimpleITK, PyWavelets, NumPy), in
the same order and precision, so the filtered intensities are bit-identical.
"""

import functools
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
        name = "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")
        if image.GetDimension() == 3 and image.GetNumberOfComponentsPerPixel() == 1:
            # ITK's recursive LoG, reproduced bit for bit and only on the lines that reach the box
            from .kernels.recursive_gaussian import laplacian_of_gaussian

            volume = sitk.GetArrayViewFromImage(image)
            yield name, laplacian_of_gaussian(volume, image.GetSpacing()[::-1], sigma, box)
            continue
        lrgif = sitk.LaplacianRecursiveGaussianImageFilter()
        lrgif.SetNormalizeAcrossScale(True)
        lrgif.SetSigma(sigma)
        yield name, _array(lrgif.Execute(image))[box]


@functools.lru_cache(maxsize=None)
def _wavelet_taps(name, dtype):
    """PyWavelets' decomposition taps in the precision it filters ``dtype`` data with.

    Read from its own transform of a unit impulse (its float32 taps of some families, e.g. the Coiflets, are computed in
    float32 rather than rounded from the float64 ones).
    """
    import pywt

    wavelet = pywt.Wavelet(name)
    length = wavelet.dec_len
    impulse = np.zeros(2 * length, dtype=dtype)
    impulse[0] = 1
    ((approximation, detail),) = pywt.swt(impulse, wavelet, level=1)
    where = (np.arange(length) - length // 2) % impulse.shape[0]  # output o holds the tap o + length // 2
    return approximation[where], detail[where]


def _swtn(data, axes, settings, box=None, keep_approximation=True):
    """One undilated ``pywt.swtn`` level (PyRadiomics' call), by :mod:`spinerad.kernels.swt` where it applies.

    ``box``: the detail bands (and the approximation unless ``keep_approximation``) are only needed there.
    """
    if data.dtype in (np.float32, np.float64) or data.dtype.kind in "iub":
        from .kernels.swt import swtn_level

        dtype = np.float32 if data.dtype == np.float32 else np.float64
        return swtn_level(data, *_wavelet_taps(settings.wavelet, dtype), axes, box, keep_approximation)
    import pywt

    bands = pywt.swtn(data, pywt.Wavelet(settings.wavelet), level=1, start_level=0, axes=axes)[0]
    if box is not None:
        bands = {k: v if k == "a" * len(axes) and keep_approximation else v[box] for k, v in bands.items()}
    return bands


def _swt(array, axes, settings, box):
    """PyRadiomics' ``_swt3``: every level's detail bands and the last approximation, on ``box`` only.

    ``box`` lies inside ``array``; odd axes are padded at their end (wrap), as PyRadiomics does, so its
    indices hold in the padded data too.
    """
    padding = tuple((0, 1 if n % 2 != 0 else 0) for n in array.shape)
    data = np.pad(np.asarray(array), padding, "wrap")
    approx_key = "a" * len(axes)
    for _ in range(settings.start_level):
        data = _swtn(data, axes, settings)[approx_key]
    levels = []
    last = settings.start_level + settings.level - 1
    for level in range(settings.start_level, settings.start_level + settings.level):
        decomposition = _swtn(data, axes, settings, box, keep_approximation=level != last)
        data = decomposition[approx_key]
        details = {}
        for key, band in decomposition.items():
            if key == approx_key:
                continue
            details[key.replace("a", "L").replace("d", "H")] = band
        levels.append(details)
    return data, levels


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
    approximation, levels = _swt(_array(image), tuple(axes), settings, box)
    for index, bands in enumerate(levels, start=1):
        for band, values in bands.items():
            yield ("wavelet-%s" % band if index == 1 else "wavelet%s-%s" % (index, band)), values
    low = "L" * len(axes)
    yield (
        ("wavelet-%s" % low if len(levels) == 1 else "wavelet%s-%s" % (len(levels), low)),
        approximation,
    )


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


def lbp_2d(source, settings):
    """Local binary pattern per slice (scikit-image's ``local_binary_pattern``, as PyRadiomics calls it).

    The slices are planes normal to ``force2Ddimension``; the result is written back into an array of the
    image's own dtype, as PyRadiomics does (an integer image keeps integer LBP codes, ``var`` is truncated).
    PyRadiomics' effective default is 8 samples (its documentation says 9, its code reads
    ``kwargs.get('lbp2DSamples', 8)``), and so is spinerad's.
    """
    import warnings

    from skimage.feature import local_binary_pattern

    # The whole domain: LBP2D reads neighbours at lbp2DRadius (cheap next to a whole-image read).
    image, box = source.whole()
    if image.GetDimension() != 3:
        raise NotSupported("the LBP2D image type needs a 3-D image")
    if not settings.force2d:
        log.warning("LBP2D is computed per slice but features are extracted in 3D (force2D is off)")
    samples = settings.lbp2d_samples
    array = _array(image).swapaxes(0, settings.force2d_dimension)
    with warnings.catch_warnings():
        # scikit-image warns that equality tests on float images are fragile; PyRadiomics feeds it the
        # same float slices, and its numbers are the ones to reproduce.
        warnings.filterwarnings("ignore", message="Applying `local_binary_pattern` to floating-point images")
        for index in range(array.shape[0]):
            array[index, ...] = local_binary_pattern(
                array[index, ...], P=samples, R=settings.lbp2d_radius, method=settings.lbp2d_method
            )
    yield "lbp-2D", array.swapaxes(0, settings.force2d_dimension)[box]


def _sph_harm(m, n, polar_arg, azimuth_arg):
    """Scipy's former ``sph_harm(m, n, theta, phi)`` (theta azimuthal, phi polar), removed in SciPy 1.17.

    SciPy 1.15-1.16 define it as ``sph_harm_y(n, m, phi, theta)``; PyRadiomics passes the polar angle as
    ``theta`` and the azimuth as ``phi``, and that argument order is kept here.
    """
    from scipy import special

    return special.sph_harm_y(n, m, azimuth_arg, polar_arg)


def lbp_3d(source, settings, roi):
    """3-D local binary pattern by spherical harmonics (PyRadiomics' ``getLBP3DImage``, step for step).

    Samples on an icosphere (trimesh) around every ROI voxel by cubic-spline interpolation of the whole
    image (``scipy.ndimage.map_coordinates``, order 3, in the image's dtype as PyRadiomics calls it), the
    sign of each sample against the centre voxel, its spherical-harmonic coefficients per level, and the
    rotation-invariant norm per level (``lbp-3D-m1``, ``lbp-3D-m2``, ...), then the kurtosis of the samples
    (``lbp-3D-k``). Only ROI voxels carry values (the rest is 0; PyRadiomics leaves it uninitialised and
    no feature reads it). ROI voxels are processed in chunks; each row's arithmetic is PyRadiomics'.
    """
    from scipy.ndimage import map_coordinates
    from scipy.stats import kurtosis
    from trimesh.creation import icosphere

    # The whole domain: map_coordinates' cubic-spline prefilter is global, like PyRadiomics' call.
    image, box = source.whole()
    in_roi = roi
    if image.GetDimension() != 3:
        raise NotSupported("the LBP3D image type needs a 3-D image")
    if settings.force2d:
        log.warning("LBP3D is computed in 3D but features are extracted in 2D (force2D is on)")
    levels = settings.lbp3d_levels
    radius = settings.lbp3d_icosphere_radius
    im_arr = _array(image)
    sphere = np.array(icosphere(settings.lbp3d_icosphere_subdivision, radius).vertices)
    theta = np.arccos(np.true_divide(sphere[:, 2], radius))
    phi = np.arctan2(sphere[:, 1], sphere[:, 0])
    y = _sph_harm(0, 0, theta, phi)
    n_ix = np.array(0)
    for n in range(1, levels):
        for m in range(-n, n + 1):
            n_ix = np.append(n_ix, n)
            y = np.column_stack((y, _sph_harm(m, n, theta, phi)))
    y = y.reshape(len(sphere), -1)
    local = np.nonzero(in_roi)
    roi_coords = tuple(idx + b.start for idx, b in zip(local, box, strict=True))
    n_roi = len(roi_coords[0])
    norms = np.empty((n_roi, levels))
    kurt = np.empty(n_roi)
    chunk = 4096
    for start in range(0, n_roi, chunk):
        part = tuple(c[start : start + chunk] for c in roi_coords)
        coords = np.array(part).T[None, :, :] + sphere[:, None, :]
        f = map_coordinates(im_arr, coords.T, order=3)
        kurt[start : start + chunk] = np.real(kurtosis(f, axis=1))
        f = np.greater_equal(f, im_arr[part][:, None]).astype(int)
        c = np.multiply(f[:, :, None], y[None, :, :]).sum(axis=1)
        g = np.multiply(c[:, None, n_ix == 0], y[None, :, n_ix == 0])
        for n in range(1, levels):
            products = np.multiply(c[:, None, n_ix == n], y[None, :, n_ix == n])
            level_sum = np.sum(products, axis=2, keepdims=True)
            g = np.concatenate((g, level_sum), axis=2)
        norms[start : start + chunk] = np.real(np.sqrt(np.sum(g**2, axis=1)))
    result = np.zeros(im_arr.shape)
    for level in range(levels):
        result[roi_coords] = norms[:, level]
        yield "lbp-3D-m%d" % (level + 1), result[box].copy()
    result[roi_coords] = kurt
    yield "lbp-3D-k", result[box]


#: Image types that need the ROI (the in-box mask after re-segmentation): called with ``roi=``.
NEEDS_ROI = frozenset({"LBP3D"})


IMAGE_TYPES = {
    "Original": original,
    "LoG": log_sigma,
    "Wavelet": wavelet,
    "Square": square,
    "SquareRoot": square_root,
    "Logarithm": logarithm,
    "Exponential": exponential,
    "Gradient": gradient,
    "LBP2D": lbp_2d,
    "LBP3D": lbp_3d,
}

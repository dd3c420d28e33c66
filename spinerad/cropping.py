"""Crop before preprocessing: filters and resampling run on the ROI's box plus a margin, not on the scan.

PyRadiomics normalises, resamples and filters the whole image it is given, then keeps the ROI's bounding box.
Every one of those steps is either elementwise (normalisation, Square, Exponential...) or has a support that
decays with distance, so a box around the ROI wide enough for that support gives the same values in the ROI.
What needs the whole image is a handful of statistics (normalisation's mean and sigma, the intensity
filters' max |x|), taken once over the whole image and applied to the crop.

The margins, per filter, in voxels of the grid the filter runs on (each derived below, and tested against
the uncropped computation in ``tests/test_cropping.py``):

- **B-spline resampling** (cubic; ITK's ``BSplineDecompositionImageFilter`` and its interpolator):
  the interpolant reads 4 coefficients per axis (``floor(x) - 1 .. floor(x) + 2``); each coefficient comes
  from a recursive prefilter whose impulse response decays as ``|z|^d`` with ``z = sqrt(3) - 2 ~ -0.268``.
  A crop boundary ``d`` voxels away changes a coefficient by at most ``~1.7 |z|^d`` times the local intensity
  range: ``d = 30`` gives ``0.268^30 = 1.4e-17``, below float64 rounding. Margin ``2 + 30``. The spline is
  evaluated by :mod:`spinerad.kernels.bspline` (ITK's arithmetic, in whole-image index space, in parallel);
  it differs from ITK's whole-image result by float64 rounding: ~1e-14 of the intensity range (measured on
  lung2, brain1 and the IBSI CT phantom: at most 2e-14).
  The output keeps the image's pixel type: float64 (normalised images) differs from the uncropped result by
  that ~1e-14; a float32 output may round to the neighbouring float32 where the float64 value sits within
  ~1e-14 of a rounding midpoint (1 ulp, on ~1e-6 of the voxels: features move by ~1e-13); an integer output
  is truncated by ITK, so a crop whose values come within ``TRUNCATION_GUARD`` of an integer is redone on
  the whole image (:func:`truncate_like_itk`).
- **Other interpolators**: no crop. Linear and nearest-neighbour read only the samples next to each output
  point, so their cost already follows the output grid; nearest neighbour must not be cropped anyway (an index
  exactly between two voxels, common with spacing ratios like 2:1, would round by the crop's index noise),
  nor linear into float32 (exact midpoints between two float32 voxels are float32 rounding ties).
- **LoG** (ITK ``LaplacianRecursiveGaussianImageFilter``, Deriche 4th-order recursive filters): the impulse
  response decays as ``exp(-1.72 d / sigma_vox)`` (Deriche's poles b0 = 1.783, b1 = 1.723), and the filter
  assumes a constant continuation beyond its input, so a crop ``d`` voxels away perturbs the result by
  ``~exp(-1.72 d / sigma_vox)`` of the range. ``d = 24 sigma_vox`` gives ``exp(-41) = 1.4e-18``: below half a
  float32 ulp (the filter's output type) by 10 orders, so the float32 output is bit-identical (measured:
  identical from 20 sigma_vox on brain1 and the IBSI CT phantom, sigma 1-5 mm).
- **Wavelet** (PyWavelets ``swtn``, periodic, applied ``start_level + level`` times with the undilated filter
  as PyRadiomics does): each application reads ``dec_len - 1`` samples on either side at most, so the margin
  is ``(dec_len - 1) * (start_level + level)``. The transform wraps around the image, so an axis whose margin
  would reach the image border is not cropped at all.
- **Gradient** (central differences): 1 voxel; 2 are taken.
- **Original, Square, SquareRoot, Logarithm, Exponential**: elementwise, margin 0; their max |x| is the whole
  image's, taken from its minimum and maximum through the same (monotone) normalisation.
"""

import math

import numpy as np
import SimpleITK as sitk

#: Master switch: False computes every step on the whole image, as PyRadiomics (the reference the tests
#: compare cropped results with).
CROP = True
#: Prefilter margin of the cubic B-spline (voxels of the input): 0.268**30 = 1.4e-17.
BSPLINE_PREFILTER_MARGIN = 30
#: Voxels read on either side of floor(continuous index) by each interpolator we crop for.
INTERPOLATOR_SUPPORT = {"sitkBSpline": 2 + BSPLINE_PREFILTER_MARGIN}
#: LoG margin in units of sigma (voxels of that spacing): exp(-1.72 * 24) = 1.4e-18.
LOG_SIGMAS = 24
#: Smallest crop along an axis (ITK's recursive Gaussian needs 4 voxels; more is always safe).
MIN_CROP = 8
#: Integer outputs of an interpolator are truncated by ITK: a value this close (times the intensity range) to
#: an integer may truncate differently on a crop (index rounding ~1e-14 of the range), so such a crop is
#: recomputed on the whole image.
TRUNCATION_GUARD = 1e-11


def log_margin(sigma, spacing_zyx):
    """LoG margin (z, y, x voxels) for ``sigma`` mm."""
    return tuple(int(math.ceil(LOG_SIGMAS * sigma / s)) for s in spacing_zyx)


def wavelet_margin(wavelet, start_level, level):
    """Wavelet margin in voxels (every axis)."""
    import pywt

    return (pywt.Wavelet(wavelet).dec_len - 1) * (start_level + level)


class Normaliser:
    """PyRadiomics' ``normalizeImage`` (sitk.Normalize, outlier clipping, scale) on any part of the image.

    ``sitk.Normalize`` is ``(x + (-mean)) * (1 / sigma)`` in float64 with ITK's whole-image statistics; the
    same float64 operations on a crop give bit-identical values (tested).
    """

    def __init__(self, image, scale=1, remove_outliers=None):
        from .kernels.imagestats import integer_statistics

        voxels = sitk.GetArrayViewFromImage(image)
        exact = integer_statistics(voxels[None] if voxels.ndim == 2 else voxels)
        if exact is None:
            stats = sitk.StatisticsImageFilter()
            stats.Execute(image)
            exact = stats.GetMean(), stats.GetSigma(), stats.GetMinimum(), stats.GetMaximum()
        mean, sigma, self.minimum, self.maximum = exact
        # NormalizeImageFilter: ShiftScale with shift = -mean and scale = 1 / sigma (float64)
        self.shift = -mean
        self.inverse_sigma = 1.0 / sigma
        self.scale = scale
        self.remove_outliers = remove_outliers

    def array(self, values):
        """Normalise an array of original intensities (float64 result)."""
        values = np.asarray(values)
        if values.ndim == 3 and values.size > 4096 and values.dtype.kind in "iuf":
            from .kernels.imagestats import normalise

            return normalise(values, self.shift, self.inverse_sigma, self.remove_outliers, self.scale)
        out = (values.astype(np.float64) + self.shift) * self.inverse_sigma
        if self.remove_outliers is not None:
            out[out > self.remove_outliers] = self.remove_outliers
            out[out < -self.remove_outliers] = -self.remove_outliers
        return out * self.scale

    def arithmetic(self):
        """``(shift, inverse_sigma, remove_outliers or None, scale)``: what :meth:`array` computes, for kernels.

        ``clip((x + shift) * inverse_sigma, +-remove_outliers) * scale`` in float64, in that order.
        """
        return self.shift, self.inverse_sigma, self.remove_outliers, self.scale

    def image(self, image):
        """Normalise a SimpleITK image (keeps its geometry)."""
        out = sitk.GetImageFromArray(self.array(sitk.GetArrayViewFromImage(image)), isVector=False)
        out.CopyInformation(image)
        return out

    def extremes(self):
        """Return the normalised whole-image minimum and maximum (normalisation is monotone)."""
        return self.array(np.array([self.minimum, self.maximum]))


def _as_zyx(array):
    return array[None] if array.ndim == 2 else array


def _crop(image, lower, upper):
    """``sitk.RegionOfInterest`` of the (z, y, x) index box ``[lower, upper)``, copied through a NumPy view.

    The same voxels and geometry (origin: the box corner's physical point) without ITK's multithreaded filter,
    whose thread start-up cost more than the copy of a small box (and milliseconds on a loaded machine).
    """
    dimension = image.GetDimension()
    view = sitk.GetArrayViewFromImage(image)
    window = tuple(slice(lo, hi) for lo, hi in zip(lower, upper, strict=True))[3 - dimension :]
    crop = sitk.GetImageFromArray(view[window], isVector=image.GetNumberOfComponentsPerPixel() > 1)
    crop.SetOrigin(image.TransformIndexToPhysicalPoint([int(v) for v in lower[::-1][:dimension]]))
    crop.SetSpacing(image.GetSpacing())
    crop.SetDirection(image.GetDirection())
    return crop


class FilterSource:
    """The image PyRadiomics' filters see (whole, pre-cropped or resampled), handed out as crops of it.

    Parameters
    ----------
    image : SimpleITK.Image
        The filters' domain. With ``normaliser``, its original (not yet normalised) intensities.
    box : tuple of slice
        The ROI's (z, y, x) bounding box in ``image``.
    normaliser : Normaliser or None
        Applied to every crop handed out (whole-image statistics).
    croppable : bool
        False: always hand out the whole domain (it is already the box plus PyRadiomics' own padding).
    """

    def __init__(self, image, box, normaliser=None, croppable=True):
        self.image = image
        self.box = box
        self.normaliser = normaliser
        self.croppable = croppable
        self.size_xyz = tuple(image.GetSize())
        self.spacing_xyz = tuple(image.GetSpacing())
        self.dimension = image.GetDimension()
        self._regions = {}
        self._box_values = None
        self._max_abs = None

    @property
    def shape_zyx(self):
        """Domain size in array order (2-D images get a z axis of 1)."""
        shape = self.size_xyz[::-1]
        return (1,) + shape if len(shape) == 2 else shape

    def _bounds(self, margin_zyx, wrap):
        lower, upper = [], []
        for axis, (b, n) in enumerate(zip(self.box, self.shape_zyx, strict=True)):
            m = margin_zyx[axis]
            lo, hi = b.start - m, b.stop + m
            if wrap and (lo < 0 or hi > n):
                lo, hi = 0, n  # periodic filters: the wrap-around must come from the real opposite border
            lo, hi = max(lo, 0), min(hi, n)
            need = min(MIN_CROP, n)
            if hi - lo < need:
                lo = max(0, min(lo, n - need))
                hi = lo + need
            lower.append(lo)
            upper.append(hi)
        return tuple(lower), tuple(upper)

    def region(self, margin_zyx=(0, 0, 0), wrap=False):
        """Crop the domain to the box plus ``margin_zyx`` voxels (clipped to the domain).

        Returns
        -------
        image : SimpleITK.Image
            The crop, normalised when the source normalises; same geometry as the domain there.
        box : tuple of slice
            The ROI box within the crop.
        """
        if not (self.croppable and CROP):
            lower, upper = (0, 0, 0), self.shape_zyx
        else:
            lower, upper = self._bounds(tuple(int(m) for m in margin_zyx), wrap)
        key = (lower, upper)
        if key not in self._regions:
            if lower == (0, 0, 0) and tuple(upper) == tuple(self.shape_zyx):
                crop = self.image
            else:
                crop = _crop(self.image, lower, upper)
            if self.normaliser is not None:
                crop = self.normaliser.image(crop)
            self._regions[key] = crop
        box = tuple(slice(b.start - lo, b.stop - lo) for b, lo in zip(self.box, lower, strict=True))
        return self._regions[key], box

    def whole(self):
        """The whole domain (normalised when the source normalises) and the ROI box within it.

        For filters whose support is global (LBP's cubic-spline prefilter) or not worth bounding.
        """
        return self.region(self.shape_zyx)

    def box_array(self):
        """Return the (normalised) intensities of the ROI box, (z, y, x).

        A view of the domain's voxels (normalised from it when the source normalises): no crop image is made
        for the Original image and the elementwise filters (``sitk.RegionOfInterest`` cost ~1-4 ms per call).
        """
        key = tuple((b.start, b.stop) for b in self.box)
        if self._box_values is None or self._box_values[0] != key:
            values = _as_zyx(sitk.GetArrayViewFromImage(self.image))[self.box]
            if self.normaliser is not None:
                values = self.normaliser.array(values)
                values.flags.writeable = False  # as the view of a normalised crop image is
            self._box_values = (key, values)
        return self._box_values[1]

    def max_abs(self):
        """Max |x| over the whole domain, as float64 (what PyRadiomics' intensity filters scale by)."""
        if self._max_abs is None:
            if self.normaliser is not None:
                extremes = self.normaliser.extremes()
            elif self.croppable and CROP:
                stats = sitk.MinimumMaximumImageFilter()
                stats.Execute(self.image)
                extremes = np.array([stats.GetMinimum(), stats.GetMaximum()], dtype=np.float64)
            else:
                extremes = np.asarray(sitk.GetArrayViewFromImage(self.image), dtype=np.float64)
            self._max_abs = np.max(np.abs(extremes))
        return self._max_abs


def _corner_indices(image, size, origin, spacing, direction):
    """Continuous indices in ``image`` of the output grid's 2**dim corners (extremes of an affine map)."""
    dimension = image.GetDimension()
    direction = np.array(direction, dtype=np.float64).reshape(dimension, dimension)
    spacing = np.asarray(spacing, dtype=np.float64)
    corners = []
    for corner in np.ndindex(*([2] * dimension)):
        index = np.array(corner) * (np.array(size) - 1)
        point = np.asarray(origin, dtype=np.float64) + direction @ (spacing * index)
        corners.append(image.TransformPhysicalPointToContinuousIndex(point.tolist()))
    return np.array(corners)


def input_region(image, size, origin, spacing, direction, interpolator):
    """Index region of ``image`` an interpolator reads to fill the output grid, or None (read it all).

    Returns ``(index_xyz, size_xyz)`` for ``sitk.RegionOfInterest`` (possibly the whole image); None when the
    interpolator is not one we crop for (or the image is not a 3-D scalar image).
    """
    support = INTERPOLATOR_SUPPORT.get(interpolator)
    dimension = image.GetDimension()
    if support is None or not CROP or dimension != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        return None
    corners = _corner_indices(image, size, origin, spacing, direction)
    full = np.array(image.GetSize())
    lower = np.maximum(np.floor(corners.min(axis=0)).astype(int) - support, 0)
    upper = np.minimum(np.floor(corners.max(axis=0)).astype(int) + support + 1, full - 1)
    if np.any(upper < lower):
        return None
    return lower.tolist(), (upper - lower + 1).tolist()


def spline_reads(image, size, origin, spacing, direction, region):
    """The (z, y, x) slices of the crop ``region`` whose B-spline coefficients the interpolator reads.

    Its taps are ``floor(x) - 1 .. floor(x) + 2`` (mirrored at the whole image's border, which stays within
    3 voxels of it); one more voxel on either side covers the float32 rounding of ``floor`` and the last bits
    of the continuous index. Only these coefficients need every prefilter pass
    (:func:`spinerad.kernels.bspline.bspline_coefficients`).
    """
    corners = _corner_indices(image, size, origin, spacing, direction)
    start = np.asarray(region[0])
    stop = start + np.asarray(region[1])
    lower = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 3, start)
    upper = np.minimum(np.floor(corners.max(axis=0)).astype(int) + 4, stop)
    upper = np.maximum(upper, lower)
    return tuple(slice(int(lo - s), int(hi - s)) for lo, hi, s in zip(lower, upper, start, strict=True))[::-1]


_INTEGER_RANGES = {
    sitk.sitkUInt8: np.uint8,
    sitk.sitkInt8: np.int8,
    sitk.sitkUInt16: np.uint16,
    sitk.sitkInt16: np.int16,
    sitk.sitkUInt32: np.uint32,
    sitk.sitkInt32: np.int32,
    sitk.sitkUInt64: np.uint64,
    sitk.sitkInt64: np.int64,
}


def truncate_like_itk(values, pixel_id, intensity_range):
    """ITK's cast of interpolated float64 values to an integer pixel type, or None when a crop may differ.

    ITK clamps to the type's range and truncates toward zero (``static_cast``). Values within
    ``TRUNCATION_GUARD * intensity_range`` of an integer may truncate the other way on the uncropped image,
    whose continuous indices round differently: then None (the caller resamples the whole image).
    """
    dtype = _INTEGER_RANGES[pixel_id]
    tolerance = TRUNCATION_GUARD * max(1.0, intensity_range)
    if np.any(np.abs(values - np.round(values)) <= tolerance):
        return None
    info = np.iinfo(dtype)
    return np.clip(np.trunc(values), info.min, info.max).astype(dtype)


def is_integer_pixel(pixel_id):
    """Whether a SimpleITK pixel id is an integer scalar type."""
    return pixel_id in _INTEGER_RANGES

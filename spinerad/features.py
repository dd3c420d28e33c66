"""The explicit registry of feature classes: their PyRadiomics names and the functions that compute them.

A class computes from a :class:`RoiContext` (the discretised ROI shared by all classes of one image) and
returns ``{feature name: float}`` for the enabled names. PyRadiomics discovers features by reflection and
turns any exception into NaN; here the table is explicit and errors propagate.
"""

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .errors import InvalidInput, RoiTooSmall
from .kernels import firstorder as _firstorder
from .kernels import glcm as _glcm
from .kernels import gldm as _gldm
from .kernels import glrlm as _glrlm
from .kernels import glszm as _glszm
from .kernels import ngtdm as _ngtdm
from .kernels import shape as _shape
from .kernels import shape2d as _shape2d
from .kernels.neighbours import neighbour_scan

log = logging.getLogger(__name__)

#: Every class name PyRadiomics knows; the ones missing from FEATURE_CLASSES are rejected as not supported.
KNOWN_CLASSES = ("firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


@dataclass
class RoiContext:
    """The discretised ROI of one image, shared by every feature class.

    Attributes
    ----------
    values : numpy.ndarray
        float64 ROI intensities in array order.
    levels : numpy.ndarray
        int32 cropped volume (z, y, x): compact grey-level index in the ROI, -1 outside.
    grey_levels : numpy.ndarray
        float64 real level value of each compact index.
    level_counts : numpy.ndarray
        Voxels per compact index.
    spacing_zyx : tuple
        Voxel spacing in array order (mm).
    shape_mask : numpy.ndarray
        bool (z, y, x) on the same cropped grid: the ROI the shape class describes. PyRadiomics takes the
        mask *before* re-segmentation (unless ``resegmentShape``), cropped to the re-segmented box.
    settings : spinerad.settings.Settings
    device : str
        "cpu" or "cuda" for the matrix kernels.
    share : frozenset
        Keys of :data:`SHARED_WORK` whose classes are all computed from this context: the first of them to run
        does the common pass for all (each gets the very values it would compute alone).
    """

    values: np.ndarray
    levels: np.ndarray
    grey_levels: np.ndarray
    level_counts: np.ndarray
    spacing_zyx: tuple
    shape_mask: np.ndarray
    settings: object
    device: str = "cpu"
    share: frozenset = frozenset()
    #: results several classes share, computed once (classes of one context run in several threads)
    _shared: dict = field(default_factory=dict, repr=False, compare=False)
    _shared_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def shared(self, key, compute):
        """``compute()``, run once per key for this context; other threads asking meanwhile wait for it."""
        with self._shared_lock:
            future = self._shared.get(key)
            owner = future is None
            if owner:
                future = self._shared[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:  # re-raised in every class that asked
                future.set_exception(exc)
        return future.result()

    @property
    def ng_max(self):
        """Highest grey level in the ROI (PyRadiomics' ``Ng``)."""
        return int(self.grey_levels[-1])


def _angle_weights(angles, spacing_zyx, norm, kind):
    """Per-angle weights of ``weightingNorm`` (GLCM uses exp(-d^2), GLRLM the distance itself)."""
    if norm is None:
        return None
    scaled = np.abs(angles) * np.asarray(spacing_zyx, dtype=np.float64)
    if norm == "infinity":
        distance = scaled.max(axis=1)
        squared = distance**2
    elif norm == "euclidean":
        squared = np.sum(scaled**2, axis=1)
        distance = np.sqrt(squared)
    elif norm == "manhattan":
        distance = scaled.sum(axis=1)
        squared = distance**2
    else:  # no_weighting
        return np.ones(len(angles))
    return np.exp(-squared) if kind == "glcm" else distance


def _angles(ctx, distances):
    s = ctx.settings
    return kernels.generate_angles(ctx.levels.shape, distances, s.force2d, s.force2d_dimension)


def compute_firstorder(ctx, names):
    """First-order features of the ROI intensities."""
    s = ctx.settings
    volume = float(np.prod(ctx.spacing_zyx))
    values = _firstorder.firstorder_features(ctx.values, ctx.level_counts, volume, s.voxel_array_shift)
    return {name: values[name] for name in names}


def compute_glcm(ctx, names):
    """GLCM features averaged over angles (or over one merged matrix with ``weightingNorm``)."""
    s = ctx.settings
    angles = _angles(ctx, s.distances)
    if len(angles) == 0:
        raise RoiTooSmall(
            f"no GLCM offset at distances {list(s.distances)} fits in the ROI bounding box "
            f"{tuple(ctx.levels.shape)} (z, y, x)"
        )
    if _shares_runs(ctx):
        counts = _run_and_pair_counts(ctx, angles)[1]
    else:
        counts = kernels.glcm_matrix(ctx.levels, angles, len(ctx.grey_levels), device=ctx.device)
    weights = _angle_weights(angles, ctx.spacing_zyx, s.weighting_norm, "glcm")
    p = _glcm.prepare_glcm(counts, s.symmetrical_glcm, weights)
    result = {}
    wanted = [n for n in names if n in _glcm.FEATURE_NAMES]
    if wanted:
        # PyRadiomics' matrix memory layout (it decides rounding in Imc2's corner case, see glcm.py)
        swapped = len(ctx.grey_levels) == ctx.ng_max and weights is None and p.shape[1] == len(angles)
        symmetric = s.symmetrical_glcm and weights is None  # p + p.T, each cell pair divided alike
        per_angle = _glcm.glcm_features(p, ctx.grey_levels, ctx.ng_max, swapped, symmetric)
        values = _glcm.aggregate(per_angle)[0]
        for name in wanted:
            result[name] = float(values[_glcm.FEATURE_NAMES.index(name)])
    if _glcm.MCC_NAME in names:
        result[_glcm.MCC_NAME] = float(_glcm.maximal_correlation_coefficient(p)[0])
    return {name: result[name] for name in names if name in result}


def _shares_runs(ctx):
    """GLCM and GLRLM take their counts from one pass (see :func:`shared_work`)."""
    return "runs" in ctx.share


def _run_and_pair_counts(ctx, angles):
    """(GLRLM run counts, GLCM co-occurrence counts) of the distance-1 angles, one pass for both classes."""
    return ctx.shared(("runs",), lambda: _glrlm.glrlm_glcm_matrices(ctx.levels, angles, len(ctx.grey_levels)))


def compute_glrlm(ctx, names):
    """GLRLM features averaged over angles (or over one merged matrix with ``weightingNorm``)."""
    s = ctx.settings
    angles = _angles(ctx, (1,))
    if _shares_runs(ctx):
        counts = _run_and_pair_counts(ctx, angles)[0]
    else:
        counts = kernels.glrlm_matrix(ctx.levels, angles, len(ctx.grey_levels), device=ctx.device)
    weights = _angle_weights(angles, ctx.spacing_zyx, s.weighting_norm, "glrlm")
    p, n_runs = _glrlm.prepare_glrlm(counts, weights)
    values = kernels.nanmean_angles(_glrlm.glrlm_features(p, n_runs, ctx.grey_levels))[0]
    return {name: float(values[_glrlm.FEATURE_NAMES.index(name)]) for name in names}


def compute_shape(ctx, names):
    """Shape features of the ROI mask (mesh, diameters, principal axes): independent of the intensities."""
    return _shape.shape_features(ctx.shape_mask, ctx.spacing_zyx, names)


def compute_shape2d(ctx, names):
    """Shape2D features of a one-slice ROI (``force2D``), under PyRadiomics' conditions.

    PyRadiomics (``computeShape``) skips the class with a warning when ``force2D`` is off, and when the
    ROI box is one voxel wide along the axis ``force2Ddimension`` picks in *ITK* order (x, y, z: its
    bounding-box check indexes that order); it then fails the extraction when the mask is more than one
    voxel thick along ``force2Ddimension`` in array order (z, y, x). Both are kept, so the same parameter
    file gives the same feature set.
    """
    s = ctx.settings
    mask = ctx.shape_mask
    if not s.force2d:
        log.warning("shape2D skipped: it needs force2D: true (as in PyRadiomics)")
        return {}
    if mask.shape[::-1][s.force2d_dimension] <= 1:
        log.warning(
            "shape2D skipped: the ROI box is 1 voxel wide along ITK axis %d (PyRadiomics' check)",
            s.force2d_dimension,
        )
        return {}
    if mask.shape[s.force2d_dimension] > 1:
        raise InvalidInput(
            f"shape2D needs an ROI one voxel thick along force2Ddimension {s.force2d_dimension}; "
            f"this ROI spans {mask.shape[s.force2d_dimension]} (PyRadiomics raises the same)"
        )
    axes = [0, 1, 2]
    axes.remove(s.force2d_dimension)
    spacing = np.asarray(ctx.spacing_zyx, dtype=np.float64)[axes]
    return _shape2d.shape2d_features(np.squeeze(mask, axis=s.force2d_dimension), spacing, names)


def _neighbour_offsets(ctx, distances):
    """Both directions of every angle, as PyRadiomics' GLSZM/GLDM/NGTDM neighbourhoods use them.

    PyRadiomics raises (and the whole extraction fails) when no offset fits in the cropped box.
    """
    s = ctx.settings
    angles = kernels.generate_angles(
        ctx.levels.shape, distances, s.force2d, s.force2d_dimension, bidirectional=True
    )
    if len(angles) == 0:
        raise RoiTooSmall(
            f"no neighbour offset at distances {list(distances)} fits in the ROI bounding box "
            f"{tuple(ctx.levels.shape)} (z, y, x); GLSZM/GLDM/NGTDM need at least one"
        )
    return angles


def _by_name(values, feature_names, names):
    return {name: float(values[feature_names.index(name)]) for name in names if name in feature_names}


def compute_glszm(ctx, names):
    """GLSZM features: zones connected at distance 1 (the ``distances`` setting does not apply)."""
    angles = _neighbour_offsets(ctx, (1,))
    # No CUDA twin (see spinerad.kernels): the CPU kernel for either device, straight to the occurring sizes.
    if "zones" in ctx.share:
        p, sizes, _ = _zones_and_dependence(ctx, angles)
    else:
        p, sizes = _glszm.glszm_occurring_sizes(ctx.levels, angles, len(ctx.grey_levels))
    values = _glszm.glszm_features(p, ctx.grey_levels, sizes)[0]
    return _by_name(values, _glszm.FEATURE_NAMES, names)


def compute_gldm(ctx, names):
    """GLDM features with the ``distances`` neighbourhood and ``gldm_a`` dependence threshold."""
    s = ctx.settings
    angles = _neighbour_offsets(ctx, s.distances)
    if "zones" in ctx.share:
        counts = _zones_and_dependence(ctx, angles)[2]
    elif "neighbours" in ctx.share:
        counts = _neighbour_histograms(ctx, angles)[0]
    else:
        counts = kernels.gldm_matrix(ctx.levels, angles, ctx.grey_levels, s.gldm_a, device=ctx.device)
    values = _gldm.gldm_features(counts[None], ctx.grey_levels)[0]
    return _by_name(values, _gldm.FEATURE_NAMES, names)


def _zones_and_dependence(ctx, angles):
    """GLSZM's zones and GLDM's dependence counts from one flood fill (``gldm_a`` < 1, distance 1).

    See :func:`spinerad.kernels.glszm.glszm_zones_and_dependence`: each is what its class alone computes.
    """
    return ctx.shared(
        ("zones",), lambda: _glszm.glszm_zones_and_dependence(ctx.levels, angles, len(ctx.grey_levels))
    )


def _neighbour_histograms(ctx, angles):
    """GLDM's dependence counts and NGTDM's table from one neighbour scan, shared by the two classes.

    Both use the ``distances`` neighbourhood (``angles``), and each histogram of the scan is the one its
    class alone would get (the CPU kernels; the CUDA device runs the same ones for these classes).
    """

    def scan():
        return neighbour_scan(ctx.levels, angles, ctx.grey_levels, ctx.settings.gldm_a, True, True)

    return ctx.shared(("neighbours", tuple(ctx.settings.distances)), scan)


def compute_ngtdm(ctx, names):
    """NGTDM features with the ``distances`` neighbourhood."""
    angles = _neighbour_offsets(ctx, ctx.settings.distances)
    if "neighbours" in ctx.share:
        matrix = _neighbour_histograms(ctx, angles)[1]
    else:
        matrix = kernels.ngtdm_matrix(ctx.levels, angles, ctx.grey_levels, device=ctx.device)
    values = _ngtdm.ngtdm_features(matrix[None], ctx.grey_levels)[0]
    return _by_name(values, _ngtdm.FEATURE_NAMES, names)


#: Work several classes of one image share (see :meth:`RoiContext.shared`): key -> the classes that must all
#: be requested for it. "neighbours": GLDM's and NGTDM's histograms from one neighbour scan; "runs": GLRLM's
#: runs and GLCM's co-occurrences from one pass (:func:`spinerad.kernels.glrlm.glrlm_glcm_matrices`).
SHARED_WORK = {"neighbours": frozenset({"gldm", "ngtdm"}), "runs": frozenset({"glcm", "glrlm"})}
#: "zones": GLSZM's zones and GLDM's dependence counts from one flood fill (gldm_a < 1, distance 1, no NGTDM).
SHARED_WORK["zones"] = frozenset({"glszm", "gldm"})
#: The class of each shared pair that mostly reads the other's pass: submitted last, it is short.
SHARED_FOLLOWER = {"neighbours": "ngtdm", "runs": "glrlm", "zones": "gldm"}


def shared_work(requested, settings, device):
    """The :data:`SHARED_WORK` keys for an image whose classes ``requested`` run with ``settings`` on ``device``.

    GLCM shares the run pass at distance 1 only (GLRLM's runs are always at distance 1), and on the CPU (the
    CUDA twins count alone).
    """
    share = {key for key, classes in SHARED_WORK.items() if classes <= set(requested)}
    if device != "cpu" or tuple(settings.distances) != (1,):
        share.discard("runs")
    # GLSZM's flood fill sees GLDM's dependent neighbours only when they are those of the same level (grey
    # levels are whole bin numbers: |i - j| <= a < 1 means i == j) at distance 1; with NGTDM requested too,
    # GLDM keeps the neighbour scan it shares with NGTDM.
    same_level = 0 <= settings.gldm_a < 1
    if device != "cpu" or tuple(settings.distances) != (1,) or not same_level or "neighbours" in share:
        share.discard("zones")
    return frozenset(share)


@dataclass(frozen=True)
class FeatureClass:
    """One feature class: its PyRadiomics names and its compute function.

    ``deprecated`` names are computed only when asked for by name; ``removed`` names are accepted (PyRadiomics
    knows them) but produce no value, exactly as PyRadiomics, which raises and drops them.
    """

    name: str
    names: tuple
    compute: object
    deprecated: frozenset = frozenset()
    removed: dict = None
    #: False for classes of the ROI itself (shape): computed once, named ``original_<class>_...``.
    per_image_type: bool = True

    @property
    def all_names(self):
        """Every name a parameter file may list for this class."""
        return tuple(self.names) + tuple(sorted(self.deprecated)) + tuple(sorted(self.removed or {}))

    def default_names(self):
        """Non-deprecated names in PyRadiomics' output order (its getter methods, sorted)."""
        return tuple(sorted(self.names, key=lambda n: f"get{n}FeatureValue"))

    def resolve(self, requested):
        """Names to compute for a featureClass entry (None = all non-deprecated)."""
        if requested is None:
            return self.default_names()
        out = []
        for name in requested:
            if self.removed and name in self.removed:
                log.warning("%s_%s is not computed: %s", self.name, name, self.removed[name])
                continue
            if name in self.deprecated:
                log.warning("%s_%s is deprecated in PyRadiomics; computed on request", self.name, name)
            if name not in out:
                out.append(name)
        return tuple(out)


def _family(name, module, compute, **options):
    """The FeatureClass of a kernel module whose deprecated names are computed only on request."""
    default = tuple(n for n in module.FEATURE_NAMES if n not in module.DEPRECATED)
    return FeatureClass(name, default, compute, deprecated=module.DEPRECATED, **options)


FEATURE_CLASSES = {
    "shape": _family("shape", _shape, compute_shape, per_image_type=False),
    "shape2D": _family("shape2D", _shape2d, compute_shape2d, per_image_type=False),
    "firstorder": _family("firstorder", _firstorder, compute_firstorder),
    "glcm": FeatureClass(
        "glcm",
        _glcm.FEATURE_NAMES + (_glcm.MCC_NAME,),
        compute_glcm,
        removed={
            "Dissimilarity": "equal to DifferenceAverage (removed in PyRadiomics)",
            "Homogeneity1": "equal to Id (removed in PyRadiomics)",
            "Homogeneity2": "equal to Idm (removed in PyRadiomics)",
            "SumVariance": "equal to ClusterTendency (removed in PyRadiomics)",
        },
    ),
    "glrlm": FeatureClass("glrlm", _glrlm.FEATURE_NAMES, compute_glrlm),
    "glszm": FeatureClass("glszm", _glszm.FEATURE_NAMES, compute_glszm),
    "gldm": FeatureClass("gldm", _gldm.FEATURE_NAMES, compute_gldm, removed=_gldm.DEPRECATED_NO_VALUE),
    "ngtdm": FeatureClass("ngtdm", _ngtdm.FEATURE_NAMES, compute_ngtdm),
}

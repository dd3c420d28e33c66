"""IBSI mode: the IBSI 1 feature families, named by their IBSI tags, as a family set like PyRadiomics mode's.

PyRadiomics computes one aggregation per texture family (3D, features averaged over directions). IBSI 1
also defines merged matrices and slice-wise variants. From the same preprocessing settings
(PyRadiomics-format parameters) IBSI mode computes the families of :data:`FAMILIES`:

- ``stat_``, ``ih_``, ``ivh_`` (:mod:`spinerad.ibsi_intensity`),
- ``cm_``, ``rlm_`` in six aggregations, ``szm_``, ``dzm_``, ``ngt_``, ``ngl_`` in three
  (:mod:`spinerad.ibsi_texture`),
- ``morph_``, ``loc_`` and the per-step diagnostic values (:mod:`spinerad.ibsi_morph`, called by the
  pipeline: they read the image and the morphological mask),

named ``<family>_<feature>_<aggregation>`` exactly as the IBSI reference tables (``cm_joint_max_3D_avg``).
Where IBSI and PyRadiomics define a formula alike, both modes run the same kernel (see the family
modules). What IBSI prescribes differently: fixed-bin-size discretisation is anchored at the lower
re-segmentation bound (else the ROI minimum), fixed bin number uses ``floor(Ng (x-min)/(max-min)) + 1``,
``Ng`` is the number of bins (not the highest level present), kurtosis is excess kurtosis.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import ibsi_intensity, ibsi_texture

#: IBSI's texture aggregations: per slice, slices merged, volume (``ibsi: aggregations`` selects some).
AGGREGATIONS = ("2D", "2_5D", "3D")


def discretise(values, bin_width=None, bin_count=None, lower_bound=None):
    """IBSI discretisation: returns (levels 1..Ng per voxel, Ng)."""
    values = np.asarray(values, dtype=np.float64)
    if bin_count is not None:
        low, high = values.min(), values.max()
        if high == low:
            return np.ones(values.shape, dtype=np.int64), int(bin_count)
        levels = np.floor(bin_count * (values - low) / (high - low)).astype(np.int64) + 1
        levels[values == high] = bin_count
        return levels, int(bin_count)
    anchor = values.min() if lower_bound is None else lower_bound
    levels = np.floor((values - anchor) / bin_width).astype(np.int64) + 1
    return levels, int(levels.max())


@dataclass
class IbsiRoi:
    """The discretised ROI every IBSI family of one image computes from.

    Attributes
    ----------
    values : numpy.ndarray
        ROI intensities (after re-segmentation).
    levels : numpy.ndarray
        int64 (z, y, x) levels 1..Ng inside the ROI, 0 outside (on the morphological mask's box).
    n_levels : int
        Number of grey levels Ng (bins).
    morph_mask : numpy.ndarray
        bool ROI before re-segmentation on the same grid (GLDZM border distances).
    ivh : dict
        Keyword arguments of :func:`spinerad.ibsi_intensity.intensity_volume_histogram`.
    aggregations : tuple
        Texture aggregations to compute: of "2D", "2_5D", "3D".
    """

    values: np.ndarray
    levels: np.ndarray
    n_levels: int
    morph_mask: np.ndarray
    ivh: dict
    aggregations: tuple = AGGREGATIONS

    @cached_property
    def roi_levels(self):
        """Levels of the ROI voxels in array order."""
        return self.levels[self.levels > 0]

    @cached_property
    def compact(self):
        """Levels 0..Ng-1, -1 outside: the matrix kernels' convention."""
        return (self.levels - 1).astype(np.int32)

    @cached_property
    def planes(self):
        """Indices of the slices (first axis) holding ROI voxels."""
        return np.flatnonzero(np.any(self.levels > 0, axis=(1, 2)))

    @cached_property
    def row_of_slice(self):
        """Per slice: its row among :attr:`planes` (-1 for a slice without ROI voxels)."""
        rows = np.full(self.levels.shape[0], -1, dtype=np.int64)
        rows[self.planes] = np.arange(len(self.planes))
        return rows


#: IBSI families computed from the discretised ROI: tag prefix(es) -> function of an :class:`IbsiRoi`.
FAMILIES = {
    "stat": lambda r: ibsi_intensity.intensity_statistics(r.values),
    "ih": lambda r: ibsi_intensity.intensity_histogram(r.roi_levels, r.n_levels),
    "ivh": lambda r: ibsi_intensity.intensity_volume_histogram(r.values, r.roi_levels, r.n_levels, **r.ivh),
    "cm": lambda r: ibsi_texture.glcm_family(r.compact, r.planes, r.n_levels, r.aggregations),
    "rlm": lambda r: ibsi_texture.glrlm_family(r.compact, r.planes, r.n_levels, r.aggregations),
    "szm, dzm": lambda r: ibsi_texture.zone_families(
        r.levels, r.row_of_slice, r.n_levels, r.morph_mask, r.aggregations
    ),
    "ngt, ngl": lambda r: ibsi_texture.neighbourhood_families(r.levels, r.planes, r.n_levels, r.aggregations),
}


def ibsi_features(values, levels_volume, n_levels, ivh=None, morph_mask=None, aggregations=AGGREGATIONS):
    """Every family of :data:`FAMILIES` of one ROI.

    Parameters
    ----------
    values : numpy.ndarray
        ROI intensities (after re-segmentation), any order.
    levels_volume : numpy.ndarray
        int (z, y, x) discretised levels 1..Ng inside the ROI, 0 outside (cropped to the ROI box).
    n_levels : int
        Number of grey levels Ng.
    ivh : dict or None
        Keyword arguments of :func:`spinerad.ibsi_intensity.intensity_volume_histogram`.
    morph_mask : numpy.ndarray or None
        bool ROI before re-segmentation, same grid as ``levels_volume``; None: the ROI itself.
    aggregations : sequence of str
        The texture aggregations to compute (of :data:`AGGREGATIONS`).

    Returns
    -------
    dict
        ``{IBSI tag: float}``.
    """
    levels = np.ascontiguousarray(levels_volume, dtype=np.int64)
    morph = levels > 0 if morph_mask is None else np.asarray(morph_mask, dtype=bool)
    roi = IbsiRoi(
        np.asarray(values, dtype=np.float64), levels, int(n_levels), morph, ivh or {}, tuple(aggregations)
    )
    out = {}
    for compute in FAMILIES.values():
        out.update(compute(roi))
    return {k: float(v) for k, v in out.items()}

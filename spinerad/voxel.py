"""Voxel-wise feature maps: PyRadiomics' voxel-based extraction, same semantics and names, on Numba kernels.

What PyRadiomics 3.0.1 does (``featureextractor.execute(..., voxelBased=True)``) and this module reproduces:

- The image is preprocessed exactly as for a per-ROI extraction (normalise, resample or pre-crop,
  re-segment), filtered per image type, then cropped to the ROI's bounding box **plus** ``kernelRadius``
  (clipped to the image): that box is the map grid, its origin the box corner on the (resampled) grid.
- The grey levels are discretised once per image type, over the ROI (``maskedKernel: true``) or over the
  whole map grid (``maskedKernel: false``); ``Ng`` and the level values come from that discretisation.
- Each ROI voxel's kernel is the box ``[c - r, c + r]`` (only the voxel's slice along the ``force2D``
  axis); the matrices of the kernel count the *valid* voxels of the box (in the ROI, or anywhere with
  ``maskedKernel: false``) and neighbours inside the box. First order takes the kernel's valid voxels.
- Voxels outside the ROI keep ``initValue``; a feature PyRadiomics leaves undefined for a voxel is NaN.
- Shape is not computed voxel-wise (PyRadiomics skips it in voxel mode).

Deliberate difference (documented in the README): PyRadiomics computes voxels in batches of ``voxelBatch``
and a few results depend on the batch mates (an angle is dropped only when it is empty for the whole
batch, so Joint Average can be NaN or not; a voxel whose MCC raises leaves the whole batch at
``initValue``). Here every voxel gets the value PyRadiomics gives it when computed alone
(``voxelBatch: 1``); ``voxelBatch`` is accepted and only sets how many voxels a kernel call takes.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from . import intake
from .cropping import FilterSource
from .errors import NotSupported
from .features import FEATURE_CLASSES
from .imagetypes import IMAGE_TYPES
from .pipeline import StageTimer, _check_device, _prepare, _resolve_params
from .preprocess import discretise

log = logging.getLogger(__name__)

#: Feature classes PyRadiomics computes voxel-wise.
VOXEL_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")

#: Voxels per kernel call: the granularity of progress and of cancellation (Ctrl-C between calls).
CHUNK = 2048


@dataclass
class MapGrid:
    """The map grid of one ROI: where the maps lie and which voxels they cover."""

    image: sitk.Image  #: the preprocessed image (the grid is a box of it)
    box: tuple  #: (z, y, x) slices of the grid in ``image``
    roi: np.ndarray  #: bool (z, y, x) on the grid: the ROI voxels (the map's defined voxels)
    coords: np.ndarray  #: int64 (n, 3) ROI voxel coordinates on the grid, C order (= numpy.where)

    @property
    def shape(self):
        """(z, y, x) size of the grid."""
        return self.roi.shape

    def geometry(self):
        """(origin, spacing, direction) of the grid: origin at the box corner, the image's spacing/direction."""
        start = [int(s.start) for s in self.box][::-1]
        origin = self.image.TransformIndexToPhysicalPoint(start)
        return origin, self.image.GetSpacing(), self.image.GetDirection()


def _set_geometry(image, geometry):
    """Give ``image`` the grid geometry ``(origin, spacing, direction)`` (:meth:`MapGrid.geometry`)."""
    origin, spacing, direction = geometry
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)


def map_grid(roi, radius):
    """The grid of the maps: the ROI's bounding box grown by ``radius`` and clipped to the image."""
    shape = intake.as_zyx(roi.image).shape
    box = tuple(
        slice(max(b.start - radius, 0), min(b.stop + radius, n)) for b, n in zip(roi.box, shape, strict=True)
    )
    grid_roi = np.zeros([s.stop - s.start for s in box], dtype=bool)
    inner = tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(roi.box, box, strict=True))
    grid_roi[inner] = roi.in_roi
    coords = np.argwhere(grid_roi).astype(np.int64)
    return MapGrid(roi.image, box, grid_roi, coords)


def _firstorder_offsets(grid, settings, radius, masked):
    """PyRadiomics' first-order kernel offsets (its order, centre last)."""
    from .kernels import generate_angles

    if masked:
        size = grid.coords.max(axis=0) - grid.coords.min(axis=0) + 1
    else:
        size = np.array(grid.shape)
    size = np.minimum(size, 2 * radius + 1)
    offsets = generate_angles(
        size, range(1, radius + 1), settings.force2d, settings.force2d_dimension, bidirectional=True
    )
    return np.ascontiguousarray(np.vstack([offsets, np.zeros((1, 3), dtype=np.int64)]))


class _ClassMaps:
    """How one class's kernel is called and which columns its output holds."""

    def __init__(self, name, columns, run):
        self.name = name
        self.columns = columns
        self.run = run


def _class_runner(class_name, names, grid, levels, values, grey_levels, settings, voxel, device="cpu"):
    """(columns, run(coords, out)) for one class on one discretised image."""
    from .kernels import (
        generate_angles,
        voxel_firstorder,
        voxel_glcm,
        voxel_gldm,
        voxel_glrlm,
        voxel_glszm,
        voxel_ngtdm,
    )
    from .kernels.voxel_common import n_blocks

    radius = voxel.kernel_radius
    axis2d = settings.force2d_dimension if settings.force2d else -1
    shape = grid.shape

    def angles(distances, bidirectional=False):
        return generate_angles(shape, distances, settings.force2d, settings.force2d_dimension, bidirectional)

    if class_name == "firstorder":
        offsets = _firstorder_offsets(grid, settings, radius, voxel.masked_kernel)
        volume = float(np.multiply.reduce(grid.image.GetSpacing()))
        n_levels = len(grey_levels)

        def run(coords, out):
            shift = float(settings.voxel_array_shift)
            if device == "cuda":
                from .kernels.gpu_voxel_firstorder import gpu_firstorder_maps

                gpu_firstorder_maps(values, levels, coords, offsets, n_levels, shift, volume, out)
            else:
                voxel_firstorder.firstorder_maps(
                    values, levels, coords, offsets, n_levels, shift, volume, n_blocks(len(coords)), out
                )

        return voxel_firstorder.FEATURE_NAMES, run
    if class_name == "glcm":
        glcm_angles = angles(settings.distances)

        def run(coords, out):
            symmetrical, want_mcc = settings.symmetrical_glcm, voxel_glcm.MCC_NAME in names
            if device == "cuda":
                from .kernels.gpu_voxel_glcm import gpu_glcm_maps

                gpu_glcm_maps(
                    levels, coords, radius, axis2d, glcm_angles, grey_levels, symmetrical, want_mcc, out
                )
            else:
                voxel_glcm.glcm_maps(
                    levels,
                    coords,
                    radius,
                    axis2d,
                    glcm_angles,
                    grey_levels,
                    symmetrical,
                    want_mcc,
                    n_blocks(len(coords)),
                    out,
                )

        return voxel_glcm.FEATURE_NAMES + (voxel_glcm.MCC_NAME,), run
    if class_name == "glrlm":
        run_angles = angles((1,))

        def run(coords, out):
            if device == "cuda":
                from .kernels.gpu_voxel_glrlm import gpu_glrlm_maps

                gpu_glrlm_maps(levels, coords, radius, axis2d, run_angles, grey_levels, out)
            else:
                voxel_glrlm.glrlm_maps(
                    levels, coords, radius, axis2d, run_angles, grey_levels, n_blocks(len(coords)), out
                )

        return voxel_glrlm.FEATURE_NAMES, run
    if class_name == "glszm":
        zone_angles = angles((1,), bidirectional=True)

        def run(coords, out):
            if device == "cuda":
                from .kernels.gpu_voxel_glszm import gpu_glszm_maps

                gpu_glszm_maps(levels, coords, radius, axis2d, zone_angles, grey_levels, out)
            else:
                voxel_glszm.glszm_maps(
                    levels, coords, radius, axis2d, zone_angles, grey_levels, n_blocks(len(coords)), out
                )

        return voxel_glszm.FEATURE_NAMES, run
    if class_name == "gldm":
        dep_angles = angles(settings.distances, bidirectional=True)

        def run(coords, out):
            if device == "cuda":
                from .kernels.gpu_voxel_gldm import gpu_gldm_maps

                alpha = float(settings.gldm_a)
                gpu_gldm_maps(levels, coords, radius, axis2d, dep_angles, grey_levels, alpha, out)
                return
            voxel_gldm.gldm_maps(
                levels,
                coords,
                radius,
                axis2d,
                dep_angles,
                grey_levels,
                float(settings.gldm_a),
                n_blocks(len(coords)),
                out,
            )

        return voxel_gldm.FEATURE_NAMES, run
    if class_name == "ngtdm":
        nb_angles = angles(settings.distances, bidirectional=True)

        def run(coords, out):
            if device == "cuda":
                from .kernels.gpu_voxel_ngtdm import gpu_ngtdm_maps

                gpu_ngtdm_maps(levels, coords, radius, axis2d, nb_angles, grey_levels, out)
            else:
                voxel_ngtdm.ngtdm_maps(
                    levels, coords, radius, axis2d, nb_angles, grey_levels, n_blocks(len(coords)), out
                )

        return voxel_ngtdm.FEATURE_NAMES, run
    raise NotSupported(f"feature class '{class_name}' has no voxel-wise maps (PyRadiomics computes none)")


def _check_supported(params):
    s = params.settings
    if s.weighting_norm is not None:
        raise NotSupported("feature maps with 'weightingNorm' are not computed by this version of spinerad")
    for class_name, requested in params.feature_classes:
        if class_name == "glcm" and not s.symmetrical_glcm:
            names = FEATURE_CLASSES["glcm"].resolve(requested)
            if "MCC" in names:
                raise NotSupported("the MCC map needs symmetricalGLCM: true in this version of spinerad")


class FeatureMaps(Mapping):
    """The feature maps of one ROI: ``{feature name: SimpleITK.Image}``, each image built when it is read.

    The maps are held as the values of the ROI voxels (one column per feature, ``n_voxels x 8`` bytes a map,
    not a whole grid each): a map's grid array and SimpleITK image are made only for the maps a caller reads
    (:meth:`array`, ``maps[name]``), and anew at each read. Building ~90 grid images that nobody reads was the
    largest fixed cost of a small ROI.
    """

    def __init__(self, grid, init_value):
        # the grid's ROI and geometry only: not grid.image, which may be the whole input volume
        self.roi = grid.roi  #: bool (z, y, x) on the map grid: the voxels the maps define
        self.init_value = init_value
        # the geometry only, not a reference image: allocating a SimpleITK image was ~0.2 ms of a small ROI
        self._geometry = grid.geometry()
        self._columns = {}  # name -> (per-voxel values of the class, column)

    def add(self, name, values, column):
        """Register ``values[:, column]`` (the ROI voxels in the grid's ``coords`` order) as the map ``name``."""
        self._columns[name] = (values, column)

    def voxel_values(self, name):
        """The map's values at the ROI voxels, in the grid's ``coords`` order (a view)."""
        values, column = self._columns[name]
        return values[:, column]

    def array(self, name):
        """The map as a float64 (z, y, x) array on the map grid: ``initValue`` outside the ROI."""
        return self._on_grid(self.voxel_values(name))

    def __getitem__(self, name):
        return self.image_of(self.voxel_values(name))

    def _on_grid(self, voxel_values):
        out = np.full(self.roi.shape, self.init_value, dtype=np.float64)
        out[self.roi] = voxel_values  # boolean indexing walks C order, as coords do
        return out

    def image_of(self, voxel_values):
        """A SimpleITK map on the grid holding ``voxel_values`` (ROI voxels in the grid's ``coords`` order)."""
        result = sitk.GetImageFromArray(self._on_grid(voxel_values))
        _set_geometry(result, self._geometry)
        return result

    def __iter__(self):
        return iter(self._columns)

    def __len__(self):
        return len(self._columns)


def _compute_classes(image, mask, params, label, progress, timer, batch, device):
    """Yield ``(maps, [(feature name, column)], values)`` per class and image type (the kernels' work).

    ``maps`` is the one :class:`FeatureMaps` of the ROI (the same object at every step), ``values`` the class's
    (n_voxels, n_columns) kernel output; the first step, before any kernel, selects nothing.
    """
    params = _resolve_params(params)
    _check_device(device)
    _check_supported(params)
    settings = params.settings if label is None else params.settings.with_overrides(label=label)
    voxel = params.voxel
    timer = timer or StageTimer()
    image = intake.read_image(image, "image")
    mask = intake.read_image(mask, "mask")
    roi = _prepare(image, mask, settings, timer)
    grid = map_grid(roi, voxel.kernel_radius)
    maps = FeatureMaps(grid, voxel.init_value)
    yield maps, (), None  # the (still empty) maps, also when no voxel-wise class is enabled
    coords = grid.coords
    chunk = batch or (voxel.voxel_batch if voxel.voxel_batch > 0 else CHUNK)
    valid = grid.roi if voxel.masked_kernel else np.ones(grid.shape, dtype=bool)
    for image_type, custom in params.image_types:
        type_settings = settings.with_overrides(**dict(custom)) if custom else settings
        # The filters hand out the map grid's box (the ROI box plus the kernel radius), cropped with their margins.
        source = FilterSource(roi.source.image, grid.box, roi.source.normaliser, roi.source.croppable)
        derived = IMAGE_TYPES[image_type](source, type_settings)
        for prefix, filtered in derived:
            with timer.stage("discretise"):
                values = np.ascontiguousarray(np.asarray(filtered), dtype=np.float64)
                _, grey_levels, compact, _ = discretise(
                    values[valid], type_settings.bin_width, type_settings.bin_count
                )
                levels = np.full(grid.shape, -1, dtype=np.int32)
                levels[valid] = compact
            for class_name, requested in params.feature_classes:
                if class_name not in VOXEL_CLASSES:
                    continue  # shape: not computed voxel-wise, as in PyRadiomics
                names = FEATURE_CLASSES[class_name].resolve(requested)
                columns, run = _class_runner(
                    class_name, names, grid, levels, values, grey_levels, type_settings, voxel, device
                )
                out = np.empty((len(coords), len(columns)))
                bar = progress(f"{prefix}_{class_name}", len(coords)) if progress else None
                try:
                    with timer.stage(class_name):
                        for start in range(0, len(coords), chunk):
                            stop = min(start + chunk, len(coords))
                            run(coords[start:stop], out[start:stop])
                            if bar is not None:
                                bar.update(stop - start)
                finally:
                    if bar is not None:
                        bar.close()
                selected = [(f"{prefix}_{class_name}_{n}", columns.index(n)) for n in names if n in columns]
                yield maps, selected, out


def iter_feature_maps(
    image, mask, params=None, label=None, progress=None, timer=None, batch=None, device="cpu"
):
    """Yield ``(feature name, SimpleITK.Image)`` for every enabled voxel-wise feature, one map at a time.

    Parameters
    ----------
    image, mask : str, pathlib.Path or SimpleITK.Image
    params : parameter file, mapping or :class:`~spinerad.settings.ExtractionParams`; its ``voxelSetting``
        section sets the kernel (``kernelRadius``, ``maskedKernel``, ``initValue``, ``voxelBatch``).
    label : int or None
        ROI label (overrides the ``label`` setting).
    progress : callable or None
        ``progress(description, total)`` returning an object with ``update(n)`` and ``close()`` (a tqdm
        factory), called once per class and image type.
    timer : StageTimer or None
    batch : int or None
        Voxels per kernel call (default ``voxelBatch`` when set, else :data:`CHUNK`); results do not
        depend on it.
    device : {"cpu", "cuda"}
        ``cuda`` runs every class on its CUDA twin (``kernels/gpu_voxel_*.py``) on the GPU.

    Yields
    ------
    (str, SimpleITK.Image)
        PyRadiomics' feature name (``original_glcm_Contrast``) and its float64 map on the map grid.
        The ROI's per-voxel values; other voxels hold ``initValue``. Only one class's values are held at a
        time (the maps are yielded as each class is computed).
    """
    steps = _compute_classes(image, mask, params, label, progress, timer, batch, device)
    for maps, selected, values in steps:
        for name, column in selected:
            yield name, maps.image_of(values[:, column])  # not kept in maps: one class at a time in memory


def feature_maps(image, mask, params=None, label=None, progress=None, timer=None, device="cpu"):
    """All enabled feature maps as a :class:`FeatureMaps` mapping ``{name: SimpleITK.Image}``.

    Arguments as :func:`iter_feature_maps`. The values of every map are computed here; each map's image is
    built when it is read (see :class:`FeatureMaps`).
    """
    maps = None
    for maps, selected, values in _compute_classes(image, mask, params, label, progress, timer, None, device):
        for name, column in selected:
            maps.add(name, values, column)
    return maps


def map_file_name(feature_name, case_index=1):
    """The file name PyRadiomics' command line (``pyradiomics --mode voxel``) gives a map."""
    return f"Case-{case_index}_{feature_name}.nrrd"


__all__ = [
    "VOXEL_CLASSES",
    "FeatureMaps",
    "MapGrid",
    "feature_maps",
    "iter_feature_maps",
    "map_file_name",
    "map_grid",
]

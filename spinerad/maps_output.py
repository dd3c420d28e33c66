"""Writing feature maps: one NRRD per feature (PyRadiomics' CLI names) and a PNG preview for people.

Plain Python over :mod:`spinerad.voxel`; the CLI (``spinerad extract ... --maps-out DIR --preview PNG``)
is a thin face over :func:`write_maps` and :func:`write_preview`.
"""

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InvalidInput, SpineradError
from .voxel import iter_feature_maps, map_file_name


class OutputError(SpineradError):
    """A map or preview file could not be written."""


def terminal_progress(stream=None):
    """A per-map tqdm factory when ``stream`` is a terminal, else None (no progress output)."""
    stream = stream or sys.stderr
    if not hasattr(stream, "isatty") or not stream.isatty():
        return None
    from tqdm import tqdm

    def factory(description, total):
        return tqdm(total=total, desc=description, unit="voxel", file=stream, leave=False)

    return factory


def _make_dir(folder):
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}") from None
    return folder


def write_maps(
    image,
    mask,
    params=None,
    label=None,
    out_dir=".",
    progress=None,
    case_index=1,
    dicom_dir=None,
    device="cpu",
):
    """Compute every enabled feature map and write each as ``Case-<i>_<feature>.nrrd`` in ``out_dir``.

    With ``dicom_dir``, each map is also written there as a DICOM Parametric Map (``<feature>.dcm``)
    referencing the image, which must then be a DICOM series folder. Maps are written as they are
    computed (one class at a time in memory). Returns ``{feature: path of the NRRD}``.
    """
    out_dir = _make_dir(out_dir)
    source_images = None
    if dicom_dir is not None:
        from .dicom.maps import read_source_series

        source_images = read_source_series(image)
        dicom_dir = _make_dir(dicom_dir)
    written = {}
    for number, (name, result) in enumerate(
        iter_feature_maps(image, mask, params, label, progress, device=device), start=901
    ):
        path = out_dir / map_file_name(name, case_index)
        try:
            sitk.WriteImage(result, str(path), True)
        except RuntimeError:
            raise OutputError(f"cannot write {path}") from None
        written[name] = path
        if source_images is not None:
            from .dicom.maps import parametric_map

            dataset = parametric_map(result, name, source_images, series_number=number)
            target = dicom_dir / f"{name}.dcm"
            try:
                dataset.save_as(target, enforce_file_format=True)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    return written


def _on_grid(source, reference, interpolator):
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(reference)
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(0)
    return sitk.GetArrayFromImage(resampler.Execute(source))


def write_preview(image, mask, feature_map, feature_name, png, label=1):
    """A mid-lesion axial slice of ``image`` with ``feature_map`` as a colour overlay and a colour bar.

    The slice is the map-grid slice holding the most ROI voxels; the overlay covers the ROI only.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grey = _on_grid(sitk.Cast(image, sitk.sitkFloat64), feature_map, sitk.sitkLinear)
    roi = _on_grid(mask, feature_map, sitk.sitkNearestNeighbor) == label
    values = sitk.GetArrayFromImage(feature_map)
    if not roi.any():
        raise InvalidInput("the preview map does not overlap the ROI")
    z = int(np.argmax(roi.sum(axis=(1, 2))))
    overlay = np.ma.masked_where(~roi[z] | ~np.isfinite(values[z]), values[z])
    spacing = feature_map.GetSpacing()
    aspect = spacing[1] / spacing[0]
    figure, axes = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    axes.imshow(grey[z], cmap="gray", aspect=aspect, interpolation="nearest")
    shown = axes.imshow(overlay, cmap="inferno", alpha=0.75, aspect=aspect, interpolation="nearest")
    figure.colorbar(shown, ax=axes, label=feature_name)
    axes.set_title(f"{feature_name}\nslice {z} of the map grid ({int(roi[z].sum())} ROI voxels)", fontsize=9)
    axes.set_axis_off()
    figure.tight_layout()
    try:
        figure.savefig(png)
    except OSError as exc:
        raise OutputError(f"cannot write {png}: {exc.strerror}") from None
    finally:
        plt.close(figure)
    return Path(png)


__all__ = ["OutputError", "terminal_progress", "write_maps", "write_preview"]

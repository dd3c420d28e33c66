"""Extraction parameters in PyRadiomics' own parameter-file format, validated into typed objects.

A parameter file is YAML (or JSON) with up to three sections, exactly as PyRadiomics reads them::

    setting:        {binWidth: 25, label: 1, ...}
    imageType:      {Original: {}}
    featureClass:   {firstorder: [], glcm: [Contrast, ...], glrlm: }

PyRadiomics keeps settings in an untyped kwargs dict and silently ignores a misspelt key. Here an unknown
key, a wrong type or an out-of-range value is a :class:`~spinerad.errors.SettingsError` naming the key.
"""

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import yaml

from .errors import NotSupported, SettingsError

_WEIGHTING_NORMS = ("infinity", "euclidean", "manhattan", "no_weighting")
_INTERPOLATORS = (
    "sitkNearestNeighbor",
    "sitkLinear",
    "sitkBSpline",
    "sitkGaussian",
    "sitkLabelGaussian",
    "sitkHammingWindowedSinc",
    "sitkCosineWindowedSinc",
    "sitkWelchWindowedSinc",
    "sitkLanczosWindowedSinc",
    "sitkBlackmanWindowedSinc",
)

# PyRadiomics key -> (attribute, kind, constraint). kinds: int, float, bool, str, int_list, float_list, any.
_SETTING_SPEC = {
    "minimumROIDimensions": ("minimum_roi_dimensions", "int", (1, 3)),
    "minimumROISize": ("minimum_roi_size", "int", (">0", None)),
    "geometryTolerance": ("geometry_tolerance", "float", (">0", None)),
    "correctMask": ("correct_mask", "bool", None),
    "additionalInfo": ("additional_info", "bool", None),
    "label": ("label", "int", (">0", None)),
    "label_channel": ("label_channel", "int", (0, None)),
    "binWidth": ("bin_width", "float", (">0", None)),
    "binCount": ("bin_count", "int", (">0", None)),
    "normalize": ("normalize", "bool", None),
    "normalizeScale": ("normalize_scale", "float", (">0", None)),
    "removeOutliers": ("remove_outliers", "float", (">0", None)),
    "resampledPixelSpacing": ("resampled_pixel_spacing", "float_list", (0, None)),
    "interpolator": ("interpolator", "str", _INTERPOLATORS),
    "padDistance": ("pad_distance", "int", (0, None)),
    "distances": ("distances", "int_list", (">0", None)),
    "force2D": ("force2d", "bool", None),
    "force2Ddimension": ("force2d_dimension", "int", (0, 2)),
    "resegmentRange": ("resegment_range", "float_list", None),
    "resegmentMode": ("resegment_mode", "str", ("absolute", "relative", "sigma")),
    "resegmentShape": ("resegment_shape", "bool", None),
    "preCrop": ("pre_crop", "bool", None),
    "sigma": ("sigma", "float_list", (">0", None)),
    "start_level": ("start_level", "int", (0, None)),
    "level": ("level", "int", (">0", None)),
    "wavelet": ("wavelet", "str", None),
    "gradientUseSpacing": ("gradient_use_spacing", "bool", None),
    "lbp2DRadius": ("lbp2d_radius", "float", (">0", None)),
    "lbp2DSamples": ("lbp2d_samples", "int", (1, None)),
    "lbp2DMethod": ("lbp2d_method", "str", ("default", "ror", "uniform", "var")),
    "lbp3DLevels": ("lbp3d_levels", "int", (1, None)),
    "lbp3DIcosphereRadius": ("lbp3d_icosphere_radius", "float", (">0", None)),
    "lbp3DIcosphereSubdivision": ("lbp3d_icosphere_subdivision", "int", (0, None)),
    "voxelArrayShift": ("voxel_array_shift", "int", None),
    "symmetricalGLCM": ("symmetrical_glcm", "bool", None),
    "weightingNorm": ("weighting_norm", "str", _WEIGHTING_NORMS),
    "gldm_a": ("gldm_a", "int", (0, None)),
    "interpolatorMask": ("interpolator_mask", "str", _INTERPOLATORS),
}


class SettingSpec(NamedTuple):
    """One PyRadiomics setting: its :class:`Settings` attribute, its kind and its constraint."""

    attribute: str
    kind: str
    constraint: object


#: The settings schema, public and read-only: PyRadiomics key -> :class:`SettingSpec`, in file order.
SETTINGS_SCHEMA = MappingProxyType({key: SettingSpec(*spec) for key, spec in _SETTING_SPEC.items()})

IMAGE_TYPES = (
    "Original",
    "Wavelet",
    "LoG",
    "Square",
    "SquareRoot",
    "Logarithm",
    "Exponential",
    "Gradient",
    "LBP2D",
    "LBP3D",
)


@dataclass(frozen=True)
class Settings:
    """Typed PyRadiomics settings, PyRadiomics' defaults. Attribute names are the snake_case keys."""

    minimum_roi_dimensions: int = 2
    minimum_roi_size: int | None = None
    geometry_tolerance: float | None = None
    correct_mask: bool = False
    additional_info: bool = True
    label: int = 1
    label_channel: int = 0
    bin_width: float = 25
    bin_count: int | None = None
    normalize: bool = False
    normalize_scale: float = 1
    remove_outliers: float | None = None
    resampled_pixel_spacing: tuple | None = None
    interpolator: str = "sitkBSpline"
    pad_distance: int = 5
    distances: tuple = (1,)
    force2d: bool = False
    force2d_dimension: int = 0
    resegment_range: tuple | None = None
    resegment_mode: str = "absolute"
    resegment_shape: bool = False
    pre_crop: bool = False
    sigma: tuple = ()
    start_level: int = 0
    level: int = 1
    wavelet: str = "coif1"
    gradient_use_spacing: bool = True
    lbp2d_radius: float = 1.0
    # PyRadiomics' getLBP2DImage reads kwargs.get('lbp2DSamples', 8) (its documentation says 9).
    lbp2d_samples: int = 8
    lbp2d_method: str = "uniform"
    lbp3d_levels: int = 2
    lbp3d_icosphere_radius: float = 1.0
    lbp3d_icosphere_subdivision: int = 1
    voxel_array_shift: int = 0
    symmetrical_glcm: bool = True
    weighting_norm: str | None = None
    gldm_a: int = 0
    interpolator_mask: str | None = None

    def with_overrides(self, **changes):
        """A copy with some attributes changed (validated as if they came from a file)."""
        reverse = {attr: key for key, (attr, _, _) in _SETTING_SPEC.items()}
        raw = {reverse.get(k, k): v for k, v in changes.items()}
        return replace(self, **_parse_settings(raw, "override"))

    def to_pyradiomics(self):
        """The non-default settings as a PyRadiomics kwargs dict (for oracles and provenance)."""
        default = Settings()
        out = {}
        for key, (attr, _, _) in _SETTING_SPEC.items():
            value = getattr(self, attr)
            if value != getattr(default, attr):
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class ExtractionParams:
    """Everything that decides the feature values: settings, image types and enabled features.

    ``feature_classes`` maps a class name to a tuple of feature names, or to None for "all non-deprecated".
    """

    settings: Settings = field(default_factory=Settings)
    image_types: tuple = (("Original", ()),)
    feature_classes: tuple = field(default_factory=lambda: _parse_feature_classes(None))
    ibsi: "IbsiOptions" = field(default_factory=lambda: IbsiOptions())
    #: ``voxelSetting`` (feature maps, :mod:`spinerad.voxel`); per-ROI extraction ignores it, as PyRadiomics.
    voxel: "VoxelSettings" = field(default_factory=lambda: VoxelSettings())

    @property
    def enabled_classes(self):
        """Dict class -> tuple of names or None."""
        return dict(self.feature_classes)

    def settings_hash(self):
        """SHA-256 of the canonical parameters: models refuse features extracted with other parameters."""
        settings = asdict(self.settings)
        if settings["lbp2d_samples"] == 8 and "LBP2D" not in [name for name, _ in self.image_types]:
            # The default was 9 before LBP2D was computed; without LBP2D the value decides nothing, and
            # hashing it as before keeps the hashes of existing models' parameters.
            settings["lbp2d_samples"] = 9
        payload = {
            "settings": settings,
            "image_types": [[name, dict(custom)] for name, custom in self.image_types],
            "feature_classes": [[c, list(n) if n is not None else None] for c, n in self.feature_classes],
            "ibsi": asdict(self.ibsi),
        }
        if self.ibsi.aggregations == IbsiOptions.aggregations:
            del payload["ibsi"][
                "aggregations"
            ]  # the default (older than the setting): hashes stay as they were
        blob = json.dumps(payload, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()


def _suggest(key, choices):
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_number(key, value, kind, constraint):
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise SettingsError(
            f"setting '{key}' must be {'an integer' if kind == 'int' else 'a number'}, got {value!r}"
        )
    if constraint is None:
        return value
    low, high = constraint
    if low == ">0":
        if not value > 0:
            raise SettingsError(f"setting '{key}' must be > 0, got {value!r}")
    elif low is not None and value < low:
        raise SettingsError(f"setting '{key}' must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise SettingsError(f"setting '{key}' must be <= {high}, got {value!r}")
    return float(value) if kind == "float" and isinstance(value, float) else value


def _parse_value(key, value, kind, constraint):
    if value is None:
        return None
    if kind in ("int", "float"):
        return _check_number(key, value, kind, constraint)
    if kind == "bool":
        if not isinstance(value, bool):
            raise SettingsError(f"setting '{key}' must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise SettingsError(f"setting '{key}' must be a string, got {value!r}")
        if constraint is not None and value not in constraint:
            raise SettingsError(f"setting '{key}' must be one of {', '.join(constraint)}; got {value!r}")
        return value
    if kind == "str_list":  # strings from ``constraint``, each at most once
        if not isinstance(value, (list, tuple)) or not value:
            raise SettingsError(f"setting '{key}' must be a non-empty list, got {value!r}")
        for item in value:
            if item not in constraint:
                raise SettingsError(f"setting '{key}' takes values of {', '.join(constraint)}; got {item!r}")
        if len(set(value)) != len(value):
            raise SettingsError(f"setting '{key}' lists a value twice: {list(value)!r}")
        return tuple(value)
    if kind in ("int_list", "float_list"):
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"setting '{key}' must be a list, got {value!r}")
        item_kind = kind.split("_")[0]
        return tuple(_check_number(key, v, item_kind, constraint) for v in value)
    raise AssertionError(kind)


def _parse_settings(raw, section):
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(
            f"section '{section}' must be a mapping of setting: value, got {type(raw).__name__}"
        )
    parsed = {}
    for key, value in raw.items():
        if key not in _SETTING_SPEC:
            raise SettingsError(f"unknown setting '{key}' in '{section}'{_suggest(key, _SETTING_SPEC)}")
        attr, kind, constraint = _SETTING_SPEC[key]
        parsed[attr] = _parse_value(key, value, kind, constraint)
    if parsed.get("resegment_range") is not None and not 1 <= len(parsed["resegment_range"]) <= 2:
        raise SettingsError(
            f"setting 'resegmentRange' needs 1 or 2 values, got {len(parsed['resegment_range'])}"
        )
    if "distances" in parsed and not parsed["distances"]:
        raise SettingsError("setting 'distances' must list at least one distance")
    # None means "use the default" for settings whose default is not None (PyRadiomics: key absent).
    defaults = Settings()
    for attr, value in list(parsed.items()):
        if value is None and getattr(defaults, attr) is not None:
            del parsed[attr]
    return parsed


def _parse_feature_classes(raw, include_shape2d=False):
    from .features import FEATURE_CLASSES, KNOWN_CLASSES

    if raw is None or raw == {}:
        # PyRadiomics enables shape2D with the other classes when a parameter file or mapping has no
        # featureClass section, but not when the extractor is built without parameters (spinerad: params=None).
        return tuple((name, None) for name in FEATURE_CLASSES if include_shape2d or name != "shape2D")
    if not isinstance(raw, dict):
        raise SettingsError("section 'featureClass' must be a mapping of class: [feature names]")
    classes = []
    for name, features in raw.items():
        if name not in KNOWN_CLASSES:
            raise SettingsError(f"unknown feature class '{name}'{_suggest(name, KNOWN_CLASSES)}")
        if name not in FEATURE_CLASSES:
            raise NotSupported(
                f"feature class '{name}' is not computed by this version of spinerad "
                f"(available: {', '.join(FEATURE_CLASSES)})"
            )
        if features is None or features == []:
            classes.append((name, None))
            continue
        if isinstance(features, str):
            features = [features]
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise SettingsError(f"featureClass '{name}' must list feature names, got {features!r}")
        known = FEATURE_CLASSES[name].all_names
        for feature in features:
            if feature not in known:
                raise SettingsError(
                    f"unknown feature '{feature}' in class '{name}'{_suggest(feature, known)}"
                )
        classes.append((name, tuple(features)))
    return tuple(classes)


def _parse_image_types(raw):
    if raw is None or raw == {}:
        return (("Original", ()),)
    if not isinstance(raw, dict):
        raise SettingsError("section 'imageType' must be a mapping of image type: {settings}")
    image_types = []
    for name, custom in raw.items():
        if name not in IMAGE_TYPES:
            raise SettingsError(f"unknown image type '{name}'{_suggest(name, IMAGE_TYPES)}")
        from .imagetypes import IMAGE_TYPES as SUPPORTED

        if name not in SUPPORTED:
            raise NotSupported(
                f"image type '{name}' is not computed by this version of spinerad "
                f"(available: {', '.join(SUPPORTED)})"
            )
        custom_settings = _parse_settings(custom or {}, f"imageType.{name}")
        image_types.append((name, tuple(sorted(custom_settings.items()))))
    return tuple(image_types)


def parse_params(data):
    """Validate a PyRadiomics-format parameter mapping into :class:`ExtractionParams`."""
    include_shape2d = data is not None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(
            "a parameter file must be a mapping with 'setting', 'imageType' and 'featureClass'"
        )
    allowed = ("setting", "imageType", "featureClass", "voxelSetting", "ibsi")
    for key in data:
        if key not in allowed:
            raise SettingsError(
                f"unknown section '{key}'{_suggest(key, allowed)} (allowed: setting, imageType, featureClass)"
            )
    settings = Settings(**_parse_settings(data.get("setting"), "setting"))
    image_types = _parse_image_types(data.get("imageType"))
    return ExtractionParams(
        settings,
        image_types,
        _parse_feature_classes(data.get("featureClass"), include_shape2d),
        _parse_ibsi(data.get("ibsi")),
        _parse_voxel(data.get("voxelSetting")),
    )


@dataclass(frozen=True)
class IbsiOptions:
    """spinerad's ``ibsi:`` section: IBSI 1 preprocessing that PyRadiomics has no setting for (IBSI mode only).

    With ``resampledPixelSpacing`` in IBSI mode the grid is centre-aligned (IBSI 2.3), the mask is interpolated
    with the image's interpolator and kept where it is >= ``maskThreshold``, and the interpolated intensities
    are rounded to integers when ``roundIntensities`` (CT). ``outlierSigma`` removes ROI voxels beyond
    mean +- k standard deviations after ``resegmentRange``.
    """

    round_intensities: bool = False
    mask_threshold: float = 0.5
    outlier_sigma: float | None = None
    ivh_bin_width: float | None = None
    ivh_bin_count: int | None = None
    #: IBSI texture aggregations to compute (``aggregations``): slice-wise 2D, 2.5D (slices merged), 3D.
    aggregations: tuple = ("2D", "2_5D", "3D")


_IBSI_SPEC = {
    # The intensity-volume histogram's own discretisation (IBSI 3.5): a bin width (0 = integer intensities)
    # or a bin count; neither = the texture discretisation.
    "ivhBinWidth": ("ivh_bin_width", "float", (0, None)),
    "ivhBinCount": ("ivh_bin_count", "int", (">0", None)),
    "roundIntensities": ("round_intensities", "bool", None),
    "maskThreshold": ("mask_threshold", "float", (">0", 1)),
    # IBSI outlier filtering (mean +- k sd of the ROI), applied after resegmentRange: IBSI configuration E
    # uses both, which PyRadiomics' single resegmentMode cannot express.
    "outlierSigma": ("outlier_sigma", "float", (">0", None)),
    # The texture aggregations an IBSI configuration defines (2D and 2.5D for its 2D configurations, 3D for
    # the 3D ones): the others are not computed. Default: all.
    "aggregations": ("aggregations", "str_list", ("2D", "2_5D", "3D")),
}


def _parse_ibsi(raw):
    if raw is None:
        return IbsiOptions()
    if not isinstance(raw, dict):
        raise SettingsError("section 'ibsi' must be a mapping")
    parsed = {}
    for key, value in raw.items():
        if key not in _IBSI_SPEC:
            raise SettingsError(f"unknown setting '{key}' in 'ibsi'{_suggest(key, _IBSI_SPEC)}")
        attr, kind, constraint = _IBSI_SPEC[key]
        if value is not None:
            parsed[attr] = _parse_value(key, value, kind, constraint)
    return IbsiOptions(**parsed)


def load_params(source=None):
    """Read a parameter file (YAML or JSON path), a mapping, or None for PyRadiomics' defaults."""
    if source is None or isinstance(source, dict):
        return parse_params(source)
    path = Path(source)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SettingsError(f"parameter file not found: {path}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read parameter file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"parameter file {path} is not valid YAML{where}") from None
    return parse_params(data)


@dataclass(frozen=True)
class VoxelSettings:
    """PyRadiomics' ``voxelSetting`` section: the kernel of voxel-based extraction (feature maps).

    ``voxel_batch`` is accepted for compatibility; spinerad's maps do not depend on it (every voxel gets the
    value PyRadiomics gives it when computed alone, see :mod:`spinerad.voxel`).
    """

    kernel_radius: int = 1
    masked_kernel: bool = True
    init_value: float = 0.0
    voxel_batch: int = -1


_VOXEL_SPEC = {
    "kernelRadius": ("kernel_radius", "int", (">0", None)),
    "maskedKernel": ("masked_kernel", "bool", None),
    "initValue": ("init_value", "float", None),
    "voxelBatch": ("voxel_batch", "int", (">0", None)),
}


def _parse_voxel(raw):
    if raw is None:
        return VoxelSettings()
    if not isinstance(raw, dict):
        raise SettingsError("section 'voxelSetting' must be a mapping of setting: value")
    parsed = {}
    for key, value in raw.items():
        if key not in _VOXEL_SPEC:
            raise SettingsError(f"unknown setting '{key}' in 'voxelSetting'{_suggest(key, _VOXEL_SPEC)}")
        attr, kind, constraint = _VOXEL_SPEC[key]
        if value is not None:
            value = _parse_value(key, value, kind, constraint)
            parsed[attr] = float(value) if attr == "init_value" else value
    return VoxelSettings(**parsed)

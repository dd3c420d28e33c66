"""Feature name -> DICOM coded concept: IBSI codes where DICOM has them, CID 7464 modifiers, a private scheme.

DICOM CP-1764 added the IBSI coding scheme (designator ``IBSI``); pydicom ships its codes. This table maps
PyRadiomics' feature names onto them by *definition*, class by class (not copied from PyRadiomics' dcmqi lab
script, which mislabels GLSZM rows). PyRadiomics' GLDM with its defaults (alpha 0, distance 1) is IBSI's
NGLDM. Intensity statistics have no IBSI code in DICOM: they are an intensity quantity (MR signal intensity /
CT attenuation) with the statistic as a CID 7464 "Derivation" modifier (Mean, Median, ...). Everything else
(percentiles, energy, range, ..., GLCM MCC, 2-D diameters) gets a code of spinerad's private scheme
``99SPINERAD``. The image type (``original``, ``wavelet-LLH``, ``log-sigma-3-0-mm-3D``, ...) is the
measurement's "Measurement Method" modifier, also a private code.
"""

from dataclasses import dataclass

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from spinerad.kernels.shape import FEATURE_NAMES as SHAPE_NAMES

PRIVATE_SCHEME = "99SPINERAD"
PRIVATE_SCHEME_NAME = "spinerad radiomics and marker-model codes"

IBSI = {
    "shape": {
        "MeshVolume": "VolumeOfMesh",
        "VoxelVolume": "VolumeFromVoxelSummation",
        "SurfaceArea": "SurfaceAreaOfMesh",
        "SurfaceVolumeRatio": "SurfaceToVolumeRatio",
        "Sphericity": "Sphericity",
        "Maximum3DDiameter": "Maximum3DDiameterOfAMesh",
        "MajorAxisLength": "MajorAxisIn3DLength",
        "MinorAxisLength": "MinorAxisIn3DLength",
        "LeastAxisLength": "LeastAxisIn3DLength",
        "Elongation": "Elongation",
        "Flatness": "Flatness",
    },
    "firstorder": {"Entropy": "IntensityHistogramEntropy", "Uniformity": "IntensityHistogramUniformity"},
    "glcm": {
        "Autocorrelation": "AutocorrelationOfGLCM",
        "JointAverage": "JointAverageOfGLCM",
        "ClusterProminence": "ClusterProminenceOfGLCM",
        "ClusterShade": "ClusterShadeOfGLCM",
        "ClusterTendency": "ClusterTendencyOfGLCM",
        "Contrast": "ContrastOfGLCM",
        "Correlation": "CorrelationOfGLCM",
        "DifferenceAverage": "DifferenceAverageOfGLCM",
        "DifferenceEntropy": "DifferenceEntropyOfGLCM",
        "DifferenceVariance": "DifferenceVarianceOfGLCM",
        "JointEnergy": "AngularSecondMomentOfGLCM",
        "JointEntropy": "JointEntropyOfGLCM",
        "Imc1": "FirstMeasureOfInformationCorrelationOfGLCM",
        "Imc2": "SecondMeasureOfInformationCorrelationOfGLCM",
        "Idm": "InverseDifferenceMomentOfGLCM",
        "Idmn": "NormalizedInverseDifferenceMomentOfGLCM",
        "Id": "InverseDifferenceOfGLCM",
        "Idn": "NormalizedInverseDifferenceOfGLCM",
        "InverseVariance": "InverseVarianceOfGLCM",
        "MaximumProbability": "JointMaximumOfGLCM",
        "SumAverage": "SumAverageOfGLCM",
        "SumEntropy": "SumEntropyOfGLCM",
        "SumSquares": "JointVarianceOfGLCM",
    },
    "glrlm": {
        "ShortRunEmphasis": "ShortRunsEmphasis",
        "LongRunEmphasis": "LongRunsEmphasis",
        "GrayLevelNonUniformity": "GrayLevelNonuniformityInRuns",
        "GrayLevelNonUniformityNormalized": "NormalizedGrayLevelNonuniformityInRuns",
        "RunLengthNonUniformity": "RunLengthNonuniformity",
        "RunLengthNonUniformityNormalized": "NormalizedRunLengthNonuniformity",
        "RunPercentage": "RunPercentage",
        "GrayLevelVariance": "GrayLevelVarianceInRuns",
        "RunVariance": "RunLengthVariance",
        "RunEntropy": "RunEntropy",
        "LowGrayLevelRunEmphasis": "LowGrayLevelRunEmphasis",
        "HighGrayLevelRunEmphasis": "HighGrayLevelRunEmphasis",
        "ShortRunLowGrayLevelEmphasis": "ShortRunLowGrayLevelEmphasis",
        "ShortRunHighGrayLevelEmphasis": "ShortRunHighGrayLevelEmphasis",
        "LongRunLowGrayLevelEmphasis": "LongRunLowGrayLevelEmphasis",
        "LongRunHighGrayLevelEmphasis": "LongRunHighGrayLevelEmphasis",
    },
    "glszm": {
        "SmallAreaEmphasis": "SmallZoneEmphasis",
        "LargeAreaEmphasis": "LargeZoneEmphasis",
        "GrayLevelNonUniformity": "GrayLevelNonuniformityOfSizeZoneCounts",
        "GrayLevelNonUniformityNormalized": "NormalizedGrayLevelNonuniformityOfSizeZoneCounts",
        "SizeZoneNonUniformity": "ZoneSizeNonuniformity",
        "SizeZoneNonUniformityNormalized": "NormalizedZoneSizeNonuniformity",
        "ZonePercentage": "SizeZonePercentage",
        "GrayLevelVariance": "GrayLevelVarianceInSizeZones",
        "ZoneVariance": "ZoneSizeVariance",
        "ZoneEntropy": "ZoneSizeEntropy",
        "LowGrayLevelZoneEmphasis": "LowGrayLevelZoneEmphasis",
        "HighGrayLevelZoneEmphasis": "HighGrayLevelZoneEmphasis",
        "SmallAreaLowGrayLevelEmphasis": "SmallZoneLowGrayLevelEmphasis",
        "SmallAreaHighGrayLevelEmphasis": "SmallZoneHighGrayLevelEmphasis",
        "LargeAreaLowGrayLevelEmphasis": "LargeZoneLowGrayLevelEmphasis",
        "LargeAreaHighGrayLevelEmphasis": "LargeZoneHighGrayLevelEmphasis",
    },
    "gldm": {
        "SmallDependenceEmphasis": "LowDependenceEmphasis",
        "LargeDependenceEmphasis": "HighDependenceEmphasis",
        "GrayLevelNonUniformity": "GreyLevelNonUniformityOfNGLDM",
        "DependenceNonUniformity": "DependenceCountNonUniformity",
        "DependenceNonUniformityNormalized": "DependenceCountNonUniformityNormalized",
        "GrayLevelVariance": "GreyLevelVarianceOfNGLDM",
        "DependenceVariance": "DependenceCountVariance",
        "DependenceEntropy": "DependenceCountEntropy",
        "LowGrayLevelEmphasis": "LowGreyLevelCountEmphasis",
        "HighGrayLevelEmphasis": "HighGreyLevelCountEmphasis",
        "SmallDependenceLowGrayLevelEmphasis": "LowDependenceLowGreyLevelEmphasis",
        "SmallDependenceHighGrayLevelEmphasis": "LowDependenceHighGreyLevelEmphasis",
        "LargeDependenceLowGrayLevelEmphasis": "HighDependenceLowGreyLevelEmphasis",
        "LargeDependenceHighGrayLevelEmphasis": "HighDependenceHighGreyLevelEmphasis",
    },
    "ngtdm": {
        "Coarseness": "CoarsenessOfNGTDM",
        "Contrast": "ContrastOfNGTDM",
        "Busyness": "BusynessOfNGTDM",
        "Complexity": "ComplexityOfNGTDM",
        "Strength": "StrengthOfNGTDM",
    },
}

#: First-order statistics coded as an intensity quantity with a CID 7464 derivation modifier.
DERIVATIONS = {
    "Mean": codes.SCT.Mean,
    "Median": codes.SCT.Median,
    "Minimum": codes.SCT.Minimum,
    "Maximum": codes.SCT.Maximum,
    "Variance": codes.UMLS.Variance,
    "Skewness": codes.DCM.Skewness,
    "Kurtosis": codes.DCM.Kurtosis,
    "RootMeanSquared": codes.UMLS.RootMeanSquare,
}

CLASS_TITLES = {
    "shape": "Shape",
    "firstorder": "First order",
    "glcm": "GLCM",
    "glrlm": "GLRLM",
    "glszm": "GLSZM",
    "gldm": "GLDM",
    "ngtdm": "NGTDM",
}

#: The shape features that are lengths (diameters and axis lengths), in mm.
_LENGTHS = frozenset(name for name in SHAPE_NAMES if "Diameter" in name or name.endswith("AxisLength"))
_INTENSITY = {
    "Mean",
    "Median",
    "Minimum",
    "Maximum",
    "10Percentile",
    "90Percentile",
    "InterquartileRange",
    "Range",
    "MeanAbsoluteDeviation",
    "RobustMeanAbsoluteDeviation",
    "RootMeanSquared",
}


def ucum(value, meaning):
    """A UCUM unit."""
    return Code(value, "UCUM", meaning)


NO_UNITS = ucum("1", "no units")


def private(value, meaning):
    """A code of spinerad's private scheme (meanings are at most 64 characters, a DICOM LO)."""
    return Code(value, PRIVATE_SCHEME, meaning[:64])


@dataclass(frozen=True)
class FeatureCode:
    """How one feature is written in the SR."""

    feature: str
    name: Code
    unit: Code
    method: Code  # the image type, as "Measurement Method"
    derivation: Code = None  # CID 7464 modifier of intensity statistics

    @property
    def scheme(self):
        """IBSI, DCM (intensity + CID 7464 modifier) or the private scheme."""
        return self.name.scheme_designator


def image_type_code(prefix):
    """The private code of an image type ("original", "wavelet-LLH", ...)."""
    title = prefix.replace("-", " ")
    return private(prefix, f"Image type {title}")


def intensity_quantity(modality):
    """The quantity first-order statistics describe, by modality."""
    if modality == "CT":
        return (
            codes.DCM.AttenuationCoefficient
            if hasattr(codes.DCM, "AttenuationCoefficient")
            else Code("112031", "DCM", "Attenuation Coefficient")
        )
    if modality == "MR":
        return codes.DCM.MRSignalIntensity
    return private("intensity", "Image intensity")


def _units(cls, name, prefix, modality):
    if cls == "shape":
        if name in ("MeshVolume", "VoxelVolume"):
            return ucum("mm3", "cubic millimeter")
        if name == "SurfaceArea":
            return ucum("mm2", "square millimeter")
        if name == "SurfaceVolumeRatio":
            return ucum("/mm", "per millimeter")
        return ucum("mm", "millimeter") if name in _LENGTHS else NO_UNITS
    if cls != "firstorder":
        return NO_UNITS
    base, meaning = (
        ("[hnsf'U]", "Hounsfield unit")
        if modality == "CT" and prefix == "original"
        else ("[arb'U]", "arbitrary unit")
    )
    if name in _INTENSITY:
        return ucum(base, meaning)
    if name in ("Variance", "Energy"):
        return ucum(f"{base}2", f"{meaning} squared")
    if name == "TotalEnergy":
        return ucum(f"{base}2.mm3", f"{meaning} squared times cubic millimeter")
    return NO_UNITS


def feature_code(feature, modality="MR"):
    """The :class:`FeatureCode` of a PyRadiomics feature name (``original_glcm_Contrast``, ...)."""
    import pydicom.sr._concepts_dict as concepts

    parts = feature.rsplit("_", 2)
    if len(parts) != 3:
        return FeatureCode(feature, private(feature, feature), NO_UNITS, image_type_code("original"))
    prefix, cls, name = parts
    method = image_type_code(prefix)
    unit = _units(cls, name, prefix, modality)
    keyword = IBSI.get(cls, {}).get(name)
    if keyword is not None:
        ((value, (meaning, _)),) = concepts.concepts["IBSI"][keyword].items()
        return FeatureCode(feature, Code(value, "IBSI", meaning), unit, method)
    if cls == "firstorder" and name in DERIVATIONS:
        return FeatureCode(feature, intensity_quantity(modality), unit, method, DERIVATIONS[name])
    return FeatureCode(
        feature, private(f"{cls}.{name}", f"{CLASS_TITLES.get(cls, cls)} {name}"), unit, method
    )


def task_code(task, predicts):
    """The private code of a marker-model task (the qualitative evaluation's concept)."""
    return private(f"task.{task}", predicts)


def class_code(task, above, label):
    """The private code of a prediction's class at the model's threshold (above / below)."""
    side = "above" if above else "below"
    return private(f"{task}.{side}", f"{label} (probability {side} the model threshold)")

"""Acceptance: the IBSI 1 digital phantom reference values (consensus values, via mirp's CSV).

The phantom is computed without discretisation; PyRadiomics' fixed bin width 1 leaves its grey levels 1..6
unchanged (the lowest level present is 1). The check is mirp's: round the computed value to 3 significant
digits, then require |value - reference| <= tolerance (0 for every value used here).
"""

import csv
import math

import pytest

import spinerad
from tests.conftest import require

pytestmark = [pytest.mark.shared]

PARAMS = {"setting": {"binWidth": 1}}

#: IBSI GLCM tag (3D, features averaged over the 13 directions) -> PyRadiomics feature.
GLCM = {
    "cm_joint_max_3D_avg": "MaximumProbability",
    "cm_joint_avg_3D_avg": "JointAverage",
    "cm_joint_var_3D_avg": "SumSquares",
    "cm_joint_entr_3D_avg": "JointEntropy",
    "cm_diff_avg_3D_avg": "DifferenceAverage",
    "cm_diff_var_3D_avg": "DifferenceVariance",
    "cm_diff_entr_3D_avg": "DifferenceEntropy",
    "cm_sum_avg_3D_avg": "SumAverage",
    "cm_sum_var_3D_avg": "ClusterTendency",
    "cm_sum_entr_3D_avg": "SumEntropy",
    "cm_energy_3D_avg": "JointEnergy",
    "cm_contrast_3D_avg": "Contrast",
    "cm_dissimilarity_3D_avg": "DifferenceAverage",
    "cm_inv_diff_3D_avg": "Id",
    "cm_inv_diff_norm_3D_avg": "Idn",
    "cm_inv_diff_mom_3D_avg": "Idm",
    "cm_inv_diff_mom_norm_3D_avg": "Idmn",
    "cm_inv_var_3D_avg": "InverseVariance",
    "cm_corr_3D_avg": "Correlation",
    "cm_auto_corr_3D_avg": "Autocorrelation",
    "cm_clust_tend_3D_avg": "ClusterTendency",
    "cm_clust_shade_3D_avg": "ClusterShade",
    "cm_clust_prom_3D_avg": "ClusterProminence",
    "cm_info_corr1_3D_avg": "Imc1",
    "cm_info_corr2_3D_avg": "Imc2",
}

#: IBSI GLRLM tag (3D, averaged over the 13 directions) -> PyRadiomics feature.
GLRLM = {
    "rlm_sre_3D_avg": "ShortRunEmphasis",
    "rlm_lre_3D_avg": "LongRunEmphasis",
    "rlm_lgre_3D_avg": "LowGrayLevelRunEmphasis",
    "rlm_hgre_3D_avg": "HighGrayLevelRunEmphasis",
    "rlm_srlge_3D_avg": "ShortRunLowGrayLevelEmphasis",
    "rlm_srhge_3D_avg": "ShortRunHighGrayLevelEmphasis",
    "rlm_lrlge_3D_avg": "LongRunLowGrayLevelEmphasis",
    "rlm_lrhge_3D_avg": "LongRunHighGrayLevelEmphasis",
    "rlm_glnu_3D_avg": "GrayLevelNonUniformity",
    "rlm_glnu_norm_3D_avg": "GrayLevelNonUniformityNormalized",
    "rlm_rlnu_3D_avg": "RunLengthNonUniformity",
    "rlm_rlnu_norm_3D_avg": "RunLengthNonUniformityNormalized",
    "rlm_r_perc_3D_avg": "RunPercentage",
    "rlm_gl_var_3D_avg": "GrayLevelVariance",
    "rlm_rl_var_3D_avg": "RunVariance",
    "rlm_rl_entr_3D_avg": "RunEntropy",
}


def _feature(name):
    return lambda f: f[f"original_firstorder_{name}"]


#: IBSI intensity statistic -> (PyRadiomics expression, value from spinerad's PyRadiomics-named features).
STATISTICS = {
    "stat_mean": ("Mean", _feature("Mean")),
    # Both use the population variance (divide by N).
    "stat_var": ("Variance", _feature("Variance")),
    "stat_skew": ("Skewness", _feature("Skewness")),
    # PyRadiomics reports the plain fourth standardised moment; IBSI the excess kurtosis.
    "stat_kurt": ("Kurtosis-minus-3", lambda f: f["original_firstorder_Kurtosis"] - 3),
    "stat_median": ("Median", _feature("Median")),
    "stat_min": ("Minimum", _feature("Minimum")),
    "stat_p10": ("10Percentile", _feature("10Percentile")),
    "stat_p90": ("90Percentile", _feature("90Percentile")),
    "stat_max": ("Maximum", _feature("Maximum")),
    "stat_iqr": ("InterquartileRange", _feature("InterquartileRange")),
    "stat_range": ("Range", _feature("Range")),
    "stat_mad": ("MeanAbsoluteDeviation", _feature("MeanAbsoluteDeviation")),
    "stat_rmad": ("RobustMeanAbsoluteDeviation", _feature("RobustMeanAbsoluteDeviation")),
    # IBSI energy has no shift; PyRadiomics' default voxelArrayShift is 0.
    "stat_energy": ("Energy", _feature("Energy")),
    "stat_rms": ("RootMeanSquared", _feature("RootMeanSquared")),
    # IBSI coefficient of variation = population standard deviation / mean.
    "stat_cov": (
        "sqrtVariance-over-Mean",
        lambda f: math.sqrt(f["original_firstorder_Variance"]) / f["original_firstorder_Mean"],
    ),
}

#: Intensity statistics spinerad cannot express, and why (they differ by definition, not by a bug).
STATISTICS_NOT_EXPRESSIBLE = {
    "stat_medad": "median absolute deviation (mean distance to the median): PyRadiomics has no such feature",
    "stat_qcod": "quartile coefficient of dispersion needs P25 + P75; PyRadiomics only gives P75 - P25",
}

#: Intensity-histogram features: PyRadiomics' Entropy and Uniformity are defined on the discretised grey
#: levels, i.e. on IBSI's histogram (ih_), not on the raw intensities. The other ih_ statistics repeat the
#: stat_ ones on discretised levels, which PyRadiomics does not compute (its Mean etc. use raw intensities).
HISTOGRAM = {
    "ih_entropy": ("Entropy", _feature("Entropy")),
    "ih_uniformity": ("Uniformity", _feature("Uniformity")),
}


def _round_significant(value, digits=3):
    """Round to 3 significant digits, as mirp's comparison does."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


@pytest.fixture(scope="module")
def reference(ibsi_data):
    """``tag -> (reference value, tolerance)`` for the rows that have a consensus value."""
    path = require(ibsi_data / "reference_values" / "ibsi_1_dig_phantom.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return {
        row["tag"]: (float(row["reference value"]), float(row["tolerance"]))
        for row in rows
        if row["reference value"].strip()
    }


@pytest.fixture(scope="module")
def features(ibsi_data):
    """Extract the phantom's features with spinerad (binWidth 1)."""
    phantom = ibsi_data / "digital_phantom"
    return spinerad.extract(
        str(require(phantom / "image.nii.gz")), str(require(phantom / "mask.nii.gz")), params=PARAMS
    )


def _computed(tag, features):
    if tag in GLCM:
        return features[f"original_glcm_{GLCM[tag]}"]
    if tag in GLRLM:
        return features[f"original_glrlm_{GLRLM[tag]}"]
    return {**STATISTICS, **HISTOGRAM}[tag][1](features)


def _passes(tag, features, reference):
    expected, tolerance = reference[tag]
    value = _computed(tag, features)
    rounded = _round_significant(value)
    # Tolerance 0 means "equal after rounding"; the 1e-12 only absorbs the float parse of the CSV text.
    return abs(rounded - expected) <= tolerance + 1e-12 * abs(expected), value, rounded, expected


def _ids(mapping, family):
    return [f"{tag}-vs-{family}_{n if isinstance(n, str) else n[0]}" for tag, n in mapping.items()]


@pytest.mark.parametrize("tag", list(GLCM), ids=_ids(GLCM, "glcm"))
def test_glcm_matches_ibsi(tag, features, reference):
    """GLCM, 3D, averaged over the 13 directions."""
    ok, value, rounded, expected = _passes(tag, features, reference)
    assert ok, f"{tag}: spinerad {value!r} -> {rounded!r} (3 s.f.), IBSI {expected!r}"


@pytest.mark.parametrize("tag", list(GLRLM), ids=_ids(GLRLM, "glrlm"))
def test_glrlm_matches_ibsi(tag, features, reference):
    """GLRLM, 3D, averaged over the 13 directions."""
    ok, value, rounded, expected = _passes(tag, features, reference)
    assert ok, f"{tag}: spinerad {value!r} -> {rounded!r} (3 s.f.), IBSI {expected!r}"


@pytest.mark.parametrize(
    "tag", list(STATISTICS) + list(HISTOGRAM), ids=_ids({**STATISTICS, **HISTOGRAM}, "firstorder")
)
def test_intensity_statistic_matches_ibsi(tag, features, reference):
    """Intensity statistics (and histogram entropy/uniformity) of the raw phantom values."""
    ok, value, rounded, expected = _passes(tag, features, reference)
    assert ok, f"{tag}: spinerad {value!r} -> {rounded!r} (3 s.f.), IBSI {expected!r}"


@pytest.mark.parametrize(
    "family, mapping",
    [
        pytest.param("texture", {**GLCM, **GLRLM}, id="glcm+glrlm-3D_avg"),
        pytest.param("intensity", {**STATISTICS, **HISTOGRAM}, id="stat+ih"),
    ],
)
def test_every_mapped_ibsi_value_passes(family, mapping, features, reference):
    """One count per family, so a report shows how much of IBSI passes at a glance."""
    failing = [tag for tag in mapping if not _passes(tag, features, reference)[0]]
    passed = len(mapping) - len(failing)
    assert not failing, f"IBSI digital phantom, {family}: {passed}/{len(mapping)} passed; failing: {failing}"


def test_mapping_covers_the_reference_tags(reference):
    """Every GLCM/GLRLM 3D_avg and every stat_ reference value is either mapped or excluded with a reason."""
    texture = {t for t in reference if t.startswith(("cm_", "rlm_")) and t.endswith("_3D_avg")}
    mapped = set(GLCM) | set(GLRLM)
    assert texture == mapped, f"unmapped: {sorted(texture - mapped)}; not in CSV: {sorted(mapped - texture)}"
    statistics = {t for t in reference if t.startswith("stat_")}
    covered = set(STATISTICS) | set(STATISTICS_NOT_EXPRESSIBLE)
    assert statistics == covered, (
        f"unmapped: {sorted(statistics - covered)}; not in CSV: {sorted(covered - statistics)}"
    )
    assert set(HISTOGRAM) <= set(reference)

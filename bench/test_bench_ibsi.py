"""IBSI mode, every family (morphology included), spinerad vs MIRP 2.7 (optional peer).

spinerad: ``extract(..., ibsi=True)`` with the shipped CT-phantom parameter files, read once outside the
timing as MIRP's settings are built once (all families: stat, ih, ivh, cm, rlm, szm, dzm, ngt, ngl, morph,
loc and the diagnostics; the texture aggregations the configuration defines, ``ibsi: aggregations`` in the
files: 2D and 2.5D for A, 3D for C, as MIRP's settings below). Cases: the IBSI CT phantom with
configurations A (2D, no interpolation) and C (3D, 2 mm isotropic, linear), and PyRadiomics' lung2 with C.

MIRP (``mirp.extract_features``, every feature family) with the same configuration, the same files. It is
an optional peer group: skipped when ``mirp`` is not importable (it is never installed by the test line;
``pip install "mirp>=2.7,<2.8"`` in a scratch environment to measure). MIRP approximates Moran's I and
Geary's C by Monte Carlo above 1,000 voxels unless ``no_approximation``; spinerad computes them exactly.
MIRP is timed as it runs by default (``mirp``) and, on the phantom with configuration C, with
``no_approximation=True`` (``mirp-exact``, the computation spinerad does).

Groups ``ibsi-<config>[<case>]``; the summary prints MIRP / spinerad.
"""

import warnings
from pathlib import Path

import pytest

import spinerad
from spinerad.settings import load_params

pytestmark = [pytest.mark.shared]

PARAMS = Path(spinerad.__file__).parent / "params"
RUNS = [("ibsi_ct_phantom", "a"), ("ibsi_ct_phantom", "c"), ("lung2", "c")]

#: MIRP's settings for IBSI 1 configurations A and C (IBSI 1 reference manual, chapter 5).
_SPATIAL_2D = {
    "glcm_spatial_method": ["2d_average", "2d_slice_merge", "2.5d_direction_merge", "2.5d_volume_merge"],
    "glrlm_spatial_method": ["2d_average", "2d_slice_merge", "2.5d_direction_merge", "2.5d_volume_merge"],
    "glszm_spatial_method": ["2d", "2.5d"],
    "gldzm_spatial_method": ["2d", "2.5d"],
    "ngtdm_spatial_method": ["2d", "2.5d"],
    "ngldm_spatial_method": ["2d", "2.5d"],
}
_SPATIAL_3D = {
    "glcm_spatial_method": ["3d_average", "3d_volume_merge"],
    "glrlm_spatial_method": ["3d_average", "3d_volume_merge"],
    "glszm_spatial_method": "3d",
    "gldzm_spatial_method": "3d",
    "ngtdm_spatial_method": "3d",
    "ngldm_spatial_method": "3d",
}
MIRP_SETTINGS = {
    "a": {
        "by_slice": True,
        "resegmentation_intensity_range": [-500.0, 400.0],
        "base_discretisation_method": "fixed_bin_size",
        "base_discretisation_bin_width": 25.0,
        "ivh_discretisation_method": "none",
        **_SPATIAL_2D,
    },
    "c": {
        "by_slice": False,
        "new_spacing": 2.0,
        "spline_order": 1,
        "roi_spline_order": 1,
        "roi_interpolation_mask_inclusion_threshold": 0.5,
        "resegmentation_intensity_range": [-1000.0, 400.0],
        "base_discretisation_method": "fixed_bin_size",
        "base_discretisation_bin_width": 25.0,
        "ivh_discretisation_method": "fixed_bin_size",
        "ivh_discretisation_bin_width": 2.5,
        **_SPATIAL_3D,
    },
}


def _mirp():
    try:
        import mirp
    except ImportError:
        pytest.skip("MIRP (optional peer) is not installed")
    return mirp


def _run_mirp(mirp, image, mask, config, exact):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mirp.extract_features(
            image=str(image),
            mask=str(mask),
            image_modality="CT",
            base_feature_families="all",
            no_approximation=exact,
            **MIRP_SETTINGS[config],
        )
    return result[0]


#: (study, config, side): MIRP's exact Moran/Geary (minutes) only where its voxel count keeps it bearable.
CELLS = [(s, c, side) for s, c in RUNS for side in ("spinerad", "mirp")]
CELLS.append(("ibsi_ct_phantom", "c", "mirp-exact"))


@pytest.mark.parametrize("study, config, side", CELLS, ids=[f"{c}-{s}-{side}" for s, c, side in CELLS])
def test_ibsi_full(benchmark, case_files, load_case, study, config, side):
    """One whole IBSI-mode extraction (every family) of ``study`` with configuration ``config``."""
    benchmark.group = f"ibsi-{config}[{study}]"
    benchmark.extra_info["side"] = side
    if side == "spinerad":
        image, mask = load_case(study)
        # read once, as MIRP's settings are built once (MIRP_SETTINGS): the timing is the extraction's
        params = load_params(PARAMS / f"ibsi_ct_config_{config}.yaml")
        spinerad.extract(image, mask, params=params, ibsi=True)  # JIT warm-up, outside the timing
        result = benchmark.pedantic(
            lambda: spinerad.extract(image, mask, params=params, ibsi=True), rounds=15, warmup_rounds=1
        )
        aggregation = "2D_avg" if config in ("a", "b") else "3D_avg"  # the files' `ibsi: aggregations`
        assert {"morph_moran_i", "loc_peak_glob", f"cm_joint_max_{aggregation}"} <= set(result)
        return
    mirp = _mirp()
    image_path, mask_path = case_files(study)
    table = benchmark.pedantic(
        lambda: _run_mirp(mirp, image_path, mask_path, config, side == "mirp-exact"),
        rounds=1,
        warmup_rounds=0,
    )
    assert any(str(c).startswith("morph_moran_i") for c in table.columns)


@pytest.mark.parametrize("side", ["fft", "pairs"])
def test_moran_geary(benchmark, load_case, side):
    """Moran's I and Geary's C of the CT phantom's ROI (configuration A: 114,596 voxels), both exact ways."""
    import numpy as np
    import SimpleITK as sitk

    from spinerad import ibsi_morph

    image, mask = load_case("ibsi_ct_phantom")
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    roi = sitk.GetArrayFromImage(mask) > 0
    box = tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(roi))
    roi = roi[box] & (values[box] >= -500) & (values[box] <= 400)
    spacing = image.GetSpacing()[::-1]
    middle = tuple(slice(n // 2 - 3, n // 2 + 3) for n in roi.shape)
    ibsi_morph.spatial_autocorrelation(roi[middle], values[box][middle], spacing, method=side)  # JIT warm-up
    benchmark.group = "moran-geary[ibsi_ct_phantom]"
    benchmark.extra_info["side"] = side
    benchmark.extra_info["pairs"] = int(np.count_nonzero(roi)) * (int(np.count_nonzero(roi)) - 1) // 2
    result = benchmark.pedantic(
        lambda: ibsi_morph.spatial_autocorrelation(roi, values[box], spacing, method=side),
        rounds=1 if side == "pairs" else 3,
    )
    assert result[0] == pytest.approx(0.0322, abs=2e-4)  # IBSI reference, configuration A

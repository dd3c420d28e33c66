"""Benchmark fixtures: reference cases loaded once, the shared settings, and the end-of-session ratio summary.

Benchmarks are outside the default test paths (``testpaths = tests``). Run them with
``python -m pytest bench --benchmark-only`` (timed) or ``python -m pytest bench --benchmark-disable``
(smoke test: each benchmarked function runs once). See ``bench/README.md``.
"""

import logging
import os
import statistics
import warnings
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PEERS = SHARED / "data" / "peers"
IN_CI = os.environ.get("CI", "").lower() == "true"

#: name: (image, mask) below ``SHARED/data/peers``; every case uses label 1.
CASES = {
    "brain1": ("pyradiomics/images/brain1_image.nrrd", "pyradiomics/images/brain1_label.nrrd"),
    "lung2": ("pyradiomics/images/lung2_image.nrrd", "pyradiomics/images/lung2_label.nrrd"),
    "ibsi_ct_phantom": ("ibsi/ct_radiomics_phantom/image.nii.gz", "ibsi/ct_radiomics_phantom/mask.nii.gz"),
}

#: The one parameter set both extractors get: PyRadiomics defaults restricted to firstorder, glcm, glrlm.
PARAMS = {
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "glcm": None, "glrlm": None},
    "setting": {"binWidth": 25, "label": 1, "additionalInfo": False},
}

#: Feature values must agree this closely (relative) before a benchmark is allowed to time anything.
RTOL = 1e-6


def _missing(message):
    if IN_CI:
        pytest.fail(message + " (CI=true: benchmarks must not skip)")
    pytest.skip(message)


def case_paths(name):
    """Image and mask paths of a case; skip (fail under CI) when the shared data is absent."""
    image, mask = (PEERS / part for part in CASES[name])
    for path in (image, mask):
        if not path.exists():
            _missing(f"reference data not found: {path}")
    return image, mask


@pytest.fixture(scope="session")
def peers_dir():
    """``SHARED/data/peers`` (skip, or fail under CI, when absent)."""
    if not PEERS.exists():
        _missing(f"reference data not found: {PEERS}")
    return PEERS


@pytest.fixture(scope="session")
def case_files():
    """:func:`case_paths`: ``(image path, mask path)`` of a case, skipping when absent."""
    return case_paths


@pytest.fixture(scope="session")
def load_case():
    """Return a loader of ``(image, mask)`` SimpleITK images, read from disk once per session.

    File loading is excluded from every timing: the benchmarks receive images already in memory.
    """
    import SimpleITK as sitk

    loaded = {}

    def load(name):
        if name not in loaded:
            image, mask = case_paths(name)
            loaded[name] = (sitk.ReadImage(str(image)), sitk.ReadImage(str(mask)))
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def pyradiomics_extractor():
    """PyRadiomics 3.0.1 ``RadiomicsFeatureExtractor(additionalInfo=False)`` with :data:`PARAMS`."""
    try:
        import radiomics
        from radiomics import featureextractor
    except ImportError:
        _missing("PyRadiomics is not installed")
    radiomics.setVerbosity(logging.ERROR)
    with warnings.catch_warnings():
        # pykwalify (PyRadiomics' parameter validation) uses the deprecated SourceFileLoader.load_module().
        warnings.simplefilter("ignore", DeprecationWarning)
        extractor = featureextractor.RadiomicsFeatureExtractor(PARAMS, additionalInfo=False)
    assert set(extractor.enabledFeatures) == {"firstorder", "glcm", "glrlm"}
    return extractor


def pytest_generate_tests(metafunc):
    """Parametrize ``case`` over every reference case, so test modules need not import this file."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(CASES))


@pytest.fixture(scope="session")
def params():
    """:data:`PARAMS`, the settings both extractors get."""
    return PARAMS


def assert_same_features(ours, theirs, rtol=RTOL):
    """Fail unless both feature dicts have the same names and values within ``rtol`` (NaN equals NaN)."""
    theirs = {k: float(v) for k, v in theirs.items() if not k.startswith("diagnostics_")}
    assert set(ours) == set(theirs), f"feature names differ: {sorted(set(ours) ^ set(theirs))}"
    bad = {
        name: (ours[name], theirs[name])
        for name in ours
        # atol guards exact zeros that one side reaches and the other misses by a rounding error.
        if not np.isclose(ours[name], theirs[name], rtol=rtol, atol=1e-12, equal_nan=True)
    }
    assert not bad, f"{len(bad)} feature(s) differ beyond rel {rtol}: {bad}"


@pytest.fixture(scope="session")
def same_features():
    """:func:`assert_same_features`."""
    return assert_same_features


# --- end-of-session summary -------------------------------------------------------------------------------

#: Group prefix -> (numerator side, denominator sides (the fastest one counts), what the ratio means).
RATIOS = {
    "extract": ("pyradiomics", ("spinerad",), "PyRadiomics / spinerad (speed-up)"),
    "profile": ("pyradiomics", ("spinerad",), "PyRadiomics / spinerad (speed-up)"),
    "ibsi": ("mirp", ("spinerad",), "MIRP / spinerad (speed-up)"),
    "peers": ("nyxus", ("spinerad",), "Nyxus / spinerad"),
    "peers-full-default": ("fastrad", ("spinerad",), "fastrad / spinerad (target >= 10)"),
    "glcm-kernel": (
        "kernel",
        ("bound-serial", "bound-parallel"),
        "kernel / fastest scatter-add bound (slow-down, target <= 2)",
    ),
}


def _fmt_seconds(seconds):
    return f"{seconds * 1e3:9.2f} ms" if seconds < 10 else f"{seconds:9.2f} s "


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    """Print medians, ratios, voxel pairs per second and startup times of this run's benchmarks."""
    session = getattr(config, "_benchmarksession", None)
    benchmarks = [b for b in getattr(session, "benchmarks", []) if b]
    if not benchmarks:
        return
    groups = {}
    for bench in benchmarks:
        groups.setdefault(bench.group, {})[bench.extra_info.get("side", bench.name)] = bench
    tr = terminalreporter
    tr.section("spinerad benchmark summary (medians of this run)")
    for group in sorted(groups):
        members = groups[group]
        tr.write_line(f"[{group}]")
        for side, bench in sorted(members.items()):
            median = bench.stats.median
            line = f"  {side:<16} median {_fmt_seconds(median)}"
            pairs = bench.extra_info.get("pairs")
            if pairs:
                line += f"  {pairs / median / 1e9:6.3f} G pairs/s ({pairs:,} pairs)"
            tr.write_line(line)
            for key, values in sorted(bench.extra_info.items()):
                if key.endswith("_s") and isinstance(values, list) and values:
                    median = statistics.median(values)
                    tr.write_line(f"  {'':<16} {key} median {median:.3f} s over {len(values)}")
        for bench in members.values():
            one, two = (
                bench.extra_info.get("one_thread_extract_s"),
                bench.extra_info.get("two_threads_extract_s"),
            )
            if one and two:
                ratio = statistics.median(one) / statistics.median(two)
                tr.write_line(
                    f"  ratio 1 thread / 2 threads (in-process medians, target >= 1.7): {ratio:.2f}"
                )
        for prefix, (numerator, denominators, meaning) in RATIOS.items():
            present = [members[side].stats.median for side in denominators if side in members]
            if group.startswith(prefix) and numerator in members and present:
                ratio = members[numerator].stats.median / min(present)
                tr.write_line(f"  ratio {meaning}: {ratio:.2f}")

"""Shared fixtures: where the reference data lives, and the rule that CI never skips a reference test."""

import locale
import os
import shutil
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PYRADIOMICS_DATA = SHARED / "data" / "peers" / "pyradiomics"
IBSI_DATA = SHARED / "data" / "peers" / "ibsi"
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(message, pytrace=True, allow_module_level=False):
    """Skip for a missing reference (data, module, tool); under CI=true fail instead: CI never skips."""
    if IN_CI:
        pytest.fail(message + " (CI=true: must not skip)", pytrace=pytrace)
    pytest.skip(message, allow_module_level=allow_module_level)


def require_tool(name, package):
    """The path of a command-line tool; skip without it, fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} ({package}) is not installed")
    return path


def require(path):
    """Return ``path`` if it exists; skip the test when it does not, except under CI where that fails."""
    path = Path(path)
    if not path.exists():
        skip_or_fail(f"reference data not found: {path}")
    return path


def require_module(name):
    """Import and return module ``name``; skip the test without it, except under CI where that fails.

    (``pytest.importorskip`` would skip under CI too.)
    """
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        skip_or_fail(f"{name} is not installed ({exc})", pytrace=False, allow_module_level=True)


#: The oracle's exact version: expected values come from it, so another release is not "the oracle".
ORACLE_VERSION = "3.0.1"


def require_oracle():
    """Import PyRadiomics 3.0.1 (the live oracle); skip without it, fail under CI or on another version."""
    try:
        import radiomics  # noqa: F401
        from radiomics import featureextractor
    except ImportError:
        skip_or_fail("PyRadiomics (the test oracle) is not installed")
    version = str(getattr(radiomics, "__version__", "unknown")).removeprefix("v")
    if version != ORACLE_VERSION:
        pytest.fail(f"the test oracle must be PyRadiomics {ORACLE_VERSION}, found {version}")
    import logging

    radiomics.setVerbosity(logging.ERROR)
    return featureextractor


@pytest.fixture(scope="session")
def pyradiomics_data():
    """Folder of the 6 PyRadiomics cases, baselines and settings."""
    return require(PYRADIOMICS_DATA)


@pytest.fixture(scope="session")
def ibsi_data():
    """Folder of the IBSI phantoms and reference values."""
    return require(IBSI_DATA)


@pytest.fixture(scope="session")
def oracle():
    """PyRadiomics' featureextractor module."""
    return require_oracle()


CASES = {
    # name: (image, mask, label)
    "brain1": ("images/brain1_image.nrrd", "images/brain1_label.nrrd", 1),
    "brain2": ("images/brain2_image.nrrd", "images/brain2_label.nrrd", 1),
    "breast1": ("images/breast1_image.nrrd", "images/breast1_label.nrrd", 1),
    "lung1": ("images/lung1_image.nrrd", "images/lung1_label.nrrd", 1),
    "lung2": ("images/lung2_image.nrrd", "images/lung2_label.nrrd", 1),
    "prostate_phantom_subvolume": (
        "images/prostate_phantom_subvolume.nrrd",
        "images/prostate_phantom_subvolume-label.nrrd",
        8,
    ),
}


@pytest.fixture(autouse=True)
def _restore_locale():
    """Give every test the process' locale back.

    GDCM (SimpleITK's DICOM reader and writer) can leave the C library in the "C" locale; a later text read
    without an explicit encoding in the same test process would then decode ASCII.
    """
    saved = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, saved)

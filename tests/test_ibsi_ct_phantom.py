"""IBSI mode on the IBSI 1 CT radiomics phantom, configurations A-E (shipped parameter files)."""

import csv
import math
from pathlib import Path

import pytest

import spinerad

FAMILIES = ("stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl", "morph", "loc", "diag")


def family(tag):
    """IBSI family of a reference tag; the per-step diagnostics (img_, vox_, int_mask_, ...) are ``diag``."""
    if tag.endswith(("_img", "_roi")):
        return "diag"
    return tag.split("_")[0]


def passes(got, value, tol):
    """Mirp's rule (3 significant digits, then |x - ref| <= tol), or the exact value itself (3065 HU has 4)."""
    return abs(_round3(got) - value) <= tol + 1e-12 or abs(got - value) <= tol + 1e-12


PARAMS = Path(spinerad.__file__).parent / "params"


def _round3(x):
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + 2)


@pytest.fixture(scope="module")
def phantom(ibsi_data):
    folder = ibsi_data / "ct_radiomics_phantom"
    return spinerad.read_study(folder / "image.nii.gz", folder / "mask.nii.gz")


@pytest.mark.parametrize("config", list("abcde"))
def test_ct_phantom_configuration(ibsi_data, phantom, config):
    with open(ibsi_data / "reference_values" / f"ibsi_1_chest_config_{config}.csv") as handle:
        rows = list(csv.reader(handle, delimiter=";"))[1:]
    reference = {t: (float(v), float(tol)) for v, tol, t in rows if v != ""}
    assert {family(t) for t in reference} == set(FAMILIES)
    got = spinerad.extract(*phantom, params=PARAMS / f"ibsi_ct_config_{config}.yaml", ibsi=True)
    failures = [
        (tag, value, got.get(tag))
        for tag, (value, tol) in reference.items()
        if tag not in got or not passes(got[tag], value, tol)
    ]
    assert not failures, f"config {config.upper()}: {len(failures)}/{len(reference)} off, e.g. {failures[:6]}"

"""IBSI 1 CT radiomics phantom: pass rate of spinerad's IBSI mode per configuration A-E.

A report script, not a test: it prints, per configuration and feature family, how many IBSI reference
values are matched within their tolerance. Run: ``python bench/ibsi_ct_phantom.py [SHARED_DIR]``.
The CT phantom is CC BY-NC: it is read in place from ../shared and never packaged.
"""

import csv
import math
import os
import sys
from pathlib import Path

import spinerad

FAMILIES = ("stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl", "morph", "loc", "diag")


def family(tag):
    """IBSI family of a reference tag; the per-step diagnostics (img_, vox_, int_mask_, ...) are ``diag``."""
    return "diag" if tag.endswith(("_img", "_roi")) else tag.split("_")[0]


def passes(got, value, tol):
    """Mirp's rule (3 significant digits, then |x - ref| <= tol), or the exact value (3065 HU has 4 digits)."""
    return abs(round3(got) - value) <= tol + 1e-12 or abs(got - value) <= tol + 1e-12


# The configurations ship with spinerad as parameter files (spinerad/params/ibsi_ct_config_<x>.yaml).
PARAMS = Path(spinerad.__file__).parent / "params"
CONFIGS = {name: PARAMS / f"ibsi_ct_config_{name}.yaml" for name in "abcde"}


def round3(x):
    """Mirp's comparison: the computed value rounded to 3 significant digits, then |x - ref| <= tolerance."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + 2)


def reference(path):
    with open(path) as handle:
        rows = list(csv.reader(handle, delimiter=";"))[1:]
    return {tag: (float(v), float(t)) for v, t, tag in rows if v != "" and family(tag) in FAMILIES}


def main(shared):
    ibsi = Path(shared) / "data" / "peers" / "ibsi"
    phantom = ibsi / "ct_radiomics_phantom"
    image, mask = spinerad.read_study(phantom / "image.nii.gz", phantom / "mask.nii.gz")
    print("| config | " + " | ".join(FAMILIES) + " | all |")
    print("|---" * (len(FAMILIES) + 2) + "|")
    for name, params in CONFIGS.items():
        ref = reference(ibsi / "reference_values" / f"ibsi_1_chest_config_{name}.csv")
        got = spinerad.extract(image, mask, params=params, ibsi=True)
        cells, passed_all, total_all = [], 0, 0
        for name_of_family in FAMILIES:
            tags = [t for t in ref if family(t) == name_of_family]
            passed = sum(1 for t in tags if t in got and passes(got[t], *ref[t]))
            cells.append(f"{passed}/{len(tags)}" if tags else "-")
            passed_all += passed
            total_all += len(tags)
        print(
            f"| {name.upper()} | "
            + " | ".join(cells)
            + f" | {passed_all}/{total_all} ({100 * passed_all / total_all:.0f} %) |"
        )


if __name__ == "__main__":
    default = os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared")
    main(sys.argv[1] if len(sys.argv) > 1 else default)

"""Measure the applicability-domain check: false alarms on fresh in-domain studies, detection elsewhere.

``python -m spinerad.models.domain_check [--models DIR] [--cases N] [--seed S] [--shared DIR]`` prints one
JSON report:

* ``false_alarms``: per task, fresh simulated studies of that task's simulator (seeds the demo cohorts
  never used, the four centres in the training cohorts' proportions) flagged ``outside``, over the number
  of studies; these are in-domain by construction, so every flag is a false alarm.
* ``detection`` (with ``--shared``): the PyRadiomics CT cases (lung1, lung2) and the IBSI CT phantom
  through every model, once with no modality (only the feature distance can tell) and once with
  ``modality="CT"`` (as a DICOM header would say).

The README's "Marker models" section quotes its numbers.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

#: Seeds of the fresh studies: far from the demo cohorts' seed (0).
FRESH_SEED = 1001
#: The shared cases that are not MR, relative to the shared data folder.
OTHER_MODALITY_CASES = {
    "lung1 (CT)": ("peers/pyradiomics/images/lung1_image.nrrd", "peers/pyradiomics/images/lung1_label.nrrd"),
    "lung2 (CT)": ("peers/pyradiomics/images/lung2_image.nrrd", "peers/pyradiomics/images/lung2_label.nrrd"),
    "IBSI CT phantom": (
        "peers/ibsi/ct_radiomics_phantom/image.nii.gz",
        "peers/ibsi/ct_radiomics_phantom/mask.nii.gz",
    ),
}


def fresh_studies(task, cases, seed, workdir):
    """Write ``cases`` fresh simulated studies of ``task`` (training proportions of the centres)."""
    from .simulate import CENTRES, simulate_cohort

    weights = {name: (50 if c.external else 90) for name, c in CENTRES.items()}
    total = sum(weights.values())
    per_centre = {name: max(1, round(cases * w / total)) for name, w in weights.items()}
    return simulate_cohort(Path(workdir) / task, task, per_centre, seed=seed)


def false_alarms(registry, cases=560, seed=FRESH_SEED, workdir=None):
    """Per task: ``{"outside", "n", "rate", "by_centre"}`` on fresh in-domain simulated studies."""
    import csv

    from ..pipeline import extract, read_study

    params = registry.extraction_params
    out = {}
    with tempfile.TemporaryDirectory(prefix="spinerad-domain-") as tmp:
        for task in registry.tasks:
            csv_path = fresh_studies(task, cases, seed, workdir or tmp)
            with open(csv_path, newline="") as handle:
                rows = list(csv.DictReader(handle))
            by_centre = {}
            outside = 0
            for row in rows:
                image, mask = read_study(csv_path.parent / row["image"], csv_path.parent / row["mask"])
                features = extract(image, mask, params=params)
                (prediction,) = registry.predict(features, [task], modality="MR")
                flagged = prediction["applicability"] == "outside"
                outside += flagged
                centre = by_centre.setdefault(row["center"], [0, 0])
                centre[0] += flagged
                centre[1] += 1
            out[task] = {
                "outside": outside,
                "n": len(rows),
                "rate": outside / len(rows),
                "by_centre": {c: f"{k}/{n}" for c, (k, n) in sorted(by_centre.items())},
            }
    total_outside = sum(v["outside"] for v in out.values())
    total = sum(v["n"] for v in out.values())
    return {"per_task": out, "outside": total_outside, "n": total, "rate": total_outside / total}


def detection(registry, shared):
    """Per shared non-MR case and model: applicability without and with the modality (CT)."""
    from ..pipeline import extract, read_study

    shared = Path(shared)
    params = registry.extraction_params
    out = {}
    for name, (image_path, mask_path) in OTHER_MODALITY_CASES.items():
        image, mask = read_study(shared / image_path, shared / mask_path)
        features = extract(image, mask, params=params)
        row = {}
        for hint in (None, "CT"):
            predictions = registry.predict(features, modality=hint)
            row["modality CT" if hint else "no modality"] = {
                p["task"]: {
                    "applicability": p["applicability"],
                    "distance": round(p["domain_distance"], 2),
                    "threshold": round(p["domain_threshold"], 2),
                }
                for p in predictions
            }
        out[name] = row
    flagged = {
        key: sum(v["applicability"] == "outside" for case in out.values() for v in case[key].values())
        for key in ("no modality", "modality CT")
    }
    total = len(out) * len(registry.tasks)
    return {
        "cases": out,
        "detected_without_modality": f"{flagged['no modality']}/{total}",
        "detected_with_modality": f"{flagged['modality CT']}/{total}",
    }


def main(argv=None):
    """Command-line entry point; prints the JSON report."""
    parser = argparse.ArgumentParser(prog="python -m spinerad.models.domain_check", description=__doc__)
    parser.add_argument("--models", help="models folder (default: the shipped demo models)")
    parser.add_argument("--cases", type=int, default=560, help="fresh studies per task (default 560)")
    parser.add_argument("--seed", type=int, default=FRESH_SEED)
    parser.add_argument("--shared", help="the shared data folder (../shared/data) for the CT cases")
    args = parser.parse_args(argv)
    from .registry import load_models

    registry = load_models(args.models)
    report = {"false_alarms": false_alarms(registry, args.cases, args.seed)}
    if args.shared:
        report["detection"] = detection(registry, args.shared)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

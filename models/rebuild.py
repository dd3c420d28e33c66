"""Rebuild the shipped demo models: simulate a cohort per task, train with ``spinerad train``'s pipeline.

Run ``spinerad train-demo`` or ``python -m spinerad.models.rebuild`` (``--out DIR`` writes elsewhere than the
package's ``models/demo``). Every step is seeded, so a rebuild with the library versions a card records
(``library_versions``) reproduces the shipped models: same ONNX graphs, same model ids, same cards; other
versions of scikit-learn, skl2onnx, numpy, ... may change them. The models are trained on simulated cohorts
(:mod:`spinerad.models.simulate`); their cards and predictions say ``trained_on: simulated cohort — not for
clinical use``.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .simulate import EXTERNAL_CENTRES, simulate_cohort
from .tasks import SIMULATED, TASKS

#: The demo models' extraction parameters (PyRadiomics format): Original image, firstorder + GLCM + GLRLM.
DEMO_PARAMS = {
    "setting": {"binWidth": 25, "label": 1},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "glcm": None, "glrlm": None},
}
#: Seed of the demo cohorts and of the training pipeline.
DEMO_SEED = 0


def rebuild_demo(out=None, workdir=None, tasks=None, seed=DEMO_SEED, progress=None, log=None):
    """Simulate, train and export the demo model of every task into ``out`` (default: the package's demo).

    Parameters
    ----------
    out : str or pathlib.Path or None
        Models folder to (re)write: one sub-folder per task, plus ``extraction.yaml``.
    workdir : str or pathlib.Path or None
        Where the simulated images and the feature cache go (default: a temporary folder, removed after).
    tasks : sequence of str or None
        A subset of the tasks (default: all seven).
    progress : callable or None
        Progress factory for the extraction (:func:`spinerad.cohort_progress.terminal_progress`).
    log : callable or None
        Receives one line of text per finished task.

    Returns
    -------
    dict
        ``{task: validation summary}`` of the written models.
    """
    from .registry import DEMO_DIR
    from .train import TrainConfig, train_from_csv

    out = Path(out) if out is not None else DEMO_DIR
    tasks = list(tasks or TASKS)
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="spinerad-demo-")) if temporary else Path(workdir)
    summaries = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "extraction.yaml").write_text(
            "# Extraction parameters of the demo models (PyRadiomics format).\n"
            + yaml.safe_dump(DEMO_PARAMS, sort_keys=False)
        )
        for task in tasks:
            start = time.perf_counter()
            cohort_csv = simulate_cohort(workdir / "cohorts" / task, task, seed=seed)
            target = out / task
            if target.exists():
                shutil.rmtree(target)
            model = train_from_csv(
                cohort_csv,
                task,
                out_dir=target,
                params=DEMO_PARAMS,
                config=TrainConfig(seed=seed),
                external_centres=EXTERNAL_CENTRES,
                cache_dir=workdir / "feature-cache",
                trained_on=SIMULATED,
                progress=progress,
            )
            card = json.loads((target / "card.json").read_text(encoding="utf-8"))
            summaries[task] = card["validation_summary"]
            if log is not None:
                s = summaries[task]
                log(
                    f"{task}: internal AUC {s['internal_auc']:.3f} "
                    f"({s['internal_auc_ci95'][0]:.3f}–{s['internal_auc_ci95'][1]:.3f}), external AUC "
                    f"{s['external_auc']:.3f} "
                    f"({s['external_auc_ci95'][0]:.3f}–{s['external_auc_ci95'][1]:.3f}); "
                    f"{len(model.feature_names)} features; {time.perf_counter() - start:.1f} s"
                )
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    return summaries


def main(argv=None):
    """``python -m spinerad.models.rebuild [--out DIR] [--workdir DIR] [--tasks ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m spinerad.models.rebuild", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", help="models folder to write (default: the package's models/demo)")
    parser.add_argument("--workdir", help="keep the simulated cohorts and feature cache here")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), metavar="TASK")
    args = parser.parse_args(argv)
    from ..cohort_progress import terminal_progress

    summaries = rebuild_demo(
        args.out,
        args.workdir,
        args.tasks,
        progress=terminal_progress(),
        log=lambda line: print(f"spinerad: {line}", file=sys.stderr, flush=True),
    )
    print(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The marker-model commands of the CLI: ``train``, ``predict``, ``train-demo``, ``simulate-cohort``.

Thin faces over :mod:`spinerad.models.train`, :mod:`~spinerad.models.registry`,
:mod:`~spinerad.models.rebuild` and :mod:`~spinerad.models.simulate`; ``spinerad/cli.py`` adds the parsers
and maps errors to exit codes.
Importing this module is cheap (argparse only): scikit-learn and onnxruntime load when a command runs.
"""

import json
import sys
from pathlib import Path

from ..errors import InvalidInput
from .tasks import TASKS

TASK_IDS = tuple(TASKS)
CLASSIFIERS = ("logistic", "svm", "random_forest")


def add_parsers(commands, positive_int):
    """Add the four subcommands to the CLI's subparsers."""
    train = commands.add_parser(
        "train",
        help="train, validate (nested CV + held-out centres) and export a marker model to ONNX + card",
    )
    train.add_argument(
        "cohort", metavar="COHORT.csv", help="CSV: image, mask, label [, center] [, clinical columns]"
    )
    train.add_argument("--task", required=True, help=f"task id: {', '.join(TASK_IDS)}")
    train.add_argument(
        "--out", required=True, metavar="DIR", help="model folder to write (model.onnx, card.json, card.md)"
    )
    train.add_argument("--params", metavar="FILE.yaml", help="PyRadiomics-format extraction parameters")
    train.add_argument(
        "--classifier", choices=CLASSIFIERS, default="logistic", help="final classifier (default logistic)"
    )
    train.add_argument(
        "--external-centers",
        nargs="+",
        default=(),
        metavar="CENTER",
        help="centres held out for external validation (values of the center column)",
    )
    train.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="train without cases that cannot be extracted (recorded in the card) instead of stopping",
    )
    train.add_argument("--cache", metavar="DIR", help="per-case feature cache (default: OUT/feature-cache)")
    train.add_argument("--label-column", default="label", help="column of the binary label (default 'label')")
    train.add_argument("--center-column", default="center", help="column of the centre (default 'center')")
    train.add_argument(
        "--ignore-columns",
        nargs="+",
        default=(),
        metavar="COL",
        help="columns that are not clinical variables",
    )
    train.add_argument(
        "--outer-folds", type=positive_int, default=5, metavar="K", help="outer CV folds (default 5)"
    )
    train.add_argument(
        "--inner-folds", type=positive_int, default=3, metavar="K", help="inner CV folds (default 3)"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--model-version", default="1", help="version written into the model and card")
    train.add_argument("--trained-on", metavar="TEXT", help="what the card says the model was trained on")
    train.add_argument(
        "--modality",
        metavar="CODE",
        help="DICOM modality of the training images (MR, CT, ...): predictions on another modality are "
        "outside the model's applicability domain (a simulated cohort: MR)",
    )
    train.add_argument("--field-strength", type=float, metavar="T", help="MR field strength in tesla (card)")
    train.add_argument("--sequence", metavar="TEXT", help="MR sequence of the training images (card)")

    predict = commands.add_parser("predict", help="marker predictions for one image + mask, as JSON")
    predict.add_argument("image", help="image file (NRRD, NIfTI, MHA, ...) or DICOM series folder")
    predict.add_argument("mask", help="label map on the same grid as the image, or a DICOM SEG / RTSTRUCT")
    predict.add_argument(
        "--tasks",
        nargs="+",
        action="extend",
        metavar="TASK",
        help="tasks to predict: T1 T2 or T1,T2 (default: every loaded model)",
    )
    predict.add_argument(
        "--clinical",
        nargs="+",
        action="extend",
        metavar="NAME=VALUE",
        help="clinical values (nomograms): A=1 B=2 or A=1,B=2",
    )
    predict.add_argument("--models", metavar="DIR", help="models folder (default: the shipped demo models)")
    predict.add_argument(
        "--params",
        metavar="FILE.yaml",
        help="extraction parameters (refused unless equal to the models' own; default: the models' own)",
    )
    predict.add_argument("--label", type=positive_int, help="ROI label (overrides the 'label' setting)")
    from ..dicom.options import add_dicom_arguments

    add_dicom_arguments(predict, positive_int)
    predict.add_argument("--out", metavar="FILE", help="write the JSON here instead of standard output")
    predict.add_argument(
        "--modality",
        metavar="CODE",
        help="the image's DICOM modality (MR, CT, ...) when the file has no DICOM header; a DICOM "
        "series' own Modality wins",
    )
    predict.add_argument(
        "--show-label-outside-domain",
        action="store_true",
        help="give the label even for a study outside a model's applicability domain (withheld otherwise)",
    )

    demo = commands.add_parser(
        "train-demo", help="rebuild the demo models of all seven tasks (simulated cohorts)"
    )
    demo.add_argument(
        "--out", metavar="DIR", help="models folder to write (default: the package's models/demo)"
    )
    demo.add_argument("--workdir", metavar="DIR", help="keep the simulated cohorts and feature cache here")
    demo.add_argument("--tasks", nargs="+", choices=TASK_IDS, metavar="TASK", help="only these tasks")

    simulate = commands.add_parser(
        "simulate-cohort", help="write a simulated training cohort (images, masks, CSV)"
    )
    simulate.add_argument("outdir", help="folder to write cohort.csv and images/ into")
    simulate.add_argument("--task", required=True, help=f"task id: {', '.join(TASK_IDS)}")
    simulate.add_argument(
        "--cases", type=positive_int, metavar="N", help="cases per centre (default 90/90/50/50)"
    )
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument(
        "--latent-auc", type=float, metavar="AUC", help="Bayes-optimal AUC (0.5: noise labels)"
    )
    simulate.add_argument("--clinical", action="store_true", help="add age, sex and smoking columns")


def _write_json(data, out):
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out:
        try:
            Path(out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {out}: {exc.strerror}") from None
    else:
        print(text)


def _parse_clinical(items):
    values = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--clinical expects NAME=VALUE, got {item!r}")
        values[name.strip()] = value.strip()
    return values


def train(args):
    """``spinerad train``."""
    from ..cohort_progress import terminal_progress
    from .applicability import normalise_modality
    from .train import TrainConfig, train_from_csv

    config = TrainConfig(
        classifier=args.classifier, outer_folds=args.outer_folds, inner_folds=args.inner_folds, seed=args.seed
    )
    model = train_from_csv(
        args.cohort,
        args.task,
        out_dir=args.out,
        params=args.params,
        config=config,
        external_centres=args.external_centers,
        cache_dir=args.cache,
        skip_unreadable=args.skip_unreadable,
        label_column=args.label_column,
        center_column=args.center_column,
        ignore_columns=args.ignore_columns,
        trained_on=args.trained_on,
        model_version=args.model_version,
        progress=terminal_progress(sys.stderr),
        modality=normalise_modality(args.modality, "--modality"),
        field_strength=args.field_strength,
        sequence=args.sequence,
    )
    card = json.loads((Path(args.out) / "card.json").read_text(encoding="utf-8"))
    for skipped in model.table.skipped:
        print(
            f"spinerad: warning: skipped cohort CSV line {skipped['line']}: {skipped['error']}",
            file=sys.stderr,
        )
    _write_json(
        {
            "out": str(args.out),
            "task": card["task"],
            "model_id": card["model_id"],
            "trained_on": card["trained_on"],
            "features": [f["feature"] for f in card["features"]],
            "skipped_cases": card["training"]["skipped_cases"],
            "validation": card["validation_summary"],
        },
        None,
    )


def predict(args):
    """``spinerad predict``."""
    from ..pipeline import extract
    from ..settings import load_params
    from .applicability import normalise_modality, study_modality
    from .registry import load_models, study_warnings

    registry = load_models(args.models)
    params = registry.extraction_params if args.params is None else load_params(args.params)
    tasks = None
    if args.tasks:
        tasks = [t for item in args.tasks for t in item.split(",") if t]
        for task in tasks:  # refuse an unknown task before spending an extraction on it
            registry.model(task)
    clinical = _parse_clinical(args.clinical)
    hint = normalise_modality(args.modality, "--modality")
    registry.check_settings_hash(params.settings_hash())  # before spending an extraction
    from ..dicom.options import load_from_args

    label = args.label if args.label is not None else params.settings.label
    study = load_from_args(args, label)
    modality, modality_source, modality_warnings = study_modality(study.image, hint)
    features = extract(study.image, study.mask, params=params, label=args.label)
    predictions = registry.predict(
        features,
        tasks,
        clinical,
        settings_hash=params.settings_hash(),
        modality=modality,
        show_label_outside_domain=args.show_label_outside_domain,
        extra_warnings=modality_warnings,
    )
    warnings = study_warnings(predictions)
    # One line per warning on stderr as well: the simulated-cohort notice first, whoever reads the JSON.
    for line in warnings:
        print(f"spinerad: warning: {line}", file=sys.stderr)
    if args.dicom_out:
        from ..dicom.results import write_results

        cards = {p["task"]: registry.card(p["task"]) for p in predictions}
        write_results(study, features, args.dicom_out, predictions, label, cards)
    _write_json(
        {
            "warnings": warnings,
            "image": args.image,
            "mask": args.mask,
            "modality": modality,
            "modality_source": modality_source,
            "models": str(registry.folder),
            "settings_hash": params.settings_hash(),
            "predictions": predictions,
        },
        args.out,
    )


def train_demo(args):
    """``spinerad train-demo``."""
    from ..cohort_progress import terminal_progress
    from .rebuild import rebuild_demo

    summaries = rebuild_demo(
        args.out,
        args.workdir,
        args.tasks,
        progress=terminal_progress(sys.stderr),
        log=lambda line: print(f"spinerad: {line}", file=sys.stderr, flush=True),
    )
    _write_json(summaries, None)


def simulate_cohort(args):
    """``spinerad simulate-cohort``."""
    from .simulate import simulate_cohort as simulate
    from .tasks import get_task

    get_task(args.task)
    if args.latent_auc is not None and not 0.5 <= args.latent_auc < 1.0:
        raise InvalidInput(f"--latent-auc must be in [0.5, 1), got {args.latent_auc}")
    try:
        path = simulate(args.outdir, args.task, args.cases, args.seed, args.latent_auc, args.clinical)
    except OSError as exc:
        raise InvalidInput(f"cannot write the cohort into {args.outdir}: {exc.strerror}") from None
    print(json.dumps({"cohort": str(path)}))


HANDLERS = {"train": train, "predict": predict, "train-demo": train_demo, "simulate-cohort": simulate_cohort}


def run(args):
    """Run the model command ``args.command``."""
    HANDLERS[args.command](args)

"""The ``spinerad`` command line: a thin face over the extraction pipeline.

``spinerad extract IMAGE MASK`` prints one JSON object ``{feature name: value}`` (numeric features only, every
value a float; an undefined feature is ``NaN``, as Python's json module writes it). Errors are one line on
stderr and a non-zero exit code, never a traceback:

====  ==========================================================
code  meaning
====  ==========================================================
0     success
1     internal error (a bug: please report it)
2     invalid input: files, geometry, label, ROI, settings, usage
3     the requested device is unavailable
====  ==========================================================
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .errors import DeviceUnavailable, SpineradError

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_DEVICE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"spinerad: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser():
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(prog="spinerad", description="PyRadiomics-exact radiomics features, fast.")
    parser.add_argument("--version", action="version", version=f"spinerad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    extract = commands.add_parser("extract", help="features of one image + mask, as JSON")
    extract.add_argument("image", help="image file (NRRD, NIfTI, MHA, ...) or DICOM series folder")
    extract.add_argument("mask", help="label map on the same grid as the image")
    extract.add_argument("--params", metavar="FILE.yaml", help="PyRadiomics-format parameter file")
    extract.add_argument("--label", type=_positive_int, help="ROI label (overrides the 'label' setting)")
    extract.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the matrix kernels run")
    extract.add_argument("--out", metavar="FILE", help="write the JSON here instead of standard output")
    extract.add_argument(
        "--timings", action="store_true", help="per run, one JSON line of per-stage wall times (ms) on stderr"
    )
    extract.add_argument(
        "--ibsi", action="store_true", help="IBSI mode: IBSI 1 families and aggregations, named by IBSI tags"
    )
    extract.add_argument("--repeat", type=_positive_int, default=1, metavar="N", help="run N times (benchmarking)")

    sample = commands.add_parser("sample", help="write a small synthetic spine MRI study (image + mask)")
    sample.add_argument("outdir", help="folder to write image.nrrd and mask.nrrd into")
    sample.add_argument("--seed", type=int, default=0)

    cohort = commands.add_parser(
        "extract-cohort", help="features of every case of a cohort CSV on Dask, into one Parquet/CSV table"
    )
    cohort.add_argument("cohort", metavar="COHORT.csv", help="CSV: image, mask (label, id, ...) columns")
    cohort.add_argument("--out", required=True, metavar="FEATURES", help="output table: .parquet or .csv")
    cohort.add_argument("--params", metavar="FILE.yaml", help="PyRadiomics-format parameter file")
    cohort.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (default: a local cluster)")
    cohort.add_argument("--workers", type=_positive_int, metavar="N", help="local workers (default: cores)")
    return parser


def _extract(args):
    from .pipeline import StageTimer, extract, read_study
    from .settings import load_params

    params = load_params(args.params)
    image, mask = read_study(args.image, args.mask)
    features = None
    for _ in range(args.repeat):
        timer = StageTimer()
        features = extract(
            image, mask, params=params, label=args.label, device=args.device, timer=timer, ibsi=args.ibsi
        )
        if args.timings:
            print(json.dumps({k: round(v, 3) for k, v in timer.as_dict().items()}), file=sys.stderr)
    text = json.dumps(features, indent=2)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n")
        except OSError as exc:
            raise _OutputError(f"cannot write {args.out}: {exc.strerror}") from None
    else:
        print(text)


def _extract_cohort(args):
    from .cohort import extract_cohort, terminal_progress

    summary = extract_cohort(
        args.cohort, args.out, args.params, scheduler=args.scheduler, n_workers=args.workers,
        progress=terminal_progress(sys.stderr),
    )
    print(json.dumps(summary.as_dict()))


def _sample(args):
    from .sample import write_sample_study

    image_path, mask_path = write_sample_study(args.outdir, seed=args.seed)
    print(json.dumps({"image": str(image_path), "mask": str(mask_path)}))


class _OutputError(SpineradError):
    pass


def main(argv=None):
    """Entry point of the ``spinerad`` command; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="spinerad: warning: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    handlers = {"extract": _extract, "sample": _sample, "extract-cohort": _extract_cohort}
    try:
        handlers[args.command](args)
    except DeviceUnavailable as exc:
        print(f"spinerad: error: {exc}", file=sys.stderr)
        return EXIT_DEVICE
    except SpineradError as exc:
        print(f"spinerad: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("spinerad: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("SPINERAD_DEBUG"):
            raise
        print(
            f"spinerad: internal error: {type(exc).__name__}: {exc} (set SPINERAD_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

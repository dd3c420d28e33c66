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
4     ``spinerad analyze``: the server failed the study or call (a status other than INVALID_ARGUMENT)
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

    serve = commands.add_parser("serve", help="run the gRPC inference service (spinerad.v1) until SIGTERM")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: all interfaces)")
    serve.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free port; default 50051)")
    serve.add_argument("--metrics-port", type=int, default=9464, help="Prometheus /metrics port")
    serve.add_argument("--no-metrics", action="store_true", help="serve no /metrics endpoint")
    serve.add_argument("--models", metavar="DIR", help="marker-model folder (default: the shipped models)")
    serve.add_argument("--workers", type=_positive_int, metavar="N", help="worker threads (default: cores)")
    serve.add_argument(
        "--processes", type=_positive_int, metavar="N",
        help="server processes sharing the port (default: one per core, or 1 when --workers is given)",
    )
    serve.add_argument("--queue-size", type=int, metavar="N", help="studies queued beyond busy workers (2 x)")
    serve.add_argument("--max-message-mb", type=float, default=8, metavar="MB", help="largest gRPC message")
    serve.add_argument("--max-upload-mb", type=float, default=1024, metavar="MB", help="largest study upload")
    serve.add_argument("--max-voxels", type=_positive_int, default=512 * 512 * 1024, metavar="N")
    serve.add_argument("--grace", type=float, default=30.0, metavar="S", help="drain time after SIGTERM (s)")
    serve.add_argument("--tls-cert", metavar="PEM", help="server certificate chain (enables TLS)")
    serve.add_argument("--tls-key", metavar="PEM", help="server private key")
    serve.add_argument("--tls-client-ca", metavar="PEM", help="CA of client certificates (mutual TLS)")
    serve.add_argument("--token-file", metavar="FILE", help="bearer tokens, one a line")
    serve.add_argument("--scratch-dir", metavar="DIR", help="where uploads are decoded")
    serve.add_argument(
        "--upload-idle-timeout", type=float, default=15.0, metavar="S",
        help="cut an upload that sends nothing for S seconds (DEADLINE_EXCEEDED; default 15)",
    )
    serve.add_argument(
        "--upload-timeout", type=float, default=300.0, metavar="S",
        help="cut an upload not complete S seconds after its header (default 300)",
    )

    analyze = commands.add_parser("analyze", help="send a study to a server; print its events")
    analyze.add_argument("image", help="image file or DICOM series folder")
    analyze.add_argument("mask", help="label map on the same grid as the image")
    analyze.add_argument("--server", required=True, metavar="HOST:PORT", help="the spinerad server")
    analyze.add_argument("--tasks", action="append", metavar="T1,T2", help="prediction tasks (default: all)")
    analyze.add_argument("--profile", help="extraction profile (default: the models' own)")
    analyze.add_argument("--label", type=_positive_int, help="ROI label (default: the profile's)")
    analyze.add_argument("--clinical", action="append", metavar="NAME=VALUE", help="clinical value (repeat)")
    analyze.add_argument("--request-id", help="request id echoed in every event (default: random)")
    analyze.add_argument("--chunk-size", type=_positive_int, default=1 << 20, metavar="BYTES")
    analyze.add_argument("--timeout", type=float, metavar="S", help="deadline of the call in seconds")
    analyze.add_argument("--tls", action="store_true", help="use TLS with the system's CA roots")
    analyze.add_argument("--tls-ca", metavar="PEM", help="CA bundle that signed the server certificate (TLS)")
    analyze.add_argument("--tls-cert", metavar="PEM", help="client certificate (mutual TLS)")
    analyze.add_argument("--tls-key", metavar="PEM", help="client private key (mutual TLS)")
    analyze.add_argument("--token-file", metavar="FILE", help="bearer token file (default: $SPINERAD_TOKEN)")

    from .models.commands import add_parsers as add_model_parsers

    add_model_parsers(commands, _positive_int)
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


def _serve(args):
    from .service.commands import serve

    code = serve(args)
    if code:
        raise SystemExit(code)


def _analyze(args):
    from .service.commands import analyze

    analyze(args)


def _model_command(args):
    from .models.commands import run

    run(args)


class _OutputError(SpineradError):
    pass


def main(argv=None):
    """Entry point of the ``spinerad`` command; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="spinerad: warning: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    handlers = {
        "extract": _extract, "sample": _sample, "extract-cohort": _extract_cohort, "serve": _serve,
        "analyze": _analyze,
        **dict.fromkeys(("train", "predict", "train-demo", "simulate-cohort"), _model_command),
    }
    try:
        handlers[args.command](args)
    except DeviceUnavailable as exc:
        print(f"spinerad: error: {exc}", file=sys.stderr)
        return EXIT_DEVICE
    except SpineradError as exc:
        print(f"spinerad: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_INVALID)  # spinerad analyze: 4 unless INVALID_ARGUMENT
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

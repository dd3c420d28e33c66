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

Why this file is over 500 lines: :func:`build_parser` declares every subcommand's arguments in one place
(one ``--help`` style, one set of defaults to review); each command's work lives in its own module
(``pipeline``, ``cohort``, ``service.commands``, ``models.commands``, ``pacs.commands``) and this file only
dispatches to it.
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from .errors import DeviceUnavailable, NotSupported, SpineradError

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_DEVICE = 0, 1, 2, 3


def _no_default(value):
    return value is None or value is False or (isinstance(value, (tuple, list)) and not value)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every default: "(default: X)" unless the help already says it or there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or _no_default(action.default) or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class _VersionAction(argparse.Action):
    """``--version``: the version is read from the package metadata only when asked for (~15 ms of startup)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ._version import __version__

        parser._print_message(f"spinerad {__version__}\n", sys.stdout)
        parser.exit()


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        # an option without help text would hide its default from --help
        is_option = bool(args) and args[0].startswith("-")
        if not kwargs.get("help") and is_option and not _no_default(kwargs.get("default")):
            kwargs["help"] = "(default: %(default)s)"
        return super().add_argument(*args, **kwargs)

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
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    extract = commands.add_parser("extract", help="features of one image + mask, as JSON")
    extract.add_argument("image", help="image file (NRRD, NIfTI, MHA, ...) or DICOM series folder")
    extract.add_argument("mask", help="label map on the same grid as the image, or a DICOM SEG / RTSTRUCT")
    extract.add_argument(
        "--params",
        metavar="FILE.yaml",
        help="PyRadiomics-format parameter file, or the name of a shipped one (default: PyRadiomics' "
        "defaults: Original image, every class but shape2D, binWidth 25)",
    )
    extract.add_argument(
        "--label", type=_positive_int, help="ROI label (default: the 'label' setting, itself 1 by default)"
    )
    extract.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help=f"where the matrix kernels run (cuda: GLCM and GLRLM on the GPU; {_CPU_ONLY_TEXT} on the CPU)",
    )
    extract.add_argument("--out", metavar="FILE", help="write the JSON here (default: standard output)")
    extract.add_argument(
        "--timings", action="store_true", help="per run, one JSON line of per-stage wall times (ms) on stderr"
    )
    extract.add_argument(
        "--ibsi", action="store_true", help="IBSI mode: IBSI 1 families and aggregations, named by IBSI tags"
    )
    extract.add_argument(
        "--repeat", type=_positive_int, default=1, metavar="N", help="run N times (benchmarking)"
    )
    from .dicom.options import add_dicom_arguments

    add_dicom_arguments(extract, _positive_int)
    extract.add_argument(
        "--maps-out", metavar="DIR", help="also write voxel-wise feature maps (voxelSetting), one NRRD each"
    )
    extract.add_argument(
        "--maps-dicom", metavar="DIR", help="also write each map as a DICOM Parametric Map (IMAGE: a series)"
    )
    extract.add_argument("--preview", metavar="PNG", help="mid-lesion slice with a feature map overlaid")
    extract.add_argument("--preview-map", metavar="FEATURE", help="map shown by --preview (default: first)")

    sample = commands.add_parser("sample", help="write a small synthetic spine MRI study (image + mask)")
    sample.add_argument("outdir", help="folder to write image.nrrd and mask.nrrd into")
    sample.add_argument("--seed", type=int, default=0, help="random seed of the synthetic study")

    cohort = commands.add_parser(
        "extract-cohort", help="features of every case of a cohort CSV on Dask, into one Parquet/CSV table"
    )
    cohort.add_argument("cohort", metavar="COHORT.csv", help="CSV: image, mask (label, id, ...) columns")
    cohort.add_argument("--out", required=True, metavar="FEATURES", help="output table: .parquet or .csv")
    cohort.add_argument("--params", metavar="FILE.yaml", help="PyRadiomics-format parameter file")
    cohort.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (default: a local cluster)")
    cohort.add_argument("--workers", type=_positive_int, metavar="N", help="local workers (default: cores)")

    serve = commands.add_parser("serve", help="run the gRPC inference service (spinerad.v1) until SIGTERM")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: loopback only; 0.0.0.0 for every interface, with TLS and a token)",
    )
    serve.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free port; default 50051)")
    serve.add_argument("--metrics-port", type=int, default=9464, help="Prometheus /metrics port")
    serve.add_argument("--no-metrics", action="store_true", help="serve no /metrics endpoint")
    serve.add_argument("--models", metavar="DIR", help="marker-model folder (default: the shipped models)")
    serve.add_argument("--workers", type=_positive_int, metavar="N", help="worker threads (default: cores)")
    serve.add_argument(
        "--processes",
        type=_positive_int,
        metavar="N",
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
        "--dicomweb",
        action="append",
        metavar="NAME=URL",
        help="a DICOMweb endpoint studies may be referenced on",
    )
    serve.add_argument(
        "--dicomweb-credentials", metavar="FILE", help="JSON credentials per DICOMweb endpoint"
    )
    serve.add_argument(
        "--upload-idle-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="cut an upload that sends nothing for S seconds (DEADLINE_EXCEEDED; default 15)",
    )
    serve.add_argument(
        "--upload-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="cut an upload not complete S seconds after its header (default 300)",
    )

    analyze = commands.add_parser("analyze", help="send a study to a server; print its events")
    analyze.add_argument("image", nargs="?", help="image file or DICOM series folder (not with --dicomweb)")
    analyze.add_argument(
        "mask", nargs="?", help="label map on the same grid as the image (not with --dicomweb)"
    )
    analyze.add_argument("--server", required=True, metavar="HOST:PORT", help="the spinerad server")
    analyze.add_argument(
        "--tasks", nargs="+", action="extend", metavar="TASK", help="tasks: T1 T2 or T1,T2 (default: all)"
    )
    analyze.add_argument(
        "--profile", help="extraction profile: model or pyradiomics (default: model, the models' own)"
    )
    analyze.add_argument("--label", type=_positive_int, help="ROI label (default: the profile's)")
    analyze.add_argument(
        "--clinical",
        nargs="+",
        action="extend",
        metavar="NAME=VALUE",
        help="clinical values: A=1 B=2 or A=1,B=2",
    )
    analyze.add_argument("--request-id", help="request id echoed in every event (default: random)")
    analyze.add_argument("--chunk-size", type=_positive_int, default=1 << 20, metavar="BYTES")
    analyze.add_argument("--timeout", type=float, metavar="S", help="deadline of the call in seconds")
    analyze.add_argument("--tls", action="store_true", help="use TLS with the system's CA roots")
    analyze.add_argument("--tls-ca", metavar="PEM", help="CA bundle that signed the server certificate (TLS)")
    analyze.add_argument("--tls-cert", metavar="PEM", help="client certificate (mutual TLS)")
    analyze.add_argument("--tls-key", metavar="PEM", help="client private key (mutual TLS)")
    analyze.add_argument("--token-file", metavar="FILE", help="bearer token file (default: $SPINERAD_TOKEN)")
    analyze.add_argument("--modality", metavar="CODE", help="image modality (MR, CT, ...) when not DICOM")
    analyze.add_argument(
        "--show-label-outside-domain", action="store_true", help="labels even outside a model's domain"
    )
    from .dicom.options import add_dicom_arguments

    add_dicom_arguments(analyze, _positive_int)
    analyze.add_argument(
        "--dicomweb", metavar="NAME", help="instead of IMAGE MASK: the server's DICOMweb endpoint"
    )
    analyze.add_argument("--study", metavar="UID", help="StudyInstanceUID on the --dicomweb endpoint")
    analyze.add_argument("--seg", metavar="UID", help="SEG/RTSTRUCT SOPInstanceUID (default: the study's)")
    analyze.add_argument(
        "--store-results", action="store_true", help="STOW-RS the SR (+ SEG) to the endpoint"
    )

    warmup = commands.add_parser(
        "warmup", help="compile (or load) every kernel now, e.g. while building a production image"
    )
    warmup.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="cuda: also the CUDA twins (needs a GPU)"
    )

    models = commands.add_parser("models", help="the marker models: list them, or show one model card")
    models_commands = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    models_list = models_commands.add_parser("list", help="one JSON summary per model")
    models_show = models_commands.add_parser("show", help="the model card of TASK, as JSON")
    models_show.add_argument("task", metavar="TASK", help="task id, e.g. egfr_mutation")
    for sub in (models_list, models_show):
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--models", metavar="DIR", help="models folder (default: the shipped demo models)")
        where.add_argument(
            "--server", metavar="HOST:PORT", help="ask a running server instead (ListModels/GetModelCard)"
        )
        sub.add_argument("--timeout", type=float, metavar="S", help="deadline of the call (--server)")
        sub.add_argument("--tls", action="store_true", help="use TLS with the system's CA roots (--server)")
        sub.add_argument("--tls-ca", metavar="PEM", help="CA bundle that signed the server certificate")
        sub.add_argument("--tls-cert", metavar="PEM", help="client certificate (mutual TLS)")
        sub.add_argument("--tls-key", metavar="PEM", help="client private key (mutual TLS)")
        sub.add_argument("--token-file", metavar="FILE", help="bearer token file (default: $SPINERAD_TOKEN)")

    from .models.commands import add_parsers as add_model_parsers

    add_model_parsers(commands, _positive_int)
    extract.epilog = _profiles_epilog()

    from .pacs.commands import add_parsers as add_pacs_parsers

    add_pacs_parsers(commands, _positive_int)
    return parser


#: families without a CUDA twin yet (spinerad/kernels/__init__.py): on the CPU even with --device cuda
_CPU_ONLY_TEXT = "shape, firstorder, GLSZM, GLDM and NGTDM"


def _profiles_epilog():
    from .profiles import PARAMS_DIR, shipped_profiles

    return f"shipped parameter files (--params NAME, in {PARAMS_DIR}): " + ", ".join(shipped_profiles())


def _split_list(items, pairs=False):
    """``A B``, ``A,B`` and repeated flags alike -> [A, B].

    ``pairs``: NAME=VALUE items, where a piece without '=' belongs to the value before it (``site=T1,T2``).
    """
    result = []
    for item in items or ():
        for piece in str(item).split(","):
            piece = piece.strip()
            if not piece:
                continue
            if pairs and "=" not in piece and result:
                result[-1] += "," + piece
            else:
                result.append(piece)
    return result


def _normalise_lists(args):
    """One interface: ``--tasks``/``--clinical`` take either spelling on every command that has them."""
    if isinstance(getattr(args, "tasks", None), list):
        args.tasks = _split_list(args.tasks)
    if isinstance(getattr(args, "clinical", None), (list, tuple)):
        args.clinical = _split_list(args.clinical, pairs=True)
    if isinstance(getattr(args, "params", None), str):
        from .profiles import resolve

        args.params = resolve(args.params)


def _extract(args):
    from .dicom.options import load_from_args
    from .jit import cache_loads_without_registries, without_cffi_typing
    from .pipeline import StageTimer, extract
    from .settings import load_params

    without_cffi_typing()  # this process runs spinerad's kernels only (startup: ~45 ms)
    cache_loads_without_registries()  # and loads them from the cache (startup: ~100 ms)

    params = load_params(args.params)
    if args.device == "cuda":
        from .pipeline import _check_device

        _check_device(args.device)  # no GPU: the clear error first, no note
        print(
            f"spinerad: note: --device cuda runs GLCM and GLRLM on the GPU; {_CPU_ONLY_TEXT} run on the CPU",
            file=sys.stderr,
        )
    if args.dicom_out and args.ibsi:
        raise NotSupported("--dicom-out writes PyRadiomics-named features; it is not available with --ibsi")
    label = args.label if args.label is not None else params.settings.label
    study = load_from_args(args, label)
    image, mask = study.image, study.mask
    features = None
    for _ in range(args.repeat):
        timer = StageTimer()
        start = time.perf_counter()
        features = extract(
            image, mask, params=params, label=args.label, device=args.device, timer=timer, ibsi=args.ibsi
        )
        wall = (time.perf_counter() - start) * 1e3
        if args.timings:
            # ``total`` sums the stages, which overlap in worker threads; ``wall`` is the extraction's elapsed
            # time (compare thread counts by ``wall``: ``total`` grows with the overlap)
            stages = {k: round(v, 3) for k, v in timer.as_dict().items()}
            print(json.dumps({**stages, "wall": round(wall, 3)}), file=sys.stderr)
    if args.dicom_out:
        from .dicom.results import write_results

        write_results(study, features, args.dicom_out, label=label)
    if args.maps_out or args.preview or args.maps_dicom:
        _feature_maps(args, image, mask, params)
    text = json.dumps(features, indent=2)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n")
        except OSError as exc:
            raise _OutputError(f"cannot write {args.out}: {exc.strerror}") from None
    else:
        print(text)


def _feature_maps(args, image, mask, params):
    import tempfile

    from .maps_output import terminal_progress, write_maps, write_preview

    label = args.label or params.settings.label
    with tempfile.TemporaryDirectory() as scratch:
        dicom_dir = args.maps_dicom
        if dicom_dir and not Path(args.image).is_dir():
            raise _OutputError("--maps-dicom needs IMAGE to be a DICOM series folder (the maps reference it)")
        source = args.image if dicom_dir else image
        out_dir = args.maps_out or scratch
        written = write_maps(
            source,
            mask,
            params,
            args.label,
            out_dir,
            terminal_progress(),
            dicom_dir=dicom_dir,
            device=args.device,
        )
        if args.preview:
            if not written:
                raise _OutputError("no feature map to preview (no voxel-wise feature class enabled)")
            name = args.preview_map or next(iter(written))
            if name not in written:
                raise _OutputError(f"--preview-map {name!r} is not one of the computed maps")
            import SimpleITK as sitk

            write_preview(image, mask, sitk.ReadImage(str(written[name])), name, args.preview, label)


def _extract_cohort(args):
    from .cohort import extract_cohort, terminal_progress

    summary = extract_cohort(
        args.cohort,
        args.out,
        args.params,
        scheduler=args.scheduler,
        n_workers=args.workers,
        progress=terminal_progress(sys.stderr),
    )
    print(json.dumps(summary.as_dict()))


def _sample(args):
    from .sample import write_sample_study

    image_path, mask_path = write_sample_study(args.outdir, seed=args.seed)
    print(json.dumps({"image": str(image_path), "mask": str(mask_path)}))


def _exit_with(code):
    """End the process with a command's non-zero exit code (zero or None: return normally)."""
    if code:
        raise SystemExit(code)


def _serve(args):
    from .service.commands import serve

    _exit_with(serve(args))


def _analyze(args):
    from .service.commands import analyze

    analyze(args)


def _warmup(args):
    from .jit import cache_dir, warm_all
    from .pipeline import _check_device

    _check_device(args.device)
    if cache_dir() is None:
        print(
            "spinerad: warning: no writable cache folder; compiled kernels last only this process",
            file=sys.stderr,
        )
    print(json.dumps(warm_all(("cpu",) if args.device == "cpu" else ("cpu", args.device))))


def _models(args):
    from .models import catalogue

    if args.server:
        from .service.commands import client_from_args

        with client_from_args(args) as client:
            if args.models_command == "list":
                result = catalogue.list_remote(client, timeout=args.timeout)
            else:
                result = catalogue.show_remote(client, args.task, timeout=args.timeout)
    elif args.models_command == "list":
        result = catalogue.list_local(args.models)
    else:
        result = catalogue.show_local(args.task, args.models)
    print(json.dumps(result, indent=2))  # ASCII escapes: any terminal encoding


def _dicom_node(args):
    from .pacs.commands import dicom_node

    _exit_with(dicom_node(args))


def _model_command(args):
    from .models.commands import run

    run(args)


class _OutputError(SpineradError):
    pass


def main(argv=None):
    """Entry point of the ``spinerad`` command; returns the exit code."""
    if argv is None:  # the process's own command line (not a caller passing arguments)
        import atexit
        import gc

        # At exit, move every object out of the collector's reach: the interpreter's final collection then
        # skips the ~10^6 objects Numba and SimpleITK leave behind (0.3 s of a 1 s `spinerad extract`).
        # Finalisers and every other atexit handler still run.
        atexit.register(gc.freeze)
        # Set before NumPy is imported (the parser's DICOM options import it). The numeric work runs in Numba
        # kernels on Numba's own threads; NumPy's BLAS only sees small matrices here (shape's 3 x 3
        # covariance, MCC's Ng x Ng), where OpenBLAS's extra threads cost ~40 ms of CPU when NumPy loads them
        # and compete with Numba's for the cores. Dask's workers make the same choice. A value the user set
        # wins.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    logging.basicConfig(level=logging.WARNING, format="spinerad: warning: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    _normalise_lists(args)
    if args.command not in ("sample", "analyze", "models"):  # commands that may compile kernels
        from .jit import install_compile_note

        install_compile_note()  # one stderr line the first time kernels compile on this machine
    handlers = {
        "extract": _extract,
        "sample": _sample,
        "extract-cohort": _extract_cohort,
        "serve": _serve,
        "analyze": _analyze,
        "warmup": _warmup,
        "models": _models,
        "dicom-node": _dicom_node,
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

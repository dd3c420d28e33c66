"""The ``spinerad dicom-node`` command (its parser is added to spinerad/cli.py from here)."""

import logging
import sys

from ..errors import SettingsError

MiB = 1 << 20


def add_parsers(commands, positive_int):
    """Add ``dicom-node`` to the CLI's subcommands."""
    node = commands.add_parser(
        "dicom-node", help="run a DICOM node (Storage SCP) that analyses the studies PACS sends it"
    )
    node.add_argument("--ae-title", default="SPINERAD", help="this node's AE title (default SPINERAD)")
    node.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    node.add_argument("--port", type=int, default=11112, help="DICOM port (0: any free port; default 11112)")
    node.add_argument(
        "--store-to", required=True, metavar="AE@HOST:PORT", help="PACS node the SR and SEG are C-STOREd to"
    )
    node.add_argument(
        "--allow-ae",
        action="append",
        metavar="TITLE",
        help="calling AE title allowed to send (repeat; default: none given, so every AE is accepted)",
    )
    node.add_argument(
        "--quiet-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="a study is complete when its associations are closed and nothing arrived for S seconds (10)",
    )
    node.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        metavar="N",
        help="studies analysed at the same time (2)",
    )
    node.add_argument("--models", metavar="DIR", help="marker-model folder (default: the shipped models)")
    node.add_argument("--tasks", action="append", metavar="T1,T2", help="prediction tasks (default: all)")
    node.add_argument(
        "--spool", required=True, metavar="DIR", help="spool folder (received studies, results)"
    )
    node.add_argument(
        "--max-instances",
        type=positive_int,
        default=5000,
        metavar="N",
        help="most instances per study (5000)",
    )
    node.add_argument(
        "--max-study-mb", type=float, default=4096, metavar="MB", help="most bytes per study, in MiB (4096)"
    )
    node.add_argument(
        "--failure-sr",
        choices=("on", "off"),
        default="on",
        help="store an SR saying why a study could not be analysed (default on)",
    )
    node.add_argument(
        "--metrics-port", type=int, metavar="N", help="Prometheus /metrics port (default: none)"
    )
    node.add_argument("--metrics-host", default="127.0.0.1", help="address of the /metrics endpoint")
    node.add_argument(
        "--grpc-port",
        type=int,
        metavar="N",
        help="serve gRPC health (grpc.health.v1) for the node on this port, on --host (0: any free port; "
        "default: none)",
    )
    node.add_argument(
        "--store-backoff", type=float, default=1.0, metavar="S", help="first store retry after S s"
    )
    node.add_argument(
        "--store-backoff-max", type=float, default=300.0, metavar="S", help="longest retry wait"
    )


def dicom_node(args):
    """Run the node until SIGTERM/SIGINT."""
    from .node import NodeConfig, run
    from .store import StoreTarget, check_ae_title

    check_ae_title(args.ae_title, "--ae-title")
    for title in args.allow_ae or ():
        check_ae_title(title, "--allow-ae")
    if not 0 <= args.port < 65536:
        raise SettingsError(f"--port must be 0..65535, got {args.port}")
    if args.grpc_port is not None and not 0 <= args.grpc_port < 65536:
        raise SettingsError(f"--grpc-port must be 0..65535, got {args.grpc_port}")
    if args.quiet_seconds < 0 or args.max_study_mb <= 0 or args.store_backoff <= 0:
        raise SettingsError("--quiet-seconds must be >= 0; --max-study-mb and --store-backoff must be > 0")
    tasks = tuple(t.strip() for group in args.tasks or () for t in group.split(",") if t.strip())
    config = NodeConfig(
        store_to=StoreTarget.parse(args.store_to),
        spool=args.spool,
        ae_title=args.ae_title,
        host=args.host,
        port=args.port,
        allow_ae=tuple(args.allow_ae or ()),
        quiet_seconds=args.quiet_seconds,
        max_instances=args.max_instances,
        max_study_bytes=int(args.max_study_mb * MiB),
        failure_sr=args.failure_sr == "on",
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        store_backoff_s=args.store_backoff,
        store_backoff_max_s=max(args.store_backoff_max, args.store_backoff),
        tasks=tasks,
        workers=args.workers,
        grpc_port=args.grpc_port,
    )
    try:
        from pathlib import Path

        Path(args.spool).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"cannot create the spool folder {args.spool}: {exc.strerror}") from None
    logger = logging.getLogger("spinerad.pacs")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spinerad: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    from spinerad.models.registry import load_models

    registry = load_models(args.models)
    unknown = [t for t in tasks if t not in registry.tasks]
    if unknown:
        raise SettingsError(f"unknown task {unknown[0]!r}; known tasks: {', '.join(registry.tasks)}")
    _warm(registry)
    return run(config, registry)


def _warm(registry):
    """Compile the kernels once before the port opens (a study must not pay the JIT)."""
    from spinerad.pipeline import extract
    from spinerad.sample import make_sample_study

    image, mask = make_sample_study(seed=0)
    features = extract(image, mask, params=registry.extraction_params)
    registry.predict(features, settings_hash=registry.extraction_params.settings_hash())

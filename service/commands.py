"""The ``spinerad serve`` and ``spinerad analyze`` commands (their arguments live in spinerad/cli.py)."""

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from spinerad.errors import ImageReadError, InvalidInput, SettingsError

from .limits import Limits, MiB


def _read(path, what):
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {what} {path}: {exc.strerror}") from None


def _tokens(token_file):
    tokens = []
    if token_file:
        text = _read(token_file, "token file").decode()
        tokens = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not tokens:
            raise SettingsError(f"token file {token_file} holds no token")
    return tuple(tokens)


def _load_registry(models_dir):
    def load():
        try:
            from spinerad.models.registry import load_models
        except ImportError as exc:
            raise RuntimeError(f"the marker models are not installed ({exc})") from None
        return load_models(models_dir)

    return load


def serve(args, load_registry=None):
    """Run the gRPC server until SIGTERM/SIGINT; returns the process exit code.

    ``--processes N`` > 1 runs N server processes on the port (:mod:`spinerad.service.processes`).
    ``load_registry`` (a callable returning a model registry) replaces ``load_models(args.models)``;
    it needs one process.
    """
    _configure_logging()
    processes = _processes(args)
    if processes > 1:
        if load_registry is not None:
            raise SettingsError("a custom model registry needs --processes 1")
        _config(args)  # check the options once, here, rather than in every process
        from .processes import run_group

        return run_group(args, processes)
    return serve_process(args, load_registry)


def _processes(args):
    """``--processes``, or the default: one per core unless ``--workers`` asks for threads in one."""
    if getattr(args, "processes", None):
        return args.processes
    if args.workers:
        return 1
    from .processes import default_processes

    return default_processes()


def serve_process(args, load_registry=None, *, index=None, reuse_port=False, on_serving=None):
    """Run one server process (``index``: its place in a group) until SIGTERM/SIGINT, then exit the process."""
    from .server import serve

    config = _config(args, reuse_port=reuse_port, in_group=index is not None)
    logger = _configure_logging(index)
    if config.tokens and not args.tls_cert and not index:
        logger.warning("bearer tokens over a plaintext port can be read on the network; use --tls-cert")
    exposed = exposure_warning(args.host, bool(args.tls_cert), bool(config.tokens))
    if exposed and not index:
        logger.warning(exposed)
    code = asyncio.run(serve(config, load_registry or _load_registry(args.models), on_serving=on_serving))
    # Everything is drained and closed. Skip the interpreter's finalisation: Numba's TBB pool can deadlock
    # in its unload there (seen with the process pinned to one core: "stopped" logged, the process never
    # exiting), which would turn a clean SIGTERM into a SIGKILL at the end of the pod's grace period.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _config(args, reuse_port=False, in_group=False):
    from .server import ServiceConfig

    if bool(args.tls_cert) != bool(args.tls_key):
        raise SettingsError("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        raise SettingsError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    timeouts = (
        ("--upload-idle-timeout", args.upload_idle_timeout),
        ("--upload-timeout", args.upload_timeout),
    )
    for name, value in timeouts:
        if not value > 0:
            raise SettingsError(f"{name} must be a positive number of seconds, got {value}")
    for path in (args.tls_cert, args.tls_key, args.tls_client_ca):
        _read(path, "TLS file")
    tokens = _tokens(args.token_file)
    if os.environ.get("SPINERAD_TOKEN"):
        tokens += (os.environ["SPINERAD_TOKEN"],)
    limits = Limits(
        max_message_bytes=int(args.max_message_mb * MiB),
        max_upload_bytes=int(args.max_upload_mb * MiB),
        max_voxels=args.max_voxels,
        upload_idle_timeout_s=args.upload_idle_timeout,
        upload_timeout_s=args.upload_timeout,
    )
    defaults = ServiceConfig()
    return ServiceConfig(
        host=args.host,
        port=args.port,
        # in a group the supervisor serves the one /metrics page for all processes
        metrics_port=None if args.no_metrics or in_group else args.metrics_port,
        workers=args.workers or defaults.workers,
        queue_size=args.queue_size,
        limits=limits,
        grace_s=args.grace,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tokens=tokens,
        scratch_dir=args.scratch_dir,
        dicomweb=_endpoints(args),
        reuse_port=reuse_port,
    )


def _configure_logging(index=None):
    logger = logging.getLogger("spinerad.service")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        logger.addHandler(handler)
    prefix = "spinerad" if index is None else f"spinerad[{index}]"
    for handler in logger.handlers:
        handler.setFormatter(logging.Formatter(prefix + ": %(message)s"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def is_loopback(host):
    """Whether binding ``host`` keeps the server on this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warning(host, tls, token):
    """What ``spinerad serve`` warns when it listens beyond loopback without TLS or a token (else None)."""
    if is_loopback(host) or (tls and token):
        return None
    missing = " or ".join(what for what, have in (("TLS", tls), ("a token", token)) if not have)
    return (
        f"listening on {host}, beyond loopback, without {missing}: anyone who reaches this port can send "
        "studies and read predictions (give --tls-cert/--tls-key and --token-file, or --host 127.0.0.1)"
    )


def client_from_args(args):
    """A :class:`~spinerad.service.client.Client` from the CLI's ``--server``/TLS/token options."""
    from .client import Client

    token = _tokens(args.token_file)[0] if args.token_file else os.environ.get("SPINERAD_TOKEN")
    return Client(
        args.server,
        tls=args.tls,
        root_certificates=_read(args.tls_ca, "CA file"),
        client_cert=_read(args.tls_cert, "client certificate"),
        client_key=_read(args.tls_key, "client key"),
        token=token,
    )


def _endpoints(args):
    from spinerad.pacs.dicomweb import Endpoints

    return Endpoints.parse(getattr(args, "dicomweb", None) or (), getattr(args, "dicomweb_credentials", None))


def _clinical(items):
    values = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SettingsError(f"--clinical expects NAME=VALUE, got {item!r}")
        if text.lower() in ("true", "false"):
            values[name] = text.lower() == "true"
        else:
            try:
                values[name] = int(text)  # whole numbers travel as integers (age=61 stays 61)
            except ValueError:
                try:
                    values[name] = float(text)
                except ValueError:
                    values[name] = text
    return values


def _volume(path, what):
    from .client import Volume

    if not Path(path).exists():
        raise ImageReadError(f"{what} not found: {path}")
    return Volume.from_path(path)


def _write_objects(folder, objects):
    """Write the result objects of a completed event (``--dicom-out``)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for item in objects:
            (folder / Path(item.name).name).write_bytes(item.data)
    except OSError as exc:
        raise InvalidInput(f"cannot write the result objects into {folder}: {exc.strerror}") from None


def analyze(args):
    """Upload one study, print its events as JSON lines; raise ServiceError if it failed."""
    from spinerad.models.notices import study_warnings

    from .client import ServiceError, Study, event_to_dict

    tasks = [t.strip() for group in args.tasks or () for t in group.split(",") if t.strip()]
    study_kwargs = {"request_id": args.request_id} if args.request_id else {}
    if args.dicomweb or args.study:
        from spinerad.pacs.dicomweb import Reference

        if args.image or args.mask:
            raise SettingsError("give IMAGE MASK or --dicomweb NAME --study UID, not both")
        if not (args.dicomweb and args.study):
            raise SettingsError("--dicomweb NAME and --study UID go together")
        study_kwargs["reference"] = Reference(args.dicomweb, args.study, args.series or "", args.seg or "")
        study_kwargs["store_results"] = args.store_results
        volumes = (None, None)
    else:
        if not (args.image and args.mask):
            raise SettingsError("give IMAGE MASK, or --dicomweb NAME --study UID")
        if args.seg or args.store_results:
            raise SettingsError("--seg and --store-results go with --dicomweb NAME --study UID")
        volumes = (_volume(args.image, "image"), _volume(args.mask, "mask"))
    study = Study(
        *volumes,
        tasks=tuple(tasks),
        profile=args.profile or "",
        clinical=_clinical(args.clinical),
        label=args.label or 0,
        modality=getattr(args, "modality", None) or "",
        show_label_outside_domain=bool(getattr(args, "show_label_outside_domain", False)),
        segment=args.segment or 0,
        roi=args.roi or "",
        series_uid=args.series or "",
        seg_threshold=args.seg_threshold,
        return_dicom=bool(args.dicom_out),
        **study_kwargs,
    )
    failure = None
    predictions = []
    with client_from_args(args) as client:
        for event in client.analyze([study], chunk_bytes=args.chunk_size, timeout=args.timeout):
            record = event_to_dict(event)
            print(json.dumps(record), flush=True)
            if record["event"] == "prediction":
                predictions.append(record)
            if event.WhichOneof("kind") == "completed" and args.dicom_out:
                _write_objects(args.dicom_out, event.completed.dicom_objects)
            if event.WhichOneof("kind") == "error":
                failure = ServiceError(event.error.code, event.error.message, event.request_id)
    # The predictions' warnings on stderr too, each distinct line once (the simulated-cohort notice first).
    for line in study_warnings(predictions):
        print(f"spinerad: warning: {line}", file=sys.stderr, flush=True)
    if failure is not None:
        raise failure

"""The ``spinerad serve`` and ``spinerad analyze`` commands (their arguments live in spinerad/cli.py)."""

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from spinerad.errors import ImageReadError, SettingsError

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

    ``load_registry`` (a callable returning a model registry) replaces ``load_models(args.models)``.
    """
    from .server import ServiceConfig, serve

    if bool(args.tls_cert) != bool(args.tls_key):
        raise SettingsError("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        raise SettingsError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    for name, value in (("--upload-idle-timeout", args.upload_idle_timeout), ("--upload-timeout", args.upload_timeout)):
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
    config = ServiceConfig(
        host=args.host,
        port=args.port,
        metrics_port=None if args.no_metrics else args.metrics_port,
        workers=args.workers or defaults.workers,
        queue_size=args.queue_size,
        limits=limits,
        grace_s=args.grace,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tokens=tokens,
        scratch_dir=args.scratch_dir,
    )
    logger = logging.getLogger("spinerad.service")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spinerad: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if tokens and not args.tls_cert:
        logger.warning("bearer tokens over a plaintext port can be read on the network; use --tls-cert")
    return asyncio.run(serve(config, load_registry or _load_registry(args.models)))


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
                values[name] = float(text)
            except ValueError:
                values[name] = text
    return values


def _volume(path, what):
    from .client import Volume

    if not Path(path).exists():
        raise ImageReadError(f"{what} not found: {path}")
    return Volume.from_path(path)


def analyze(args):
    """Upload one study, print its events as JSON lines; raise ServiceError if it failed."""
    from .client import Client, ServiceError, Study, event_to_dict

    tasks = [t.strip() for group in args.tasks or () for t in group.split(",") if t.strip()]
    study_kwargs = {"request_id": args.request_id} if args.request_id else {}
    study = Study(
        _volume(args.image, "image"),
        _volume(args.mask, "mask"),
        tasks=tuple(tasks),
        profile=args.profile or "",
        clinical=_clinical(args.clinical),
        label=args.label or 0,
        **study_kwargs,
    )
    token = _tokens(args.token_file)[0] if args.token_file else os.environ.get("SPINERAD_TOKEN")
    failure = None
    with Client(
        args.server,
        tls=args.tls,
        root_certificates=_read(args.tls_ca, "CA file"),
        client_cert=_read(args.tls_cert, "client certificate"),
        client_key=_read(args.tls_key, "client key"),
        token=token,
    ) as client:
        for event in client.analyze([study], chunk_bytes=args.chunk_size, timeout=args.timeout):
            print(json.dumps(event_to_dict(event)), flush=True)
            if event.WhichOneof("kind") == "error":
                failure = ServiceError(event.error.code, event.error.message, event.request_id)
    if failure is not None:
        raise failure

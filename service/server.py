"""The gRPC server's lifecycle: bind, NOT_SERVING, load models and warm kernels, SERVING, drain on SIGTERM.

:class:`SpineradServer` assembles the pieces (servicer, health, reflection, interceptors, TLS, metrics
endpoint) around an :class:`~spinerad.service.engine.Engine`; :func:`serve` runs one until SIGTERM/SIGINT and
then drains: health goes NOT_SERVING, new studies are refused (UNAVAILABLE), studies already accepted finish
within the grace period, and the process exits 0.
"""

import asyncio
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from spinerad.v1 import service_pb2, service_pb2_grpc

from .engine import Engine
from .interceptors import AuthInterceptor, StatusInterceptor
from .limits import DEFAULT_LIMITS, Limits
from .memory import tune_allocator
from .metrics import ServiceMetrics
from .pool import default_workers
from .scratch import ScratchRoot
from .servicers import InferenceServicer

log = logging.getLogger("spinerad.service")

#: GIL switch interval of a serving process (Python's default: 5 ms).
SWITCH_INTERVAL_S = 0.0005

#: Full name of the API service, as health checks and reflection name it.
SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``spinerad serve`` can set."""

    host: str = "127.0.0.1"  # loopback unless asked: the CLI warns when it listens beyond it unprotected
    port: int = 50051
    #: Port of the Prometheus /metrics HTTP endpoint; None: no endpoint.
    metrics_port: int = 9464
    metrics_host: str = None
    workers: int = field(default_factory=default_workers)
    #: Studies admitted beyond the busy workers (uploading or waiting); None: 2 x workers.
    queue_size: int = None
    limits: Limits = DEFAULT_LIMITS
    #: Seconds accepted studies get to finish after SIGTERM.
    grace_s: float = 30.0
    tls_cert: str = None
    tls_key: str = None
    #: CA bundle of client certificates: set it to require mutual TLS.
    tls_client_ca: str = None
    #: Accepted bearer tokens; empty: no token needed.
    tokens: tuple = ()
    #: Share the port with the other processes of a group (SO_REUSEPORT); such a process binds only once
    #: it is warm, so every connection the kernel gives it is answered SERVING.
    reuse_port: bool = False
    #: Where file and DICOM uploads are written for SimpleITK to read (None: the system temp folder); each
    #: process works in its own root inside (see :mod:`spinerad.service.scratch`).
    scratch_dir: str = None
    #: DICOMweb endpoints studies may be referenced on (spinerad.pacs.dicomweb.Endpoints; None: none).
    dicomweb: object = None


def _address(host, port):
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def configure_health(server):
    """Add the standard grpc.health.v1 servicer, NOT_SERVING until :meth:`SpineradServer.load` finishes."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


class SpineradServer:
    """One spinerad gRPC server: :meth:`start`, :meth:`load`, then :meth:`drain`."""

    def __init__(self, config=ServiceConfig(), metrics=None):
        self.config = config
        self.metrics = metrics or ServiceMetrics()
        queue_size = 2 * config.workers if config.queue_size is None else config.queue_size
        self.scratch = ScratchRoot(config.scratch_dir)
        self.engine = Engine(
            self.metrics, config.workers, queue_size, config.limits, str(self.scratch.path), config.dicomweb
        )
        self.port = None
        self.metrics_port = None
        self._server = None
        self._health = None
        self._metrics_http = None

    @property
    def tls(self):
        """Whether the port serves TLS."""
        return bool(self.config.tls_cert)

    async def start(self):
        """Bind and serve; health answers NOT_SERVING and studies get UNAVAILABLE until :meth:`load`."""
        config = self.config
        interceptors = []
        if config.tokens:
            interceptors.append(AuthInterceptor(config.tokens, self.metrics))
        interceptors.append(StatusInterceptor(self.metrics))
        options = [
            ("grpc.max_receive_message_length", config.limits.max_message_bytes),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        ]
        self._server = grpc.aio.server(interceptors=interceptors, options=options)
        service_pb2_grpc.add_InferenceServiceServicer_to_server(InferenceServicer(self.engine), self._server)
        self._health = configure_health(self._server)
        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        address = _address(config.host, config.port)
        if config.tls_cert:
            self.port = self._server.add_secure_port(address, self._credentials())
        else:
            self.port = self._server.add_insecure_port(address)
        await self._server.start()
        if config.metrics_port is not None:
            self._metrics_http = self.metrics.serve(config.metrics_port, config.metrics_host or config.host)
            self.metrics_port = self._metrics_http.server_port
        log.info(
            "listening on %s (TLS %s, auth %s), metrics on port %s, %d workers, queue %d",
            _address(config.host, self.port),
            "mutual" if config.tls_client_ca else ("on" if config.tls_cert else "off"),
            "bearer token" if config.tokens else "off",
            self.metrics_port if self.metrics_port is not None else "(none)",
            config.workers,
            self.engine.admission.capacity - config.workers,
        )

    def _credentials(self):
        config = self.config
        if not config.tls_key:
            raise ValueError("--tls-cert needs --tls-key")
        key, cert = Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes()
        client_ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    async def load(self, load_registry):
        """Load the model registry, warm kernels and models, then report SERVING."""
        started = time.perf_counter()
        registry = await asyncio.to_thread(load_registry)
        self.engine.load(registry)
        await asyncio.to_thread(self.engine.warm)
        if self.engine.draining:
            return
        if self._server is None:  # a process of a group binds once warm
            await self.start()
        self.engine.ready = True
        for name in ("", SERVICE_NAME):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "SERVING: %d models loaded and kernels warm in %.1f s (numba threading layer: %s)",
            len(registry.tasks),
            time.perf_counter() - started,
            _threading_layer(),
        )

    async def drain(self, grace=None):
        """Stop taking studies, let accepted ones finish within ``grace`` seconds, then stop everything.

        The port keeps answering while accepted studies finish: health says NOT_SERVING (load balancers
        move new work elsewhere) and a new study gets UNAVAILABLE at once. Then the gRPC server stops,
        giving open calls what is left of the grace period to deliver their last events.
        """
        grace = self.config.grace_s if grace is None else grace
        deadline = time.monotonic() + grace
        self.engine.draining = True
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        log.info("draining: new studies are refused; accepted studies get %.0f s to finish", grace)
        finished = await asyncio.to_thread(self.engine.admission.wait_idle, grace)
        if not finished:
            log.warning(
                "grace period over with %d studies unfinished; cancelling them", self.engine.admission.held
            )
        if self._server is not None:
            await self._server.stop(max(deadline - time.monotonic(), 0.0))
        await asyncio.to_thread(self.engine.shutdown)
        self.scratch.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        log.info("stopped")


def _threading_layer():
    """Numba's threading layer in use (TBB is safe under a threaded server; see kernels/_config.py)."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel ran yet
        return "not started"


async def serve(config, load_registry, stop=None, on_serving=None):
    """Run a server until SIGTERM/SIGINT (or ``stop`` is set), then drain; return the exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Workers hand the GIL back and forth with the event loop around every C call (zlib, SimpleITK, numba
    # entry/exit); the default 5 ms switch interval makes each hand-over wait up to 5 ms under load.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    tune_allocator()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = SpineradServer(config)
    if not config.reuse_port:
        await server.start()
    loading = asyncio.create_task(server.load(load_registry))
    if on_serving is not None:

        def serving(task):
            if not (task.cancelled() or task.exception() or server.engine.draining):
                on_serving()

        loading.add_done_callback(serving)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((loading, stopping), return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if loading.done() and loading.exception() is not None:
        log.error("could not load the models: %s", loading.exception())
        code = 1
    else:
        await stopping
    loading.cancel()
    await server.drain()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    return code

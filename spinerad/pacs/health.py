"""gRPC health of the DICOM node, served beside it (``spinerad dicom-node --grpc-port N``).

The standard ``grpc.health.v1.Health`` service (grpc's ``health_checking`` example), so the probes a
deployment already points at ``spinerad serve`` (``grpc_health_probe``, Kubernetes gRPC probes) work for the
node too. It answers for the whole server (``""``) and for :data:`SERVICE_NAME`:

- NOT_SERVING until the node's Storage SCP is listening and its processor runs;
- then SERVING while every check of :meth:`~spinerad.pacs.node.DicomNode.problems` passes (the SCP socket
  is open, the processor thread is alive, the spool folder is writable), re-checked every
  :data:`CHECK_SECONDS` (and at once on a Watch), NOT_SERVING otherwise;
- NOT_SERVING for good once the node is stopping (SIGTERM).

The DICOM side has its own liveness check: the node answers C-ECHO.
"""

import logging
import threading
from concurrent import futures

log = logging.getLogger("spinerad.pacs")

#: The node's name in health checks.
SERVICE_NAME = "spinerad.DicomNode"
#: Seconds between two checks of the node.
CHECK_SECONDS = 5.0


class NodeHealth:
    """A gRPC server holding only the health service of ``node``: :meth:`start`, then :meth:`stop`."""

    def __init__(self, node, host, port, interval=CHECK_SECONDS):
        self.node, self.host, self.requested_port, self.interval = node, host, port, interval
        self.port = None
        self._server = self._servicer = None
        self._stop = threading.Event()
        self._thread = None
        self._last = None

    def start(self):
        """Bind (NOT_SERVING) and start the checks."""
        import grpc
        from grpc_health.v1 import health, health_pb2_grpc

        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="spinerad-health")
        )
        self._servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, self._server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.port = self._server.add_insecure_port(f"{host}:{self.requested_port}")
        self._set(False)
        self._server.start()
        self.update()
        self._thread = threading.Thread(target=self._loop, name="spinerad-health-check", daemon=True)
        self._thread.start()
        return self

    def _set(self, serving):
        from grpc_health.v1 import health_pb2

        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            self._servicer.set(name, status)

    def update(self):
        """Check the node now and publish the status; returns the problems found (empty: SERVING)."""
        problems = self.node.problems()
        self._set(not problems)
        if problems != self._last and self._last is not None:
            log.warning("health: %s", "; ".join(problems) if problems else "SERVING again")
        self._last = problems
        return problems

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.update()

    def stop(self):
        """NOT_SERVING for good, then close the port."""
        self._stop.set()
        if self._servicer is not None:
            self._servicer.enter_graceful_shutdown()
        if self._server is not None:
            self._server.stop(grace=1).wait(5)

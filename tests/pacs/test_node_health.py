"""gRPC health served beside the DICOM node (``--grpc-port``), checked against a real node process."""

import re
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pynetdicom import AE

from spinerad.pacs.health import SERVICE_NAME

from .conftest import NODE_AET

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_follows_the_node(start_node, node_port):
    """SERVING for the server and the node once it listens (C-ECHO answered too); NOT_SERVING on SIGTERM."""
    node = start_node(extra=["--grpc-port", "0"])
    line = next(line for line in node.lines if "listening on" in line)
    port = int(re.search(r"gRPC health on port (\d+)", line).group(1))
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", node_port, ae_title=NODE_AET)
    assert assoc.is_established and assoc.send_c_echo().Status == 0
    assoc.release()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=60)
        assert next(watch).status == SERVING
        node.process.send_signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
    assert node.stop() == 0


def test_bad_grpc_port_is_one_line(tmp_path):
    """An impossible --grpc-port is refused with one line and exit code 2 (no traceback)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "spinerad", "dicom-node", "--store-to", "PACS@127.0.0.1:104",
         "--spool", str(tmp_path / "spool"), "--grpc-port", "70000"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--grpc-port must be 0..65535" in done.stderr and "Traceback" not in done.stderr

"""``spinerad serve --processes N``: one port (SO_REUSEPORT), one /metrics, SIGTERM drains every process."""

import os
import signal
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from spinerad.service.client import Client

from .conftest import WAIT, InThreadServer, sample_study
from .harness import ServerProcess


def _metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as response:
        return list(text_string_to_metric_families(response.read().decode()))


def _value(families, name, **labels):
    return sum(
        s.value
        for f in families
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_two_processes_share_the_port_and_one_metrics_page(tmp_path, monkeypatch):
    stale = tmp_path / "counter_4242.db"  # what a previous run of the group leaves
    stale.write_bytes(b"\0" * 64)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = ServerProcess(
        "--processes", "2", "--workers", "1", "--queue-size", "6", "--metrics-port", "0", module="spinerad"
    )
    try:
        assert "with 2 processes x 1 workers (1 Numba threads each)" in server.listening or os.cpu_count() > 2
        metrics_port = int(server.listening.split("metrics on port ")[1].split()[0])
        server.expect("SERVING: all 2 processes")
        assert not stale.exists()
        target = f"127.0.0.1:{server.port}"
        pids, errors = set(), []

        def run(k):
            try:
                with Client(target) as client:  # a connection of its own: the kernel picks the process
                    assert client.health() == "SERVING"
                    for i in range(2):
                        study = sample_study(f"p{k}-{i}", tasks=("ki67_high",))
                        result = client.analyze_study(study, timeout=WAIT)
                        assert len(result["predictions"]) == 1
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 2)
        assert not errors
        families = _metrics(metrics_port)
        assert _value(families, "spinerad_study_duration_seconds_count", rpc="Analyze", code="OK") == 12
        for family in families:  # the per-process files were summed: one series per label set
            if family.name == "spinerad_study_duration_seconds":
                pids = {s.labels.get("pid") for s in family.samples}
        assert pids == {None}
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(WAIT) == 0
        server.expect("stopped (2 processes)")
    finally:
        server.close()


def test_each_client_opens_its_own_connections():
    """Two clients of one process are two TCP connections (not gRPC's process-wide shared one).

    And ``connections=3`` opens three that calls take in turn: how a client reaches every process of a group.
    """
    import psutil

    server = InThreadServer().wait_ready()  # its own port: no other test's connections to count
    try:
        one, three = server.client(), server.client(connections=3)
        assert one.list_models(timeout=WAIT)
        for _ in range(3):  # each call takes the next connection
            assert three.list_models(timeout=WAIT)
        established = [
            c
            for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == server.server.port
        ]
        assert len(established) == 4
    finally:
        server.stop()

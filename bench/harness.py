"""What the service benchmarks share: a ``spinerad serve`` process, one timed Analyze call, the report lines.

Used by ``test_bench_service.py`` (load, overhead, scaling) and ``test_bench_pacs.py`` (reference mode).
"""

import time
import urllib.request

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.service.harness import ServerProcess

#: Seconds to wait for a server line, an RPC or the server's exit.
WAIT = 300


class ServeProcess(ServerProcess):
    """``spinerad serve --host 127.0.0.1 --port 0 ARGS`` in its own process (pinned to ``cpus`` if given).

    The suites' one server harness (``tests.service.harness.ServerProcess``) running the real command line,
    waiting for ``serving``, with the benchmarks' long ``WAIT``; ``close`` drains it with SIGTERM.
    """

    def __init__(self, *args, serving="SERVING", cpus=None):
        super().__init__(*args, module="spinerad", cpus=cpus, wait=WAIT)
        try:
            self.expect(serving)
        except BaseException:
            self.close()
            raise

    def histogram(self, name, **labels):
        """Cumulative bucket counts ``{upper bound: count}`` of one histogram series."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=WAIT
        ) as response:
            text = response.read().decode()
        buckets = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{name}_bucket" and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    buckets[float(sample.labels["le"])] = sample.value
        return buckets

    def close(self):
        """SIGTERM (drain), then the exit code; the pipes are closed either way."""
        try:
            return self.terminate()
        finally:
            super().close()


def timed_analyze(client, study):
    """One Analyze call to its last event: ``(client latency ms, server stage ms, upload ms or None)``.

    Upload: the time until the server said "decoded", less its decode time. An error event raises.
    """
    started = time.perf_counter()
    upload_ms = stage_ms = None
    for event in client.analyze([study], timeout=WAIT):
        kind = event.WhichOneof("kind")
        if kind == "error":
            raise RuntimeError(f"{event.error.code}: {event.error.message}")
        if kind == "stage_done" and event.stage_done.stage == "decoded":
            upload_ms = (time.perf_counter() - started) * 1e3 - event.stage_done.elapsed_ms
        if kind == "completed":
            stage_ms = dict(event.completed.stage_ms)
    return (time.perf_counter() - started) * 1e3, stage_ms, upload_ms


def percentile(values, q):
    """Return the q-th percentile (0..100) of ``values``."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class Report:
    """A pytest plugin printing collected lines in the terminal summary (visible without ``-s``)."""

    def __init__(self, title):
        self.title = title
        self.lines = []

    def pytest_terminal_summary(self, terminalreporter):
        """Print the lines (pytest hook)."""
        if self.lines:
            terminalreporter.section(self.title)
            for line in self.lines:
                terminalreporter.write_line(line)

    @classmethod
    def register(cls, request, title):
        """Register a report for this session; returns its ``add(line)``."""
        plugin = cls(title)
        request.config.pluginmanager.register(plugin, f"spinerad-report-{title}")
        return plugin.lines.append

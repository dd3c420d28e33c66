"""What the service benchmarks share: a ``spinerad serve`` process, one timed Analyze call, the report lines.

Used by ``test_bench_service.py`` (load, overhead, scaling) and ``test_bench_pacs.py`` (reference mode).
"""

import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

#: Seconds to wait for a server line, an RPC or the server's exit.
WAIT = 300


class ServeProcess:
    """``spinerad serve --host 127.0.0.1 --port 0 ARGS`` in its own process (pinned to ``cpus`` if given)."""

    def __init__(self, *args, serving="SERVING", cpus=None):
        pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
        self.process = subprocess.Popen(
            [*pin, sys.executable, "-m", "spinerad", "serve", "--host", "127.0.0.1", "--port", "0", *args],
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            listening = self._expect("listening on")
            self.target = listening.split("listening on ")[1].split()[0]
            found = re.search(r"metrics on port (\d+)", listening)
            self.metrics_port = int(found.group(1)) if found else None
            self._expect(serving)
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def _expect(self, text):
        while True:
            line = self.lines.get(timeout=WAIT)
            if line is None:
                raise RuntimeError(f"spinerad serve exited before printing {text!r}")
            if text in line:
                return line

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

    def cpu_seconds(self):
        """CPU time (user + system) of the server process and its children so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        pids, total = [self.process.pid], 0.0
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return total

    def close(self):
        """SIGTERM (drain), then wait for the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(WAIT)
        self.reader.join(WAIT)
        self.process.stderr.close()
        return code


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

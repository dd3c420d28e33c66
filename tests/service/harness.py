"""A spinerad server in a child process, for the tests and benchmarks that need a real process.

One harness for every suite that starts ``spinerad serve`` (or the gated test server) as a process: the
lifecycle, SIGTERM, ``--processes`` and replica tests, the soak (``bench/soak.py``) and the service
benchmarks (``bench/``). The in-process server of most tests is ``conftest.InThreadServer``.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Bounded waits (seconds) for anything a test waits on; never reached when the code works.
WAIT = 60


def eventually(predicate, timeout=WAIT):
    """Whether ``predicate()`` becomes true within ``timeout`` s (for state only a scrape can observe)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class ServerProcess:
    """A server in a child process (default: ``spinerad serve`` with the gated shipped models).

    Its stderr lines arrive on a queue; ``module`` ``spinerad`` runs the real command line instead.
    ``cpus`` pins it (and its children) to those cores with ``taskset``; ``wait`` bounds every wait.
    """

    def __init__(self, *args, module="tests.service.serve_gated", cpus=None, wait=WAIT):
        self.wait = wait
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", module] + (["serve"] if module == "spinerad" else [])
        pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
        self.process = subprocess.Popen(
            [*pin, *command, "--host", "127.0.0.1", "--port", "0", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            self.listening = self.expect("listening on")
            self.port = int(self.listening.split("listening on 127.0.0.1:")[1].split()[0])
        except BaseException:
            self.close()
            raise

    @property
    def target(self):
        """``host:port`` of the gRPC port."""
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_port(self):
        """Port of the /metrics endpoint (started with ``--metrics-port 0``)."""
        return int(self.listening.split("metrics on port ")[1].split(",")[0].split()[0])

    def _read(self):
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, text):
        """Wait for a stderr line containing ``text`` and return it."""
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=self.wait)
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} from the server in {self.wait} s; it printed {seen}"
                ) from None
            assert line is not None, f"server exited before printing {text!r}"
            if text in line:
                return line
            seen.append(line.strip())

    def wait_serving(self, processes=1):
        """Wait until the server (all ``processes`` of a group) reports SERVING; kill it if that fails."""
        try:
            self.expect("SERVING: all" if processes > 1 else "SERVING")
        except BaseException:
            self.close()
            raise
        return self

    def send(self, line):
        """Write one line to the server's standard input."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def pids(self):
        """The server's process and its children (the processes of a ``--processes`` group)."""
        pids, found = [self.process.pid], []
        while pids:
            pid = pids.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    def cpu_seconds(self):
        """CPU time (user + system) of the server's processes so far."""
        ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
            except (OSError, ValueError, IndexError):
                continue
        return total

    def terminate(self):
        """SIGTERM (the server drains), then its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(self.wait)

    def close(self):
        """Kill the process if it still runs; close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(self.wait)
        self.process.stdin.close()
        self.reader.join(self.wait)
        self.process.stderr.close()

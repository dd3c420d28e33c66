"""Progress of a cohort run on stderr: a tqdm bar on a terminal, plain log lines otherwise."""

import math
import sys
import time


class LineProgress:
    """Log-friendly progress: a line every ``every_s`` seconds or every ``every_n`` cases, and at the end."""

    def __init__(self, total, stream, every_s=10.0, every_n=None):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.every_n = every_n or max(1, math.ceil(total / 20))
        self.done = self.errors = self.skipped = 0
        self.start = self.last = time.monotonic()

    def update(self, status, skipped=False):
        """Count one finished case."""
        self.done += 1
        self.errors += status == "error"
        self.skipped += skipped
        now = time.monotonic()
        if self.done == self.total or self.done % self.every_n == 0 or now - self.last >= self.every_s:
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"spinerad: cohort {self.done}/{self.total} cases ({self.skipped} resumed, "
                f"{self.errors} failed), {rate:.1f} cases/s, elapsed {_clock(elapsed)}, ETA {_clock(eta)}",
                file=self.stream,
                flush=True,
            )

    def close(self):
        """Nothing to release."""


class BarProgress:
    """A tqdm bar (cases done/total, rate, ETA) with error and resumed counts."""

    def __init__(self, total, stream):
        from tqdm import tqdm

        self.bar = tqdm(total=total, file=stream, unit="case", desc="spinerad cohort", dynamic_ncols=True)
        self.errors = self.skipped = 0

    def update(self, status, skipped=False):
        """Count one finished case."""
        self.errors += status == "error"
        self.skipped += skipped
        self.bar.set_postfix(resumed=self.skipped, failed=self.errors, refresh=False)
        self.bar.update(1)

    def close(self):
        """Close the bar."""
        self.bar.close()


def terminal_progress(stream=None):
    """Return a progress factory for ``stream`` (stderr): a tqdm bar on a terminal, plain lines otherwise."""
    stream = stream or sys.stderr

    def make(total):
        isatty = getattr(stream, "isatty", None)
        return BarProgress(total, stream) if isatty and isatty() else LineProgress(total, stream)

    return make


def _clock(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class SilentProgress:
    """No progress output (the default of a run without a progress factory)."""

    def update(self, status, skipped=False):
        """Count nothing."""

    def close(self):
        """Nothing to release."""

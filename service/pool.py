"""Admission, cancellation and the worker pool: how many studies the server holds and how their work stops.

- :class:`Admission`: a bounded count of studies held at once (uploading, queued or computing). A study
  beyond it is refused at once with :class:`~spinerad.service.errors.QueueFull`, before any byte is sent.
- :class:`CancelToken`: set when the call ends (cancel, deadline, shutdown); the worker checks it at every
  pipeline stage through :class:`CancellableTimer`, so a cancelled study stops at the next stage boundary.
- :class:`WorkerPool`: threads sized to the machine; the Numba kernels release the GIL, so studies run side
  by side.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from spinerad.pipeline import StageTimer

from .errors import Cancelled, DeadlineExceeded, QueueFull


def default_workers():
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Admission:
    """At most ``capacity`` studies held at once; :meth:`acquire` never waits."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("admission capacity must be at least 1")
        self.capacity = capacity
        self._held = 0
        self._lock = threading.Condition()

    @property
    def held(self):
        """Studies held now."""
        return self._held

    def acquire(self):
        """Take a place; return how many studies were held before (:class:`QueueFull` when none is left)."""
        with self._lock:
            if self._held >= self.capacity:
                raise QueueFull(
                    f"the admission queue is full ({self.capacity} studies in progress); retry later"
                )
            self._held += 1
            return self._held - 1

    def release(self):
        """Give a place back."""
        with self._lock:
            self._held -= 1
            self._lock.notify_all()

    def wait_idle(self, timeout):
        """Wait until no study is held; return whether that happened within ``timeout`` seconds."""
        with self._lock:
            return self._lock.wait_for(lambda: self._held == 0, timeout)


class CancelToken:
    """Tells a study's worker to stop: the call was cancelled, or its deadline (monotonic clock) passed."""

    def __init__(self, deadline=None):
        self.deadline = deadline
        self._event = threading.Event()
        self._reason = ""

    def cancel(self, reason="the call was cancelled"):
        """Ask the worker to stop at its next stage boundary."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self):
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def check(self):
        """Raise :class:`Cancelled` or :class:`DeadlineExceeded` if the work should stop."""
        if self._event.is_set():
            raise Cancelled(self._reason)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded("the deadline passed before the study finished")


class CancellableTimer(StageTimer):
    """A :class:`~spinerad.pipeline.StageTimer` that checks a :class:`CancelToken` as each stage begins."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    def stage(self, name):
        """Check the token, then time the stage."""
        self.token.check()
        return super().stage(name)


class WorkerPool:
    """A fixed pool of worker threads that run studies' compute."""

    def __init__(self, workers):
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spinerad-worker")

    def submit(self, fn, *args):
        """Schedule ``fn(*args)``; returns a :class:`concurrent.futures.Future`."""
        return self._executor.submit(fn, *args)

    def shutdown(self):
        """Drop queued work and wait for running work to finish."""
        self._executor.shutdown(wait=True, cancel_futures=True)

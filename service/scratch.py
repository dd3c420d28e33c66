"""The server's scratch folder: one root per process, removed at exit and cleaned of dead ones at start.

File and DICOM uploads are written to disk for SimpleITK to read (in a temporary folder per study, removed
when the study is decoded). A process killed meanwhile (SIGKILL, OOM killer, power) cannot remove its
folders; the next server to start with the same scratch folder removes them. Each process holds an
exclusive ``flock`` on a lock file in its own root for as long as it lives, so a starting server can tell
a dead process's root (lock free) from a live sibling's (lock held) even across containers that share the
folder, and whatever the process ids are.
"""

import fcntl
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("spinerad.service")

#: Name of the folder, inside the configured scratch folder, that holds the per-process roots.
SCRATCH_FOLDER = "spinerad-scratch"
_LOCK = ".lock"
#: A root without a lock file is a process caught between creating it and locking it, unless it is older.
_UNLOCKED_GRACE_S = 60.0


class ScratchRoot:
    """The scratch root of this process, under ``base`` (the system temp folder when None)."""

    def __init__(self, base=None):
        self.base = Path(base or tempfile.gettempdir()) / SCRATCH_FOLDER
        self.base.mkdir(parents=True, exist_ok=True)
        self.removed = clean_stale(self.base)
        self.path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.base))
        self._lock = open(self.path / _LOCK, "w")  # noqa: SIM115 - held for the process's lifetime
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self):
        """Remove this process's root."""
        if self._lock is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self._lock.close()
            self._lock = None


def clean_stale(base):
    """Remove the roots under ``base`` whose process is gone; return how many."""
    removed = 0
    for root in Path(base).iterdir():
        if not root.is_dir() or not _is_stale(root):
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d scratch folder(s) left by stopped servers", removed)
    return removed


def _is_stale(root):
    try:
        handle = open(root / _LOCK, "r+")  # noqa: SIM115
    except FileNotFoundError:
        try:
            return time.time() - root.stat().st_mtime > _UNLOCKED_GRACE_S
        except FileNotFoundError:
            return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live server holds it
        return True

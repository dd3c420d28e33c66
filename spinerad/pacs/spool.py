"""The DICOM node's on-disk spool: what is received is on disk before it is acknowledged, until reported.

Layout (one folder per study, named by a hash of its StudyInstanceUID so that no identifier is a path or a
log word)::

    SPOOL/studies/<key>/study_uid                 the StudyInstanceUID (read back after a restart)
    SPOOL/studies/<key>/instances/<sop uid>.dcm   every received instance, as a DICOM Part 10 file
    SPOOL/studies/<key>/results/<sop uid>.dcm     the result objects (SR, SEG), published all at once
    SPOOL/studies/<key>/stored/<sop uid>          one marker per result object stored to PACS

Every file is written to a temporary name, flushed to disk (fsync) and renamed, so a crash (SIGKILL, power)
leaves either the whole file or none. A study folder is removed only after all its results were stored.
Results are written under ``results.tmp`` and renamed to ``results`` in one step: after a restart a study
either has all its results (and is only stored) or none (and is analysed again, getting the same result
UIDs, which are derived from the inputs).
"""

import hashlib
import os
import shutil
from pathlib import Path

#: File name suffix of spooled DICOM files.
SUFFIX = ".dcm"


def study_key(study_uid):
    """The spool folder name of a study: 16 hex digits of SHA-256 of its StudyInstanceUID."""
    return hashlib.sha256(str(study_uid).encode()).hexdigest()[:16]


def _safe_name(uid):
    text = str(uid)
    if not text or len(text) > 64 or not all(c.isdigit() or c == "." for c in text):
        # A UID is digits and dots; anything else (a broken sender) gets a hashed file name.
        return "x" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return text


def write_atomic(path, data):
    """Write ``data`` to ``path`` through a temporary file, fsync, rename, fsync the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Studies on disk: received instances, their results, and which results were stored."""

    def __init__(self, root):
        self.root = Path(root)
        self.studies_dir = self.root / "studies"
        self.studies_dir.mkdir(parents=True, exist_ok=True)
        # Leftovers of a crash in the middle of a write or a removal.
        trash = self.root / "trash"
        if trash.exists():
            shutil.rmtree(trash, ignore_errors=True)
        for tmp in self.studies_dir.glob("*/results.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)

    # --- studies --------------------------------------------------------------------------------------------

    def folder(self, key):
        """The folder of study ``key``."""
        return self.studies_dir / key

    def keys(self):
        """Keys of the spooled studies (sorted)."""
        return sorted(p.name for p in self.studies_dir.iterdir() if p.is_dir() and (p / "study_uid").exists())

    def study_uid(self, key):
        """The StudyInstanceUID of study ``key``."""
        return (self.folder(key) / "study_uid").read_text().strip()

    def add_instance(self, study_uid, sop_instance_uid, data):
        """Store one received instance (Part 10 bytes); returns ``(key, new)``.

        ``new`` is False when the same SOP instance was already spooled (a resend): it is overwritten.
        A new instance makes unstored results of the study stale: they are dropped, so the study is
        analysed again with everything it now holds.
        """
        key = study_key(study_uid)
        folder = self.folder(key)
        instances = folder / "instances"
        if not instances.exists():
            instances.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / "study_uid", str(study_uid).encode())
        path = instances / (_safe_name(sop_instance_uid) + SUFFIX)
        new = not path.exists()
        write_atomic(path, data)
        if new and (folder / "results").exists():
            self.drop_results(key)
        return key, new

    def instances(self, key):
        """Paths of the spooled instances of study ``key`` (sorted by name)."""
        folder = self.folder(key) / "instances"
        return sorted(folder.glob("*" + SUFFIX)) if folder.exists() else []

    def size(self, key):
        """``(instances, bytes)`` spooled for study ``key``."""
        paths = self.instances(key)
        return len(paths), sum(p.stat().st_size for p in paths)

    def remove(self, key):
        """Forget study ``key`` (its results were stored): rename it away, then delete it."""
        trash = self.root / "trash"
        trash.mkdir(exist_ok=True)
        target = trash / f"{key}.{os.getpid()}.{os.urandom(4).hex()}"
        os.replace(self.folder(key), target)
        shutil.rmtree(target, ignore_errors=True)

    # --- results --------------------------------------------------------------------------------------------

    def has_results(self, key):
        """Whether study ``key`` was analysed and its results are waiting here (or were stored)."""
        return (self.folder(key) / "results").is_dir()

    def publish_results(self, key, datasets):
        """Write the result datasets of study ``key`` all at once; returns their paths."""
        folder = self.folder(key)
        tmp = folder / "results.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for ds in datasets:
            path = tmp / (_safe_name(ds.SOPInstanceUID) + SUFFIX)
            ds.save_as(path, enforce_file_format=True)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        os.replace(tmp, folder / "results")
        _fsync_dir(folder)
        return self.results(key)

    def results(self, key):
        """Paths of the result files of study ``key``."""
        folder = self.folder(key) / "results"
        return sorted(folder.glob("*" + SUFFIX)) if folder.exists() else []

    def drop_results(self, key):
        """Delete the (stale) results of study ``key`` and their stored markers."""
        folder = self.folder(key)
        for name in ("results", "stored"):
            if (folder / name).exists():
                shutil.rmtree(folder / name)

    def mark_stored(self, key, result_path):
        """Record that ``result_path`` was stored to PACS."""
        stored = self.folder(key) / "stored"
        stored.mkdir(exist_ok=True)
        write_atomic(stored / Path(result_path).stem, b"")

    def unstored(self, key):
        """Result files of study ``key`` not stored yet."""
        stored = self.folder(key) / "stored"
        done = {p.name for p in stored.iterdir()} if stored.exists() else set()
        return [p for p in self.results(key) if p.stem not in done]

    def depth(self):
        """Studies in the spool."""
        return len(self.keys())

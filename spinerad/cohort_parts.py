"""One case of a cohort: its content key, its extraction record and the part file that caches it.

The format shared by ``spinerad extract-cohort`` (the ``<out>.parts/`` folder) and ``spinerad train`` (its
feature cache), so a cache folder of one serves the other:

- the *key* of a case (:func:`case_key`): a streaming SHA-256 of the image and mask bytes (a DICOM folder:
  its sorted file names and bytes), combined with the settings hash, the label, the label channel, the ROI
  choice and the spinerad version;
- its *record* (:func:`extract_case`): ``{"status": "ok", "features": {...}}`` or ``{"status": "error",
  "error": message}``, never an exception for a bad case;
- its *part*: the record as ``<key>.json`` (temp file + rename, so a part is complete or absent).
"""

import hashlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from . import __version__
from .errors import ImageReadError, SpineradError

_CHUNK = 1 << 20


def error_line(exc):
    """``"Type: message"`` of an unexpected exception, on one line (a case's recorded error)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def parts_folder(out):
    """Return the sidecar folder of per-case results, ``<out>.parts``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _update_with_file(digest, path):
    digest.update(f"{path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def content_digest(path, what="image"):
    """Hash a file's bytes, or a DICOM folder's sorted file names and bytes (SHA-256, 1 MiB chunks).

    A DICOM folder is hashed like SimpleITK reads it: its files, not its subfolders.
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            digest.update(b"folder\0")
            for item in sorted(p for p in path.iterdir() if p.is_file()):
                digest.update(item.name.encode("utf-8", "surrogateescape") + b"\0")
                _update_with_file(digest, item)
        else:
            digest.update(b"file\0")
            _update_with_file(digest, path)
    except FileNotFoundError:
        raise ImageReadError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read {what} {path}: {exc.strerror}") from None
    return digest.hexdigest()


def case_key(image, mask, label, label_channel, settings_hash, version=__version__, roi_choice=None):
    """Return the content key of a case: image + mask bytes, settings, label (+ channel), spinerad version.

    ``roi_choice`` (``{"segment": N}`` / ``{"roi": NAME}``: the ROI of a DICOM SEG/RTSTRUCT mask) is part of
    the key when given.
    """
    payload = {
        "spinerad": version,
        "settings": settings_hash,
        "label": label,
        "label_channel": label_channel,
        "image": content_digest(image, "image"),
        "mask": content_digest(mask, "mask"),
    }
    if roi_choice:
        payload["roi_choice"] = dict(roi_choice)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def extract_case(image, mask, label, label_channel, params, segment=None, roi=None):
    """Dask task: the features of one case as a record, never raising for a bad case.

    ``segment``/``roi`` choose the ROI of a DICOM SEG/RTSTRUCT mask (the CSV's ``segment``/``roi`` columns).

    Returns ``{"status": "ok", "features": {...}}`` or ``{"status": "error", "error": message, "cacheable":
    bool}``: spinerad input errors are cacheable (the same inputs fail the same way), unexpected exceptions
    are recorded as ``"Type: message"`` and are not.
    """
    from .pipeline import extract

    try:
        if label_channel is not None:
            params = replace(params, settings=params.settings.with_overrides(label_channel=label_channel))
        features = extract(image, mask, params=params, label=label, segment=segment, roi=roi)
    except SpineradError as exc:
        return {"status": "error", "error": str(exc), "cacheable": True}
    except Exception as exc:  # noqa: BLE001 - recorded as the case's error, the cohort goes on
        return {"status": "error", "error": error_line(exc), "cacheable": False}
    return {"status": "ok", "features": features}


def write_part(folder, key, record):
    """Write one case's record as ``<key>.json`` in ``folder`` (temp file + rename: complete or absent)."""
    part = {"key": key, "spinerad": __version__, "status": record["status"]}
    if record["status"] == "ok":
        part["features"] = record["features"]
    else:
        part["error"] = record["error"]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key[:16]}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(part, handle)  # NaN stays NaN (Python's json spelling), floats round-trip exactly
        os.replace(tmp, folder / f"{key}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_part(folder, key):
    """Return the finished record of ``key``, or None (absent or unreadable: then it is recomputed)."""
    try:
        part = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(part, dict) or part.get("key") != key or part.get("status") not in ("ok", "error"):
        return None
    if part["status"] == "ok":
        return {"status": "ok", "features": part.get("features") or {}}
    return {"status": "error", "error": part.get("error", "")}

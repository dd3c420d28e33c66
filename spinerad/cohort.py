"""Cohort-scale extraction on Dask: a feature row per case of a cohort CSV, resumable, robust to bad cases.

A cohort CSV has ``image`` and ``mask`` columns (paths relative to the CSV's folder, or absolute) and any
other columns (ids, outcomes, ...), which are carried through to the output unchanged. As in PyRadiomics'
batch mode (``radiomics/scripts``: ``Image``, ``Mask``, ``Label``, ``Label_channel``), an optional ``label``
column sets the ROI label of its row and an optional ``label_channel`` column the mask channel; an empty cell
means "the parameter file's setting". Column names are matched case-insensitively.

The work runs on a Dask ``distributed`` client, one task per case, which

1. computes the case's *key*: a streaming SHA-256 of the image and mask bytes (a DICOM folder: its sorted
   file names and bytes), combined with the settings hash, the label, the label channel and the spinerad
   version;
2. runs :func:`extract_case` unless the key is among the finished parts (listed when the run starts and
   broadcast to the workers).

Each finished case is written by this (client) process as one JSON *part* ``<out>.parts/<key>.json``
(temp file + rename, so a part is either complete or absent), and the output table is assembled from the
parts once every case is done. A re-run therefore skips every case whose inputs and settings are unchanged,
however the previous run ended. Cases that fail with a spinerad input error (unreadable file, geometry
mismatch, absent label, ...) are parts too: the same inputs fail the same way. Cases that fail before a key
exists (a missing file) or with an unexpected exception are recorded in the table but never cached, so a
re-run tries them again.
"""

import csv
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import __version__
from .errors import DeviceUnavailable, InvalidInput, SpineradError
from .settings import ExtractionParams, load_params

#: Output formats by file-name extension.
FORMATS = {".parquet": "parquet", ".csv": "csv"}
#: Columns spinerad adds after the features; a cohort CSV must not already have them.
STATUS_COLUMNS = ("status", "error")
#: How often Dask runs a case again after its worker process died (on top of the scheduler's own
#: ``distributed.scheduler.allowed-failures`` rescheduling).
RETRIES = 2
#: How long to try to reach a ``--scheduler`` before giving up.
CONNECT_TIMEOUT = "20s"

_CHUNK = 1 << 20


class SchedulerUnavailable(DeviceUnavailable):
    """The Dask scheduler cannot be reached, or it has no usable workers (CLI exit code 3)."""


@dataclass(frozen=True)
class Case:
    """One row of a cohort CSV: its carried-through cells and what to extract."""

    line: int
    cells: dict
    image: str
    mask: str
    label: int | None
    label_channel: int | None
    problem: str | None = None
    #: DICOM SEG segment number / RTSTRUCT ROI name (or SEG segment label) of a DICOM mask
    segment: int | None = None
    roi: str | None = None

    @property
    def roi_choice(self):
        """The ``segment``/``roi`` keywords of :func:`spinerad.extract` this row sets (empty for a label map)."""
        return {k: v for k, v in (("segment", self.segment), ("roi", self.roi)) if v is not None}


@dataclass(frozen=True)
class CohortSummary:
    """What a cohort run did. ``computed + skipped == cases``.

    ``computed`` counts the cases worked on in this run (including those that failed before a key existed,
    e.g. a missing file, which are never cached); ``skipped`` those served from a finished part.
    """

    out: str
    cases: int
    ok: int
    errors: int
    computed: int
    skipped: int

    def as_dict(self):
        """Return the summary as a plain dict (the CLI prints it as JSON)."""
        return asdict(self)


# --- the cohort CSV ---------------------------------------------------------------------------------------


def _one_line(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_int_cell(text, what):
    """Parse an integer cell ('8', '8.0'); None for an empty cell. Raises ValueError naming the cell."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an integer") from None
    if not value.is_integer():
        raise ValueError(f"{what} {text!r} is not an integer")
    return int(value)


def _find_column(fieldnames, name, path):
    matches = [f for f in fieldnames if f.strip().lower() == name]
    if len(matches) > 1:
        raise InvalidInput(f"cohort CSV {path} has more than one '{name}' column: {', '.join(matches)}")
    return matches[0] if matches else None


def read_cohort(path):
    """Read a cohort CSV into :class:`Case` rows (paths resolved against the CSV's folder).

    A malformed file (missing, no header, no image/mask column, ragged rows) raises :class:`InvalidInput`;
    a bad cell (empty path, non-integer label) only marks its own case with a ``problem``.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise InvalidInput(f"cohort CSV not found: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"cohort CSV {path} is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"cohort CSV {path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise InvalidInput(f"cohort CSV {path} is not valid CSV: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read cohort CSV {path}: {exc.strerror}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InvalidInput(f"cohort CSV {path} has no header row")
    fieldnames = rows[0]
    duplicated = sorted({f for f in fieldnames if fieldnames.count(f) > 1})
    if duplicated:
        raise InvalidInput(f"cohort CSV {path} repeats column(s): {', '.join(duplicated)}")
    image_col, mask_col = (_find_column(fieldnames, name, path) for name in ("image", "mask"))
    if image_col is None or mask_col is None:
        raise InvalidInput(
            f"cohort CSV {path} needs 'image' and 'mask' columns; found: {', '.join(fieldnames) or 'none'}"
        )
    clashes = [f for f in fieldnames if f in STATUS_COLUMNS]
    if clashes:
        names = ", ".join(clashes)
        raise InvalidInput(f"cohort CSV {path} has column(s) {names}; spinerad writes those itself")
    label_col = _find_column(fieldnames, "label", path)
    channel_col = _find_column(fieldnames, "label_channel", path)
    segment_col = _find_column(fieldnames, "segment", path)
    roi_col = _find_column(fieldnames, "roi", path)
    base = path.resolve().parent
    cases = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) > len(fieldnames):
            raise InvalidInput(
                f"cohort CSV {path} line {line} has {len(row)} fields; the header has {len(fieldnames)}"
            )
        cells = dict(zip(fieldnames, row + [""] * (len(fieldnames) - len(row)), strict=True))
        problems = []
        image, mask = (cells[col].strip() for col in (image_col, mask_col))
        if not image:
            problems.append("empty image path")
        if not mask:
            problems.append("empty mask path")
        label = channel = segment = None
        try:
            label = _parse_int_cell(cells[label_col], "label") if label_col else None
            channel = _parse_int_cell(cells[channel_col], "label_channel") if channel_col else None
            segment = _parse_int_cell(cells[segment_col], "segment") if segment_col else None
        except ValueError as exc:
            problems.append(str(exc))
        roi = (cells[roi_col].strip() or None) if roi_col else None
        cases.append(
            Case(
                line=line,
                cells=cells,
                image=str(base / image) if image else "",
                mask=str(base / mask) if mask else "",
                label=label,
                label_channel=channel,
                problem=f"line {line}: {'; '.join(problems)}" if problems else None,
                segment=segment,
                roi=roi,
            )
        )
    if not cases:
        raise InvalidInput(f"cohort CSV {path} lists no cases")
    return fieldnames, cases


def output_format(out):
    """``"parquet"`` or ``"csv"`` from the output file's extension; anything else is :class:`InvalidInput`."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        got = repr(suffix) if suffix else "no extension"
        raise InvalidInput(f"output file {out} must end in .parquet or .csv (got {got})")
    return FORMATS[suffix]


def parts_folder(out):
    """Return the sidecar folder of per-case results, ``<out>.parts``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


# --- work done on the Dask workers ------------------------------------------------------------------------


def _update_with_file(digest, path):
    digest.update(f"{path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def content_digest(path, what="image"):
    """Hash a file's bytes, or a DICOM folder's sorted file names and bytes (SHA-256, 1 MiB chunks).

    A DICOM folder is hashed like SimpleITK reads it: its files, not its subfolders.
    """
    from .errors import ImageReadError

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


def _case_task(image, mask, label, label_channel, params, key_label, key_channel, settings_hash, finished,
               case_function, roi_choice=None):
    """Hash one case and, unless its key is in ``finished``, extract it (the Dask task of a case).

    Returns ``{"key": key, "finished": True}`` or the record of ``case_function`` (:func:`extract_case`)
    with its ``key``. Never raises for a bad case; a file that cannot be hashed gives an error record with
    ``key`` None (never cached).
    """
    try:
        key = case_key(image, mask, key_label, key_channel, settings_hash, roi_choice=roi_choice)
    except SpineradError as exc:
        return {"status": "error", "error": str(exc), "key": None}
    except Exception as exc:  # noqa: BLE001 - recorded as the case's error, the cohort goes on
        return {"status": "error", "error": _one_line(exc), "key": None}
    if key in finished:
        return {"key": key, "finished": True}
    return {**case_function(image, mask, label, label_channel, params, **(roi_choice or {})), "key": key}


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
        return {"status": "error", "error": _one_line(exc), "cacheable": False}
    return {"status": "ok", "features": features}


def worker_info():
    """Report a worker's spinerad version and Numba threading (the preflight check runs it on each)."""
    import numba

    from . import kernels  # noqa: F401 - importing the kernels selects the threading layer

    return {
        "spinerad": __version__,
        "threading_layer": numba.config.THREADING_LAYER,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
    }


# --- parts ------------------------------------------------------------------------------------------------


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


# --- progress ---------------------------------------------------------------------------------------------


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


class _Silent:
    def update(self, status, skipped=False):
        pass

    def close(self):
        pass


# --- the Dask client --------------------------------------------------------------------------------------


def machine_cores():
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def _quiet_distributed():
    """Silence the in-process scheduler's and client's log lines while we own the cluster."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def dask_client(scheduler=None, n_workers=None):
    """Yield a ``distributed.Client`` of ``scheduler``, or of a new ``LocalCluster`` sized to the machine.

    The local cluster has ``n_workers`` (default: one per core) single-threaded worker processes; the
    Numba kernels inside each share the cores (``NUMBA_NUM_THREADS = cores // n_workers``), so workers and
    kernel threads do not oversubscribe the machine.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if n_workers is not None:
            raise InvalidInput(f"--workers sizes a local cluster; the scheduler at {scheduler} has its own")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            message = f"cannot reach the Dask scheduler at {scheduler}: {_one_line(exc)}"
            raise SchedulerUnavailable(message) from None
        with client:
            yield client
        return
    cores = machine_cores()
    n_workers = n_workers or cores
    numba_threads = max(1, cores // n_workers)
    with _quiet_distributed(), LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # no dashboard; the scheduler's small HTTP server on any free port, not on a possibly taken 8787
        scheduler_kwargs={"dashboard_address": ":0"},
        env={"NUMBA_NUM_THREADS": str(numba_threads)},
        # Case failures are rows of the table; distributed's own log lines (a worker's heartbeat failing
        # while the cluster closes, with a traceback) would only clutter the one-line CLI output.
        silence_logs=logging.CRITICAL,
    ) as cluster, Client(cluster) as client:
        yield client


def _preflight(client, wait_s=60):
    """Refuse a cluster whose workers cannot run this spinerad version (one clear error, not N error rows)."""
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=wait_s)
        infos = client.run(worker_info)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnavailable(f"the Dask cluster has no usable workers: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. spinerad not importable on the workers
        raise SchedulerUnavailable(f"the Dask workers cannot run spinerad: {_one_line(exc)}") from None
    versions = sorted({info["spinerad"] for info in infos.values()})
    if versions != [__version__]:
        raise SchedulerUnavailable(
            f"the Dask workers run spinerad {', '.join(versions)}; this client runs {__version__}"
        )
    return infos


# --- the run ----------------------------------------------------------------------------------------------


def run_cases(client, cases, params, parts, progress=None, case_function=None):
    """Compute every case on ``client``, writing parts; return ``(records by case index, computed, skipped)``.

    One task per distinct (image, mask, label, label channel): it hashes the inputs and, unless the key is
    among the finished parts listed when the run started, extracts. ``case_function`` replaces
    :func:`extract_case` (same signature; tests inject failing ones).
    """
    from distributed import as_completed

    case_function = case_function or extract_case
    progress = progress or _Silent()
    settings_hash = params.settings_hash()
    records = {}
    skipped = 0

    def finish(indices, record, from_part=False):
        nonlocal skipped
        for index in indices:
            records[index] = record
            skipped += from_part
            progress.update(record["status"], skipped=from_part)

    groups = {}
    for index, case in enumerate(cases):
        if case.problem:
            finish([index], {"status": "error", "error": case.problem})
            continue
        groups.setdefault((case.image, case.mask, case.label, case.label_channel, case.segment, case.roi), []).append(
            index
        )

    # The workers learn which keys are finished from one broadcast set, so one task per case both hashes
    # and (if needed) extracts: a key task followed by an extraction task cost a scheduling round trip more.
    # (scatter takes a list of data; a bare set would be scattered item by item)
    finished, nothing = client.scatter(
        [frozenset(p.stem for p in parts.glob("*.json")), frozenset()], broadcast=True, hash=False
    )
    # Results travel with the completion events, in batches: one round trip per batch, not per future.
    pending = as_completed(with_results=True, raise_errors=False)
    role = {}

    def submit(group, indices, known):
        image, mask, label, channel, segment, roi = group
        choice = {k: v for k, v in (("segment", segment), ("roi", roi)) if v is not None}
        key_label = label if label is not None else params.settings.label
        key_channel = channel if channel is not None else params.settings.label_channel
        future = client.submit(
            _case_task, image, mask, label, channel, params, key_label, key_channel, settings_hash,
            known, case_function, choice or None, pure=False, retries=RETRIES,
        )
        role[future] = (group, indices)
        pending.add(future)

    for group, indices in groups.items():
        submit(group, indices, finished)
    for future, result in _finished(pending):
        group, indices = role.pop(future)
        key = result.get("key")
        if result.get("finished"):
            record = read_part(parts, key)
            if record is None:  # listed but unreadable (torn, edited): compute it after all
                submit(group, indices, nothing)
            else:
                finish(indices, record, from_part=True)
            continue
        record = {k: v for k, v in result.items() if k in ("status", "error", "features")}
        if key is not None and (result["status"] == "ok" or result.get("cacheable")):
            write_part(parts, key, result)
        finish(indices, record)
    return records, len(cases) - skipped, skipped


def _finished(pending):
    """Yield ``(future, result)``; a failed future (KilledWorker, a raising case function) as an error."""
    for batch in pending.batches():
        for future, result in batch:
            if future.status != "finished":
                exc = result[1] if isinstance(result, tuple) else result
                result = {"status": "error", "error": _one_line(exc), "cacheable": False}
            future.release()
            yield future, result


def _table_columns(fieldnames, records):
    feature_names = {}
    for record in records:
        if record["status"] == "ok":
            for name in record["features"]:
                feature_names.setdefault(name, None)
    clashes = [name for name in feature_names if name in fieldnames]
    if clashes:
        raise InvalidInput(f"cohort CSV column(s) {', '.join(clashes[:3])} clash with feature names")
    return list(feature_names)


def write_table(out, fieldnames, cases, records, settings_hash):
    """Write the table (carried columns, features, status, error) atomically; CSV or Parquet by extension."""
    out = Path(out)
    fmt = output_format(out)
    ordered = [records[i] for i in range(len(cases))]
    features = _table_columns(fieldnames, ordered)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}-", suffix=".tmp")
    os.close(fd)
    try:
        if fmt == "parquet":
            _write_parquet(tmp, fieldnames, cases, ordered, features, settings_hash)
        else:
            _write_csv(tmp, fieldnames, cases, ordered, features)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_csv(path, fieldnames, cases, records, features):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*fieldnames, *features, *STATUS_COLUMNS])
        for case, record in zip(cases, records, strict=True):
            values = record.get("features", {})
            # repr() round-trips a float exactly; an error row leaves its feature cells empty.
            cells = [repr(float(values[name])) if name in values else "" for name in features]
            carried = [case.cells[f] for f in fieldnames]
            writer.writerow([*carried, *cells, record["status"], record.get("error", "")])


def _write_parquet(path, fieldnames, cases, records, features, settings_hash):
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f: pa.array([case.cells[f] for case in cases], pa.string()) for f in fieldnames}
    for name in features:
        # NaN: a feature PyRadiomics leaves undefined; null: the case failed.
        columns[name] = pa.array([r.get("features", {}).get(name) for r in records], pa.float64())
    columns["status"] = pa.array([r["status"] for r in records], pa.string())
    columns["error"] = pa.array([r.get("error") for r in records], pa.string())
    table = pa.table(columns).replace_schema_metadata(
        {"spinerad_version": __version__, "spinerad_settings_hash": settings_hash}
    )
    pq.write_table(table, path)


def extract_cohort(
    cohort_csv, out, params=None, *, client=None, scheduler=None, n_workers=None, progress=None,
    case_function=None,
):
    """Extract the features of every case of a cohort CSV into ``out`` (``.parquet`` or ``.csv``).

    Parameters
    ----------
    cohort_csv : str or pathlib.Path
        CSV with ``image`` and ``mask`` columns, optional ``label``/``label_channel``, any other columns.
    out : str or pathlib.Path
        Output table; per-case parts go to ``<out>.parts/`` and make re-runs resume.
    params : str, pathlib.Path, dict, ExtractionParams or None
        As for :func:`spinerad.extract`.
    client : distributed.Client or None
        Run on this client; otherwise connect to ``scheduler`` or start a local cluster of ``n_workers``.
    progress : callable or None
        ``progress(total)`` returns an object with ``update(status, skipped=False)`` and ``close()``
        (:func:`terminal_progress`); None is silent.
    case_function : callable or None
        Replaces :func:`extract_case` (tests).

    Returns
    -------
    CohortSummary
    """
    params = params if isinstance(params, ExtractionParams) else load_params(params)
    output_format(out)
    fieldnames, cases = read_cohort(cohort_csv)
    out = Path(out)
    parts = parts_folder(out)
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the parts folder {parts}: {exc.strerror}") from None
    with nullcontext(client) if client is not None else dask_client(scheduler, n_workers) as client:
        _preflight(client)
        bar = progress(len(cases)) if progress else None
        try:
            records, computed, skipped = run_cases(client, cases, params, parts, bar, case_function)
        finally:
            if bar is not None:
                bar.close()
    write_table(out, fieldnames, cases, records, params.settings_hash())
    ok = sum(record["status"] == "ok" for record in records.values())
    return CohortSummary(str(out), len(cases), ok, len(cases) - ok, computed, skipped)


__all__ = [
    "Case",
    "CohortSummary",
    "SchedulerUnavailable",
    "case_key",
    "content_digest",
    "dask_client",
    "extract_case",
    "extract_cohort",
    "read_cohort",
    "terminal_progress",
]

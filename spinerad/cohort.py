"""Cohort-scale extraction on Dask: a feature row per case of a cohort CSV, resumable, robust to bad cases.

A cohort CSV (:mod:`spinerad.cohort_csv`) has ``image`` and ``mask`` columns (paths relative to the CSV's
folder, or absolute) and any other columns (ids, outcomes, ...), which are carried through to the output
unchanged; optional ``label``/``label_channel``/``segment``/``roi`` columns choose the ROI of their row (an
empty cell means "the parameter file's setting").

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

The rooms of this house: :mod:`~spinerad.cohort_csv` (reading the CSV), :mod:`~spinerad.cohort_parts`
(keys, per-case records and part files, shared with ``spinerad train``), :mod:`~spinerad.cohort_dask` (the
client and the tasks), :mod:`~spinerad.cohort_progress` (progress on stderr), :mod:`~spinerad.cohort_table`
(the output table); this module runs them in order.
"""

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from .cohort_csv import Case, read_cohort
from .cohort_dask import (
    CONNECT_TIMEOUT,
    RETRIES,
    SchedulerUnavailable,
    dask_client,
    machine_cores,
    preflight,
    run_cases,
    worker_info,
)
from .cohort_parts import case_key, content_digest, extract_case, parts_folder, read_part, write_part
from .cohort_progress import BarProgress, LineProgress, terminal_progress
from .cohort_table import FORMATS, output_format, write_table
from .errors import InvalidInput
from .settings import ExtractionParams, load_params


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


def extract_cohort(
    cohort_csv,
    out,
    params=None,
    *,
    client=None,
    scheduler=None,
    n_workers=None,
    progress=None,
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
        preflight(client)
        bar = progress(len(cases)) if progress else None
        try:
            records, computed, skipped = run_cases(client, cases, params, parts, bar, case_function)
        finally:
            if bar is not None:
                bar.close()
    write_table(out, fieldnames, cases, records, params.settings_hash())
    ok = sum(record["status"] == "ok" for record in records.values())
    return CohortSummary(str(out), len(cases), ok, len(cases) - ok, computed, skipped)


# The names of the rooms above, importable from here as before the split.
__all__ = [
    "BarProgress",
    "CONNECT_TIMEOUT",
    "Case",
    "CohortSummary",
    "FORMATS",
    "LineProgress",
    "RETRIES",
    "SchedulerUnavailable",
    "case_key",
    "content_digest",
    "dask_client",
    "extract_case",
    "extract_cohort",
    "machine_cores",
    "output_format",
    "parts_folder",
    "read_cohort",
    "read_part",
    "run_cases",
    "terminal_progress",
    "worker_info",
    "write_part",
    "write_table",
]

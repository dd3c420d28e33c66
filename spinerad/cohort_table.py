"""The output table of a cohort run: carried CSV columns, features, status and error, as CSV or Parquet."""

import csv
import os
import tempfile
from pathlib import Path

from . import __version__
from .cohort_csv import STATUS_COLUMNS
from .errors import InvalidInput

#: Output formats by file-name extension.
FORMATS = {".parquet": "parquet", ".csv": "csv"}


def output_format(out):
    """``"parquet"`` or ``"csv"`` from the output file's extension; anything else is :class:`InvalidInput`."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        got = repr(suffix) if suffix else "no extension"
        raise InvalidInput(f"output file {out} must end in .parquet or .csv (got {got})")
    return FORMATS[suffix]


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

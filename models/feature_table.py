"""The features a model learns from: the cohort's cases extracted (cached per case) into a table.

Each case is extracted once and cached in :mod:`spinerad.cohort_parts`' part format, so a feature cache is
interchangeable with the ``.parts`` folder of ``spinerad extract-cohort``. :class:`FeatureTable` holds the
radiomics matrix, the labels, centres and clinical values the pipeline
(:mod:`spinerad.models.sklearn_pipeline`) sees.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cohort_parts import case_key, extract_case, read_part, write_part
from ..errors import SpineradError
from ..settings import ExtractionParams
from .clinical import encode_clinical
from .errors import CohortError


def extract_cohort_features(rows, params, cache_dir, skip_unreadable, progress=None):
    """Features of every row, one extraction per case, cached per case in ``cache_dir``.

    The per-case work, its content key and the cache files are :mod:`spinerad.cohort_parts`'
    (``case_key``, ``extract_case``, the part format), so a cache folder is interchangeable with the
    ``.parts`` folder of ``spinerad extract-cohort``. Runs in this process (a training cohort is hundreds
    of cases).

    Returns
    -------
    (list of str, numpy.ndarray, list of int, list of dict)
        Feature names, the ``(cases, features)`` matrix of the extracted rows, the indices of those rows in
        ``rows``, and the skipped cases ``{"line", "error"}``.

    Raises
    ------
    CohortError
        A case could not be extracted and ``skip_unreadable`` is False (naming its CSV line), or cases
        produced different feature names.
    """
    settings_hash = params.settings_hash()
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CohortError(f"cannot create the feature cache {cache}: {exc.strerror}") from None
    records = []
    for row in rows:
        try:
            key = case_key(
                row.image,
                row.mask,
                params.settings.label,
                params.settings.label_channel,
                settings_hash,
                roi_choice=row.roi_choice,
            )
        except SpineradError as exc:
            record, cached = {"status": "error", "error": str(exc)}, True
        else:
            record = read_part(cache, key) if cache is not None else None
            cached = record is not None
            if record is None:
                result = extract_case(row.image, row.mask, None, None, params, **(row.roi_choice or {}))
                record = {k: v for k, v in result.items() if k != "cacheable"}
                if cache is not None and (result["status"] == "ok" or result.get("cacheable")):
                    write_part(cache, key, record)
        records.append(record)
        if progress is not None:
            progress.update(record["status"], skipped=cached)
    pairs = zip(rows, records, strict=True)
    failed = [(row, record["error"]) for row, record in pairs if record["status"] != "ok"]
    if failed and not skip_unreadable:
        row, error = failed[0]
        raise CohortError(
            f"{len(failed)} of {len(rows)} case(s) could not be extracted; "
            f"first: cohort CSV line {row.line}: "
            f"{error} (fix the case, or pass --skip-unreadable to train without it)"
        )
    skipped = [{"line": row.line, "error": error} for row, error in failed]
    kept = [i for i, record in enumerate(records) if record["status"] == "ok"]
    if not kept:
        raise CohortError("no case of the cohort could be extracted")
    names = list(records[kept[0]]["features"])
    for i in kept:
        if list(records[i]["features"]) != names:
            other = set(records[i]["features"]) ^ set(names)
            raise CohortError(
                f"cohort CSV line {rows[i].line} gives other feature names than line {rows[kept[0]].line} "
                f"({', '.join(sorted(other)[:3])}, ...); every case must produce the same features"
            )
    X = np.array([[records[i]["features"][n] for n in names] for i in kept], dtype=np.float64)
    return names, X, kept, skipped


# --- the table the pipeline learns from --------------------------------------------------------------------


@dataclass
class FeatureTable:
    """What the model-fitting steps see: radiomics features, labels, centres and clinical values.

    ``extracted_names`` are every feature the extraction produced (the names a prediction must supply);
    ``names`` the finite ones the pipeline may use.
    """

    names: list
    X: np.ndarray
    y: np.ndarray
    params: ExtractionParams
    extracted_names: list = None
    centres: list = None
    clinical: tuple = ()
    clinical_values: list = None
    lines: list = None
    skipped: list = field(default_factory=list)
    dropped: dict = field(default_factory=dict)
    source: str = "feature table"
    simulated: dict | None = None

    def __post_init__(self):
        self.X = np.asarray(self.X, dtype=np.float64)
        self.y = np.asarray(self.y).astype(np.int64)
        if self.extracted_names is None:
            self.extracted_names = list(self.names)
        if self.X.shape != (self.y.size, len(self.names)):
            raise CohortError(
                f"feature table shape {self.X.shape} does not match "
                f"{self.y.size} labels x {len(self.names)} names"
            )
        finite = np.isfinite(self.X).all(axis=0)
        if not finite.all():
            for name in np.asarray(self.names)[~finite]:
                self.dropped[str(name)] = "undefined (NaN) for some training case"
            self.X = self.X[:, finite]
            self.names = [n for n, keep in zip(self.names, finite, strict=True) if keep]
        if not self.names:
            raise CohortError("no feature is finite for every training case")

    def clinical_matrix(self, rows=None):
        """Encoded clinical inputs of the table's rows (``(n, 0)`` without clinical variables)."""
        rows = range(self.y.size) if rows is None else rows
        width = sum(len(v.columns) for v in self.clinical)
        if not self.clinical:
            return np.zeros((len(rows), 0))
        return np.array(
            [encode_clinical(self.clinical, self.clinical_values[i], f"row {i}") for i in rows],
            dtype=np.float64,
        ).reshape(len(rows), width)

    def inputs(self):
        """The full input matrix: radiomics columns then encoded clinical columns."""
        return np.hstack([self.X, self.clinical_matrix()])

    @property
    def input_names(self):
        """Names of :meth:`inputs`' columns."""
        return list(self.names) + [c for v in self.clinical for c in v.columns]


def cohort_table(cohort, params, cache_dir=None, skip_unreadable=False, progress=None):
    """Extract a :class:`TrainingCohort` into a :class:`FeatureTable`."""
    names, X, kept, skipped = extract_cohort_features(
        cohort.rows, params, cache_dir, skip_unreadable, progress
    )
    rows = [cohort.rows[i] for i in kept]
    clinical = cohort.clinical
    table = FeatureTable(
        names=names,
        X=X,
        y=np.array([row.label for row in rows]),
        params=params,
        centres=[row.center for row in rows] if cohort.has_center else None,
        clinical=clinical,
        clinical_values=[row.clinical for row in rows],
        lines=[row.line for row in rows],
        skipped=skipped,
        source=Path(cohort.path).name,
        simulated=cohort.simulated,
    )
    return table

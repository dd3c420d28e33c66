"""The training cohort CSV of ``spinerad train``: cases, binary labels, centres and clinical columns.

Read with the cohort CSV reader of ``spinerad extract-cohort`` (:func:`spinerad.cohort_csv.read_csv_rows`:
one place opens, checks and pads a cohort CSV); this module adds what training needs on top: a binary label,
an optional centre, and every other column as a clinical variable (:mod:`spinerad.models.clinical`).
"""

from dataclasses import dataclass
from pathlib import Path

from ..cohort_csv import find_column, parse_roi_choice, read_csv_rows, resolve
from .clinical import clinical_variables
from .errors import CohortError
from .tasks import get_task

#: Columns never taken as clinical variables (case identifiers).
ID_COLUMNS = ("id", "case", "case_id", "patient", "patient_id", "subject", "subject_id")
_POSITIVE_WORDS = ("1", "1.0", "true", "yes", "positive", "pos")
_NEGATIVE_WORDS = ("0", "0.0", "false", "no", "negative", "neg")


@dataclass(frozen=True)
class CohortRow:
    """One case of a training cohort."""

    line: int
    image: str
    mask: str
    label: int
    center: str | None
    clinical: dict
    #: ROI of a DICOM SEG/RTSTRUCT mask: ``{"segment": N}`` and/or ``{"roi": NAME}`` (empty for a label map)
    roi_choice: dict = None


@dataclass(frozen=True)
class TrainingCohort:
    """A parsed training CSV."""

    path: str
    rows: tuple
    clinical: tuple
    has_center: bool
    simulated: dict | None = None


def parse_label(text, task, line, column):
    """0/1 from a label cell: 0/1, true/false, yes/no, positive/negative or the task's class names."""
    spec = get_task(task)
    value = text.strip().lower()
    if value in _POSITIVE_WORDS or value == spec.positive.lower():
        return 1
    if value in _NEGATIVE_WORDS or value == spec.negative.lower():
        return 0
    shown = repr(text.strip()) if text.strip() else "empty"
    raise CohortError(
        f"cohort CSV line {line}: label {shown} in column '{column}' is not binary "
        f"(use 0/1, or '{spec.positive}'/'{spec.negative}' for task {task})"
    )


def read_training_csv(path, task, label_column="label", center_column="center", ignore_columns=()):
    """Read a training cohort CSV: ``image, mask, <label>[, <center>][, clinical columns...]``.

    Paths are relative to the CSV's folder (or absolute). Every column that is not image, mask, label,
    center, segment, roi, an identifier (:data:`ID_COLUMNS`) or in ``ignore_columns`` is a clinical variable.
    Unlike extract-cohort, which records a bad row as a failed case, any bad cell is a :class:`CohortError`
    naming its line: a model is trained on a cohort that is right as a whole.
    """
    from .simulate import read_sidecar

    get_task(task)
    path = Path(path)
    fieldnames, records = read_csv_rows(path, CohortError)

    def column(name):
        return find_column(fieldnames, name, path, CohortError)

    image_col, mask_col, label_col = (column(n) for n in ("image", "mask", label_column))
    missing = [
        n for n, c in (("image", image_col), ("mask", mask_col), (label_column, label_col)) if c is None
    ]
    if missing:
        raise CohortError(
            f"cohort CSV {path} lacks column(s) {', '.join(repr(m) for m in missing)}; "
            f"found: {', '.join(fieldnames)}"
        )
    center_col, segment_col, roi_col = column(center_column), column("segment"), column("roi")
    ignored = {c.strip().lower() for c in ignore_columns}
    unknown = ignored - {f.lower() for f in fieldnames}
    if unknown:
        raise CohortError(f"--ignore-columns names column(s) not in {path}: {', '.join(sorted(unknown))}")
    taken = {image_col, mask_col, label_col, center_col, segment_col, roi_col}
    clinical = [
        f for f in fieldnames if f not in taken and f.lower() not in ID_COLUMNS and f.lower() not in ignored
    ]
    base = path.resolve().parent
    rows = []
    for line, cells in records:
        for column_name in (image_col, mask_col):
            if not cells[column_name].strip():
                raise CohortError(f"cohort CSV {path} line {line}: column '{column_name}' is empty")
        center = cells[center_col].strip() if center_col else None
        if center_col and not center:
            raise CohortError(f"cohort CSV {path} line {line}: column '{center_col}' is empty")
        for name in clinical:
            if not cells[name].strip():
                raise CohortError(f"cohort CSV {path} line {line}: clinical column '{name}' is empty")
        try:
            segment, roi = parse_roi_choice(cells, segment_col, roi_col)
        except ValueError as exc:
            raise CohortError(f"cohort CSV {path} line {line}: {exc}") from None
        rows.append(
            CohortRow(
                line=line,
                image=resolve(base, cells[image_col]),
                mask=resolve(base, cells[mask_col]),
                label=parse_label(cells[label_col], task, line, label_col),
                center=center,
                clinical={c: cells[c].strip() for c in clinical},
                roi_choice={k: v for k, v in (("segment", segment), ("roi", roi)) if v is not None},
            )
        )
    if not rows:
        raise CohortError(f"cohort CSV {path} lists no cases")
    classes = {row.label for row in rows}
    if len(classes) < 2:
        spec = get_task(task)
        only = spec.positive if 1 in classes else spec.negative
        raise CohortError(
            f"cohort CSV {path}: every case has label '{only}'; a binary model needs both classes"
        )
    # Inferred from every row before any extraction, so a bad clinical column fails fast.
    variables = clinical_variables(clinical, rows)
    return TrainingCohort(str(path), tuple(rows), variables, center_col is not None, read_sidecar(path))

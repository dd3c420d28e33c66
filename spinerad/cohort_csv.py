"""The cohort CSV: one reader for ``spinerad extract-cohort`` and for ``spinerad train``.

A cohort CSV lists one case a row: ``image`` and ``mask`` paths (relative to the CSV's folder, or absolute)
and any other columns. Column names are matched case-insensitively, Excel's byte-order mark is skipped, and
so are blank lines. :func:`read_csv_rows` is the part both commands share (opening, header, ragged rows);
:func:`read_cohort` reads extract-cohort's CSV and :func:`spinerad.models.cohort_csv.read_training_csv`
the training CSV on top of it. As in PyRadiomics' batch mode (``radiomics/scripts``: ``Image``, ``Mask``,
``Label``, ``Label_channel``), an optional ``label`` column sets the ROI label of its row and an optional
``label_channel`` column the mask channel; ``segment``/``roi`` choose the ROI of a DICOM SEG/RTSTRUCT mask.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput

#: Columns spinerad adds after the features; a cohort CSV must not already have them.
STATUS_COLUMNS = ("status", "error")


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
        """The ``segment``/``roi`` keywords of :func:`spinerad.extract` this row sets (empty: a label map)."""
        return {k: v for k, v in (("segment", self.segment), ("roi", self.roi)) if v is not None}


def read_csv_rows(path, error=InvalidInput):
    """Read a cohort CSV: its header and its non-blank rows as ``(line, {column: cell})``.

    Header names are stripped of surrounding blanks; a row shorter than the header is padded with empty
    cells. A file that cannot be read, has no header, repeats a column or has a row longer than the header
    raises ``error`` (one line naming the file and the line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle))
    except FileNotFoundError:
        raise error(f"cohort CSV not found: {path}") from None
    except IsADirectoryError:
        raise error(f"cohort CSV {path} is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise error(f"cohort CSV {path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise error(f"cohort CSV {path} is not valid CSV: {exc}") from None
    except OSError as exc:
        raise error(f"cannot read cohort CSV {path}: {exc.strerror}") from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise error(f"cohort CSV {path} has no header row")
    fieldnames = [name.strip() for name in records[0]]
    duplicated = sorted({f for f in fieldnames if fieldnames.count(f) > 1})
    if duplicated:
        raise error(f"cohort CSV {path} repeats column(s): {', '.join(duplicated)}")
    rows = []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) > len(fieldnames):
            raise error(
                f"cohort CSV {path} line {line} has {len(record)} fields; the header has {len(fieldnames)}"
            )
        padded = record + [""] * (len(fieldnames) - len(record))
        rows.append((line, dict(zip(fieldnames, padded, strict=True))))
    return fieldnames, rows


def find_column(fieldnames, name, path, error=InvalidInput):
    """The header name matching ``name`` case-insensitively, or None; ``error`` when two match."""
    matches = [f for f in fieldnames if f.strip().lower() == name.lower()]
    if len(matches) > 1:
        raise error(f"cohort CSV {path} has more than one '{name}' column: {', '.join(matches)}")
    return matches[0] if matches else None


def parse_int_cell(text, what):
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


def parse_roi_choice(cells, segment_column, roi_column):
    """``(segment, roi)`` of a row (a DICOM SEG/RTSTRUCT mask's ROI); None for an absent column or empty cell.

    Raises ValueError naming the cell when the segment is not a positive integer.
    """
    segment = parse_int_cell(cells[segment_column], "segment") if segment_column else None
    if segment is not None and segment < 1:
        raise ValueError(f"segment {cells[segment_column].strip()!r} is not a positive integer")
    roi = (cells[roi_column].strip() or None) if roi_column else None
    return segment, roi


def resolve(base, cell):
    """The path in ``cell`` resolved against the CSV's folder ``base`` ("" for an empty cell)."""
    cell = cell.strip()
    return str(base / cell) if cell else ""


def read_cohort(path):
    """Read an extract-cohort CSV into :class:`Case` rows (paths resolved against the CSV's folder).

    A malformed file (missing, no header, no image/mask column, ragged rows) raises :class:`InvalidInput`;
    a bad cell (empty path, non-integer label) only marks its own case with a ``problem``.

    Returns
    -------
    (list of str, list of Case)
        The header (carried through to the output table) and the cases.
    """
    path = Path(path)
    fieldnames, rows = read_csv_rows(path)
    image_col, mask_col = (find_column(fieldnames, name, path) for name in ("image", "mask"))
    if image_col is None or mask_col is None:
        raise InvalidInput(
            f"cohort CSV {path} needs 'image' and 'mask' columns; found: {', '.join(fieldnames) or 'none'}"
        )
    clashes = [f for f in fieldnames if f in STATUS_COLUMNS]
    if clashes:
        names = ", ".join(clashes)
        raise InvalidInput(f"cohort CSV {path} has column(s) {names}; spinerad writes those itself")
    label_col = find_column(fieldnames, "label", path)
    channel_col = find_column(fieldnames, "label_channel", path)
    segment_col = find_column(fieldnames, "segment", path)
    roi_col = find_column(fieldnames, "roi", path)
    base = path.resolve().parent
    cases = []
    for line, cells in rows:
        problems = []
        image, mask = (resolve(base, cells[col]) for col in (image_col, mask_col))
        if not image:
            problems.append("empty image path")
        if not mask:
            problems.append("empty mask path")
        label = channel = segment = roi = None
        try:
            label = parse_int_cell(cells[label_col], "label") if label_col else None
            channel = parse_int_cell(cells[channel_col], "label_channel") if channel_col else None
            segment, roi = parse_roi_choice(cells, segment_col, roi_col)
        except ValueError as exc:
            problems.append(str(exc))
        cases.append(
            Case(
                line=line,
                cells=cells,
                image=image,
                mask=mask,
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

"""Clinical variables of a combined clinical-radiomics model: their kinds, levels and input encoding.

A clinical column of the training CSV is numeric (z-scored by the pipeline) when every cell is a number,
else categorical (one indicator input per level but the first, the reference level). The same encoding turns
a prediction request's clinical values into model inputs (:mod:`spinerad.models.registry`).
"""

from dataclasses import dataclass

import numpy as np

from .errors import CohortError

#: A categorical clinical column with more levels than this is almost surely an identifier.
MAX_LEVELS = 10


@dataclass(frozen=True)
class ClinicalVariable:
    """One clinical column: numeric (z-scored) or categorical (an indicator per non-reference level)."""

    name: str
    kind: str
    levels: tuple = ()

    @property
    def columns(self):
        """Model input columns this variable becomes (the first level is the reference)."""
        if self.kind == "numeric":
            return (f"clinical:{self.name}",)
        return tuple(f"clinical:{self.name}={level}" for level in self.levels[1:])

    def encode(self, value):
        """The variable's input values for ``value``; ValueError naming the problem."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 2.0 from a JSON/protobuf double is the level "2" of a categorical column
        text = str(value).strip() if value is not None else ""
        if not text:
            raise ValueError(f"clinical value '{self.name}' is empty")
        if self.kind == "numeric":
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"clinical value '{self.name}' must be a number, got {text!r}") from None
            if not np.isfinite(number):
                raise ValueError(f"clinical value '{self.name}' must be finite, got {text!r}")
            return [number]
        matches = [level for level in self.levels if level.lower() == text.lower()]
        if not matches:
            raise ValueError(
                f"clinical value '{self.name}' must be one of {', '.join(self.levels)}; got {text!r}"
            )
        return [1.0 if matches[0] == level else 0.0 for level in self.levels[1:]]

    def as_dict(self):
        """JSON form (model metadata and card)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "levels": list(self.levels),
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`as_dict`."""
        return cls(data["name"], data["kind"], tuple(data.get("levels", ())))


def clinical_variables(names, rows):
    """Infer each clinical column's kind from its cells: numeric when every cell is a number."""
    variables = []
    for name in names:
        cells = [row.clinical[name] for row in rows]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            values = None
        if values is not None and all(np.isfinite(values)):
            if np.std(values) == 0:
                raise CohortError(
                    f"clinical column '{name}' has one value for every case; drop it with --ignore-columns"
                )
            variables.append(ClinicalVariable(name, "numeric"))
            continue
        levels = {}
        for cell in cells:
            levels.setdefault(cell.lower(), cell)
        if len(levels) < 2:
            raise CohortError(
                f"clinical column '{name}' has one value for every case; drop it with --ignore-columns"
            )
        if len(levels) > MAX_LEVELS:
            raise CohortError(
                f"clinical column '{name}' has {len(levels)} different values (an identifier?); "
                f"drop it with --ignore-columns or make it numeric"
            )
        variables.append(ClinicalVariable(name, "categorical", tuple(sorted(levels.values(), key=str.lower))))
    return tuple(variables)


def encode_clinical(variables, values, where):
    """One row of clinical input values; :class:`CohortError` naming ``where`` on a bad cell."""
    out = []
    for variable in variables:
        try:
            out.extend(variable.encode(values.get(variable.name)))
        except ValueError as exc:
            raise CohortError(f"{where}: {exc}") from None
    return out

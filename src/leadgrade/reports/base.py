"""What every report shares: its parameters (audience, grouping, window), the rows it
returns, and the arithmetic of rates and quantiles. Pure: no store, no clock."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadgrade.times import utc

__all__ = [
    "Report",
    "ReportError",
    "ReportParams",
    "Section",
    "iso",
    "quantile",
    "rate",
]

DAY = 86400.0


class ReportError(ValueError):
    """A report asked for with parameters it cannot take; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReportParams:
    """Whose leads (``audience``; None: every audience), grouped by which dimensions
    (``by``, in order: one row per combination of their values), in which window
    (``since`` inclusive, ``until`` exclusive; epoch seconds). What the window selects is
    each report's to say (leads created in it, MQLs made in it, …)."""

    audience: str | None = None
    by: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None

    def check(self, allowed: Sequence[str]) -> None:
        for name in self.by:
            if name not in allowed:
                raise ReportError(
                    f"cannot group by {name!r} (choose from {', '.join(allowed)})", field="by"
                )
        if len(set(self.by)) != len(self.by):
            raise ReportError("a dimension is named twice", field="by")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ReportError("until must be after since", field="until")

    def public(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "by": list(self.by),
            "since": iso(self.since),
            "until": iso(self.until),
        }


@dataclass(frozen=True)
class Section:
    """Columns shown together in a table (the CSV and JSON have them all)."""

    title: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """A report's rows: one per group (the groups' dimension values first), and a total
    row whose dimension values are ``"(all)"``; extra figures in ``extra``."""

    name: str
    params: ReportParams
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    sections: tuple[Section, ...] = ()
    definitions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "report": self.name,
            **self.params.public(),
            "columns": list(self.columns),
            "rows": self.rows,
            **self.extra,
            "definitions": self.definitions,
        }


ALL = "(all)"
NONE = "(none)"


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator ÷ denominator``; None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def quantile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation between the closest ranks (what
    NumPy, pandas and spreadsheets give by default; the median at 0.5); None for no
    values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else utc(seconds).isoformat().replace("+00:00", "Z")


def month(seconds: float) -> str:
    """``2026-05``: a lead's cohort is the calendar month (UTC) it was created in."""
    return utc(seconds).strftime("%Y-%m")


def iso_week(seconds: float) -> str:
    """``2026-W22``: the ISO 8601 week (Monday to Sunday, UTC)."""
    year, week, _ = utc(seconds).isocalendar()
    return f"{year}-W{week:02d}"

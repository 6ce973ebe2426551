"""A report as text: rich tables (one per section), CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadgrade.reports.base import Report

__all__ = ["as_csv", "as_json", "print_tables"]


def _cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, report.columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in report.rows)
    return out.getvalue()


def as_json(report: Report) -> str:
    return json.dumps(report.public(), indent=2) + "\n"


def _shown(column: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if column.startswith(("days_", "hours_")):
            return f"{value:.1f}"
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _heading(column: str) -> str:
    return column.removeprefix("days_").replace("_to_", "→").replace("_", " ")


def print_tables(report: Report, console: Console) -> None:
    scope = report.params.audience or "all audiences"
    window = ""
    if report.params.since is not None or report.params.until is not None:
        p = report.params.public()
        window = f", {p['since'] or '…'} – {p['until'] or '…'}"
    if not report.rows:
        console.print(f"{report.name} ({scope}{window}): nothing to report", highlight=False)
        return
    for section in report.sections:
        table = Table(
            title=f"{report.name}: {section.title} ({scope}{window})", title_justify="left"
        )
        for column in section.columns:
            text = isinstance(report.rows[0].get(column), str)
            table.add_column(_heading(column), justify="left" if text else "right")
        for row in report.rows:
            table.add_row(*(_shown(c, row.get(c)) for c in section.columns))
        console.print(table)

"""Rendering scored leads: a rich table, CSV, JSON Lines, and the A1–D4 grid.

Points are shown in cents, rounded so that a lead's shown contributions add up to its shown
score (largest-remainder rounding, :func:`leadgrade.core.explain.apportion`), which is
what a person checking a score by hand expects.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import duckdb
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from leadgrade.batch.vector import Floats, ScoreTable
from leadgrade.cli.common import Format, is_terminal, iso
from leadgrade.core import Scorecard
from leadgrade.core.explain import explanation, shown
from leadgrade.core.model import ENGAGEMENT_DIGITS, FIT_LETTERS

COLUMNS = ("id", "audience", "fit", "engagement", "score", "grade", "mql", "reasons")


class Row(NamedTuple):
    id: str
    audience: str
    fit: float
    engagement: float
    score: float
    grade: str
    mql: bool
    reasons: list[str]


def reason_text(rule_id: str, points: float, events: int) -> str:
    if events > 1:
        return "%s %+.2f (%d events)" % (rule_id, points, events)
    return "%s %+.2f" % (rule_id, points)


def shown_points(table: ScoreTable) -> Floats:
    """Every lead's contributions in cents, apportioned as :func:`apportion` does, for all
    leads at once."""
    if not len(table):
        return np.zeros((0, len(table.columns)))
    values = table.points * 100.0
    floors = np.floor(values)
    total = np.round(np.asarray(table.score) * 100.0)
    short = total - floors.sum(axis=1)
    order = np.argsort(floors - values, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(values.shape[1])[None, :].repeat(len(values), 0), 1)
    shown: Floats = (floors + (rank < short[:, None])) / 100.0
    return shown


@dataclass
class _Shown:
    """What the CSV and table renderings show, as arrays: totals in cents and, per lead,
    the top reasons as (column name, points, events counted), largest first."""

    fit: Floats
    engagement: Floats
    score: Floats
    names: npt.NDArray[np.object_]  # leads × reasons
    points: Floats
    events: npt.NDArray[np.int64]


def _shown(table: ScoreTable, reasons: int) -> _Shown:
    shown = shown_points(table)
    fit_cols, width = table.fit_columns, len(table.columns)
    reason_cols = [c for c in range(width) if c not in (fit_cols - 1, width - 1)]
    fit = np.round(shown[:, :fit_cols].sum(axis=1), 2)
    score = np.round(shown.sum(axis=1), 2)
    candidates = shown[:, reason_cols]
    ranked = np.argsort(-np.abs(candidates), axis=1, kind="stable")[:, :reasons]
    return _Shown(
        fit=fit,
        engagement=np.round(score - fit, 2),
        score=score,
        names=np.array(table.columns, dtype=object)[reason_cols][ranked],
        points=np.take_along_axis(candidates, ranked, axis=1),
        events=np.take_along_axis(table.events_counted()[:, reason_cols], ranked, axis=1),
    )


def rows(table: ScoreTable, reasons: int) -> Iterator[Row]:
    """One row per lead, in input order."""
    shown = _shown(table, reasons)
    fits, engagements, scores = shown.fit.tolist(), shown.engagement.tolist(), shown.score.tolist()
    names, picked, counted = shown.names.tolist(), shown.points.tolist(), shown.events.tolist()
    audience, grades, mqls = table.model.audience, table.grade, table.mql
    for i, lead_id in enumerate(table.lead_ids):
        texts = [
            reason_text(name, points, events)
            for name, points, events in zip(names[i], picked[i], counted[i], strict=True)
            if points
        ]
        yield Row(lead_id, audience, fits[i], engagements[i], scores[i], grades[i], mqls[i], texts)


def write_csv(table: ScoreTable, handle: IO[str], reasons: int) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(
        (
            r.id,
            r.audience,
            r.fit,
            r.engagement,
            r.score,
            r.grade,
            "true" if r.mql else "false",
            "; ".join(r.reasons),
        )
        for r in rows(table, reasons)
    )


def write_csv_file(table: ScoreTable, path: Path, reasons: int) -> None:
    """What :func:`write_csv` writes, written by DuckDB: the same text, without a Python
    loop per lead (the batch path's output is a million-row file as often as not)."""
    shown = _shown(table, reasons)
    data: dict[str, object] = {
        "id": np.array(table.lead_ids, dtype=object),
        "fit": shown.fit,
        "engagement": shown.engagement,
        "score": shown.score,
        "grade": np.array(table.grade, dtype=object),
        "mql": np.array(table.mql, dtype=bool),
    }
    parts = []
    for k in range(shown.names.shape[1]):
        data[f"n{k}"], data[f"p{k}"], data[f"e{k}"] = (
            shown.names[:, k],
            shown.points[:, k],
            shown.events[:, k],
        )
        parts.append(
            f"CASE WHEN p{k} <> 0 THEN n{k} || ' ' || printf('%+.2f', p{k}) || "
            f"CASE WHEN e{k} > 1 THEN printf(' (%d events)', e{k}) ELSE '' END END"
        )
    # NULL, not '', for no reasons: DuckDB writes '' as "" and NULL as an empty cell.
    reasons_sql = f"nullif(concat_ws('; ', {', '.join(parts)}), '')" if parts else "NULL"
    con = duckdb.connect()
    try:
        con.register("scored", data)
        con.execute(
            "COPY (SELECT id, ?::VARCHAR AS audience, fit, engagement, score, grade, mql, "
            f"{reasons_sql} AS reasons FROM scored) TO ? (HEADER, DELIMITER ',')",
            [table.model.audience, str(path)],
        )
    finally:
        con.close()


def explanation_record(lead_id: str, card: Scorecard, reasons: int) -> dict[str, object]:
    """One lead as JSON: its numbers, top reasons and the whole explanation."""
    pairs = shown(card)
    fit = round(sum(p for c, p in pairs if c.kind == "fit"), 2)
    score = round(sum(p for _, p in pairs), 2)
    ranked = sorted(((c, p) for c, p in pairs if not c.clip and p), key=lambda cp: -abs(cp[1]))
    return {
        "id": lead_id,
        "audience": card.audience,
        "fit": fit,
        "engagement": round(score - fit, 2),
        "score": score,
        "grade": card.grade,
        "mql": card.mql,
        "reasons": [reason_text(c.rule_id, p, c.events) for c, p in ranked[:reasons]],
        "as_of": iso(card.at),
        "explanation": explanation(card),
    }


def write_jsonl(table: ScoreTable, handle: IO[str], reasons: int) -> None:
    for i, lead_id in enumerate(table.lead_ids):
        record = explanation_record(lead_id, table.scorecard(i), reasons)
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def leads_table(selected: list[Row], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (
        ("lead", "left"),
        ("fit", "right"),
        ("engagement", "right"),
        ("score", "right"),
        ("grade", "center"),
        ("MQL", "center"),
        ("top reasons", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in selected:
        table.add_row(
            row.id,
            f"{row.fit:.2f}",
            f"{row.engagement:.2f}",
            f"[bold]{row.score:.2f}[/]",
            row.grade,
            "[green]yes[/]" if row.mql else "",
            ", ".join(row.reasons),
        )
    return table


def grade_grid(table: ScoreTable, title: str | None = None) -> Table:
    """The 4×4 A1–D4 grid: leads per cell, and how many of them are MQLs."""
    return grid(table.grade, table.mql, title)


def grid(grades: Sequence[str], mqls: Sequence[bool], title: str | None = None) -> Table:
    """The 4×4 A1–D4 grid of leads with these grades, and how many are MQLs."""
    count = Counter(grades)
    mql = Counter(g for g, m in zip(grades, mqls, strict=True) if m)
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=True)
    table.add_column("fit \\ engagement", justify="center")
    for digit in ENGAGEMENT_DIGITS:
        table.add_column(digit, justify="right")
    table.add_column("all", justify="right")
    for letter in FIT_LETTERS:
        cells = []
        for digit in ENGAGEMENT_DIGITS:
            n, m = count[letter + digit], mql[letter + digit]
            cells.append((f"{n}" + (f"\n[green]{m} MQL[/]" if m else "")) if n else "[dim]·[/]")
        total = sum(count[letter + d] for d in ENGAGEMENT_DIGITS)
        table.add_row(f"[bold]{letter}[/]", *cells, str(total))
    totals = [str(sum(count[letter + d] for letter in FIT_LETTERS)) for d in ENGAGEMENT_DIGITS]
    table.add_row("all", *totals, f"{len(grades)}\n[green]{sum(mql.values())} MQL[/]")
    return table


def print_table(console: Console, table: ScoreTable, reasons: int, limit: int | None) -> None:
    """The leads with the highest scores, then the A1–D4 grid of all of them."""
    ranked = sorted(rows(table, reasons), key=lambda r: -r.score)
    selected = ranked if limit is None else ranked[:limit]
    audience = table.model.audience
    title = f"{audience} leads by score"
    if len(selected) < len(ranked):
        title += f" (top {len(selected)} of {len(ranked)}; write them all with -o FILE)"
    console.print(leads_table(selected, title))
    console.print(grade_grid(table, f"{audience}: leads per grade (A–D fit × 1–4 engagement)"))


def print_records(
    records: Sequence[dict[str, object]],
    fmt: Format,
    *,
    title: str,
    columns: Sequence[str],
    numeric: Sequence[str] = (),
) -> None:
    """Records (one dict a row, every key a column) to standard output: CSV or JSON Lines
    with every key, or a table of ``columns`` (``numeric`` ones right-aligned)."""
    if fmt is Format.csv:
        writer = csv.DictWriter(
            sys.stdout, list(records[0]) if records else ["id"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(records)
    elif fmt is Format.jsonl:
        for record in records:
            sys.stdout.write(json.dumps(record) + "\n")
    else:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, justify="right" if column in numeric else "left")
        for record in records:
            table.add_row(*("" if record[c] is None else str(record[c]) for c in columns))
        Console().print(table)


@contextmanager
def progress_bar(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on ``console`` (shown on a terminal only) and the ``(done, total)``
    callback that moves it."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not is_terminal(),
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update

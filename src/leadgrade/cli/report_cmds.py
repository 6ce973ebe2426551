"""``leadgrade report``: reports by name. ``fairness``: MQL and placement rates by
self-identified group, and impact ratios (the four-fifths rule); ``funnel``, ``grades``,
``sla``, ``volume`` and ``diagnostics`` (:mod:`leadgrade.reports`)."""

from __future__ import annotations

import csv
import enum
import json
import sys
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadgrade.cli.audit_cmds import parse_when
from leadgrade.cli.common import fail, iso, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _opened
from leadgrade.fairness import (
    DemographicsError,
    FairnessReport,
    FairnessTable,
    StepFigures,
    Thresholds,
    fairness_report,
    parse_by,
)
from leadgrade.reports import KINDS, ReportError, ReportParams, make_report
from leadgrade.reports.render import as_csv, as_json, print_tables

report_app = typer.Typer(
    help="Reports: funnel, grades, sla, volume, diagnostics, fairness.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


class ReportFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


CSV_COLUMNS = (
    "by",
    "group",
    "disclosed",
    "leads",
    "mqls",
    "mql_rate",
    "mql_impact_ratio",
    "mql_p_value",
    "mql_status",
    "placements",
    "placement_rate",
    "placement_impact_ratio",
    "placement_p_value",
    "placement_status",
)


@report_app.command("fairness")
def fairness(
    audience: Annotated[str, typer.Option(help="Whose leads.")] = "candidate",
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="A demographic field (sex), or fields joined by commas for their "
            "intersection (sex,race_ethnicity); repeatable, one table each (default: every "
            "usual field anyone has a value for)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only leads created at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only leads created before this time (ISO 8601).")
    ] = None,
    min_group: Annotated[
        int, typer.Option(help="A group with fewer leads is too small to judge.", min=1)
    ] = Thresholds.min_group,
    min_selected: Annotated[
        int,
        typer.Option(
            help="Fewer selections in a group and the reference together: too few to judge.",
            min=0,
        ),
    ] = Thresholds.min_selected,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output format: table, csv or json.")
    ] = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """MQL and placement rates by self-identified group, and each group's impact ratio
    against the highest-rate group: under 0.8 is adverse (the four-fifths rule)."""
    try:
        fields = None if not by else [parse_by(text) for text in by]
    except DemographicsError as exc:
        fail(f"--by: {exc}")
    start, end = parse_when("--since", since), parse_when("--until", until)
    if start is not None and end is not None and start >= end:
        fail("--until must be after --since")
    _, engine = _opened(workspace, db)
    if audience not in engine.models:
        engine.store.close()
        fail(f"--audience {audience!r}: known audiences are {', '.join(sorted(engine.models))}")
    thresholds = Thresholds(min_group=min_group, min_selected=min_selected)
    with engine.store.engine.connect() as conn:
        made = fairness_report(
            conn,
            datetime.now(UTC).timestamp(),
            audience=audience,
            by=fields,
            since=start,
            until=end,
            thresholds=thresholds,
        )
    engine.store.close()
    if not made.tables:
        stderr().print(
            "no demographics recorded: load them with `leadgrade demographics import`",
            highlight=False,
        )
    if output_format is ReportFormat.json:
        sys.stdout.write(json.dumps(made.public(), indent=2) + "\n")
    elif output_format is ReportFormat.csv:
        writer = csv.DictWriter(sys.stdout, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_csv_rows(made))
    else:
        console = Console()
        for table in made.tables:
            console.print(_table(made, table))


def _csv_rows(made: FairnessReport) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for table in made.tables:
        for group in table.groups:
            row: dict[str, object] = {
                "by": ",".join(table.by),
                "group": group.counts.group,
                "disclosed": group.counts.disclosed,
                "leads": group.counts.leads,
                "mqls": group.counts.mqls,
                "placements": group.counts.placements,
            }
            for step in ("mql", "placement"):
                figures = group.step(step)
                row[f"{step}_rate"] = figures.rate
                row[f"{step}_impact_ratio"] = figures.impact_ratio
                row[f"{step}_p_value"] = figures.p_value
                row[f"{step}_status"] = figures.status
            rows.append(row)
    return rows


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _ratio(figures: StepFigures) -> str:
    if figures.impact_ratio is None:
        return "—" if figures.status == "not disclosed" else figures.status
    shown = f"{figures.impact_ratio:.3f}"
    return shown if figures.status == "ok" else f"{shown} {figures.status}"


def _p(figures: StepFigures) -> str:
    return "" if figures.p_value is None else f"{figures.p_value:.3g}"


def _table(made: FairnessReport, table: FairnessTable) -> Table:
    window = ""
    if made.since is not None or made.until is not None:
        window = f", created {iso(made.since) if made.since else '…'} – "
        window += iso(made.until) if made.until else "…"
    t = made.thresholds
    shown = Table(
        title=f"{made.audience} leads by {' × '.join(table.by)}{window}",
        title_justify="left",
        caption=(
            "impact ratio: the group's rate ÷ the highest rate (the reference); adverse: "
            f"under {t.impact_ratio:g} (the four-fifths rule); too small: under "
            f"{t.min_group} leads; too few selected: under {t.min_selected} with the "
            "reference; p: Fisher's exact test against the reference"
        ),
        caption_justify="left",
    )
    for column in ("group", "leads", "MQLs", "MQL rate", "MQL impact", "MQL p"):
        shown.add_column(column, justify="left" if column == "group" else "right")
    for column in ("placed", "placement rate", "placement impact", "placement p"):
        shown.add_column(column, justify="right")
    for group in table.groups:
        c = group.counts
        shown.add_row(
            escape(c.group),
            f"{c.leads:,}",
            f"{c.mqls:,}",
            _percent(group.mql.rate),
            _ratio(group.mql),
            _p(group.mql),
            f"{c.placements:,}",
            _percent(group.placement.rate),
            _ratio(group.placement),
            _p(group.placement),
        )
    return shown


# ------------------------------------------- funnel, grades, sla, volume, diagnostics

AudienceOption = Annotated[
    str | None, typer.Option(help="Only this audience's leads (default: every audience).")
]
SinceOption = Annotated[str | None, typer.Option(help="Only from this time on (ISO 8601).")]
UntilOption = Annotated[str | None, typer.Option(help="Only before this time (ISO 8601).")]
FormatOption = Annotated[
    ReportFormat, typer.Option("--format", "-f", help="Output format: table, csv or json.")
]


def _by_option(kind: str) -> typing.Any:
    dimensions = ", ".join(KINDS[kind].dimensions)
    return typer.Option(
        help=f"Group by {dimensions}; repeat, or join with commas, to group by several."
    )


def _run(
    name: str,
    audience: str | None,
    by: list[str] | None,
    since: str | None,
    until: str | None,
    output_format: ReportFormat,
    workspace: Path | None,
    db: str | None,
) -> None:
    dimensions = tuple(
        part.strip() for text in by or () for part in text.split(",") if part.strip()
    )
    start, end = parse_when("--since", since), parse_when("--until", until)
    params = ReportParams(audience, dimensions, start, end)
    _, engine = _opened(workspace, db)
    try:
        with engine.store.engine.connect() as conn:
            made = make_report(name, conn, params, datetime.now(UTC).timestamp(), engine.models)
    except ReportError as exc:
        fail(f"--{exc.field}: {exc}")
    finally:
        engine.store.close()
    if output_format is ReportFormat.json:
        sys.stdout.write(as_json(made))
    elif output_format is ReportFormat.csv:
        sys.stdout.write(as_csv(made))
    else:
        print_tables(made, Console())


@report_app.command("funnel")
def funnel(
    audience: AudienceOption = None,
    by: Annotated[list[str] | None, _by_option("funnel")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: FormatOption = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Leads reaching each stage, conversion between stages, sales acceptance, MQL→SQL
    and days between stages, for leads created in the window."""
    _run("funnel", audience, by, since, until, output_format, workspace, db)


@report_app.command("grades")
def grades(
    audience: AudienceOption = None,
    by: Annotated[list[str] | None, _by_option("grades")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: FormatOption = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Leads, MQLs and conversion per A1–D4 cell (the grade at MQL time), for leads
    created in the window."""
    _run("grades", audience, by, since, until, output_format, workspace, db)


@report_app.command("sla")
def sla(
    audience: AudienceOption = None,
    by: Annotated[list[str] | None, _by_option("sla")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: FormatOption = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Time to first touch, the share touched within the SLA, and breaches, by team and
    owner, for assignments made in the window."""
    _run("sla", audience, by, since, until, output_format, workspace, db)


@report_app.command("volume")
def volume(
    audience: AudienceOption = None,
    by: Annotated[list[str] | None, _by_option("volume")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: FormatOption = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """MQLs made per ISO week, by audience and source, for MQLs made in the window."""
    _run("volume", audience, by, since, until, output_format, workspace, db)


@report_app.command("diagnostics")
def diagnostics(
    audience: AudienceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: FormatOption = ReportFormat.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Warnings about the models with the numbers behind them: low sales acceptance,
    thin volume that all closes, grade cells out of order, rules that never fire."""
    _run("diagnostics", audience, None, since, until, output_format, workspace, db)

"""``leadgrade audit`` (the audit log) and ``leadgrade demographics import`` (the
self-identified data the fairness report reads)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadgrade.audit import ACTIONS, entries
from leadgrade.batch.files import parse_time
from leadgrade.batch.score import counted
from leadgrade.cli.common import Format, fail, iso, stderr
from leadgrade.cli.engine_cmds import ActorOption, DatabaseOption, WorkspaceOption
from leadgrade.fairness import DemographicsError, import_demographics
from leadgrade.store import Store
from leadgrade.workspace import Workspace, WorkspaceError

COLUMNS = ("id", "at", "actor", "action", "subject", "details")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
    app.add_typer(demographics_app, name="demographics")


def open_store(workspace: Path | None, db: str | None) -> Store:
    """The workspace's store (or ``--db``'s); exit 2 with the reason when there is none."""
    try:
        return Workspace.find(workspace).open_store(db)
    except WorkspaceError as exc:
        fail(str(exc))


def parse_when(option: str, text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 date or time given to ``option`` (UTC when no offset
    is given); exit 2 when it is not one."""
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 date or time, e.g. 2026-10-01T00:00:00Z")


def audit(
    action: Annotated[
        str | None,
        typer.Option(
            help="Only this action, or every action under a prefix ending in a dot "
            f"(model.). Actions: {', '.join(ACTIONS)}."
        ),
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only entries about this (a lead, key or version id).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only entries before this time (ISO 8601).")
    ] = None,
    output_format: Annotated[
        Format, typer.Option("--format", "-f", help="Output format: table, csv or jsonl.")
    ] = Format.table,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Show the audit log, oldest first: who created and activated model versions, moved
    leads by hand, created and revoked API keys, exported and erased people."""
    if action is not None and not action.endswith(".") and action not in ACTIONS:
        fail(f"--action {action!r} is not an action; use one of {', '.join(ACTIONS)}")
    start, end = parse_when("--since", since), parse_when("--until", until)
    store = open_store(workspace, db)
    with store.engine.connect() as conn:
        found = entries(conn, action=action, subject=subject, since=start, until=end)
    store.close()
    records = [entry.public() for entry in found]
    if output_format is Format.jsonl:
        for record in records:
            sys.stdout.write(json.dumps(record) + "\n")
        return
    for record in records:
        record["details"] = json.dumps(record["details"], sort_keys=True)
    if output_format is Format.csv:
        writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    title = f"{len(found):,} audit {'entry' if len(found) == 1 else 'entries'}, oldest first"
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column == "id" else "left")
    for entry in found:
        table.add_row(
            str(entry.id),
            iso(float(int(entry.at))),
            escape(entry.actor),
            entry.action,
            escape(entry.subject or ""),
            escape(_brief(entry.details)),
        )
    Console().print(table)


def _brief(details: dict[str, object]) -> str:
    """Details for the eye: ``key=value, …`` with long values cut (CSV and JSON Lines
    have them whole)."""
    shown = []
    for key, value in details.items():
        text = value if isinstance(value, str) else json.dumps(value)
        shown.append(f"{key}={text if len(text) <= 24 else text[:23] + '…'}")
    return ", ".join(shown)


demographics_app = typer.Typer(
    help="Self-identified demographics, kept apart from scoring, for the fairness report.",
    no_args_is_help=True,
)


@demographics_app.command("import")
def demographics_import(
    demographics_file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file: person_id or email, optionally collected_at, and a column for "
            "each field (race_ethnicity, sex, age_band, veteran, disability, …).",
            exists=True,
            dir_okay=False,
        ),
    ],
    skip_unknown: Annotated[
        bool,
        typer.Option(
            "--skip-unknown", help="Report rows naming no known person and go on (default: stop)."
        ),
    ] = False,
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Load people's self-identified demographics; each row replaces its person's record.
    No score reads them: only `leadgrade report fairness` does."""
    store = open_store(workspace, db)
    now = datetime.now(UTC).timestamp()
    try:
        with store.transaction() as conn:
            stored, skipped = import_demographics(
                conn, demographics_file, now, actor=actor, skip_unknown=skip_unknown
            )
    except DemographicsError as exc:
        fail(escape(f"{exc}; nothing was stored"))
    finally:
        store.close()
    console = stderr()
    for bad in skipped:
        console.print(f"skipped {escape(str(bad))}", highlight=False)
    console.print(
        f"{stored:,} {'person' if stored == 1 else 'people'} recorded"
        + (f", {counted(len(skipped), 'row')} skipped" if skipped else ""),
        highlight=False,
    )

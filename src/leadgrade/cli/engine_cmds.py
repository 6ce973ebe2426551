"""``leadgrade ingest`` and ``leadgrade leads``: the engine from the command line."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from leadgrade.batch.files import BadRow
from leadgrade.batch.score import counted
from leadgrade.cli.common import Format, FormatOption, fail, iso, stderr
from leadgrade.core import EngagementState, ModelError
from leadgrade.core.attributes import enrich
from leadgrade.engine import STAGES, Engine, EventIn
from leadgrade.ingest_files import read_event_inputs
from leadgrade.store.schema import leads, people
from leadgrade.workspace import Workspace, WorkspaceError

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        help="Workspace folder (default: $LEADGRADE_WORKSPACE, or the current folder or a parent).",
        envvar="LEADGRADE_WORKSPACE",
        file_okay=False,
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: the workspace's, or $LEADGRADE_DATABASE_URL)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("leads")(list_leads)


def _engine(workspace: Path | None, db: str | None) -> Engine:
    try:
        return Workspace.find(workspace).engine(db)
    except (WorkspaceError, ModelError) as exc:
        fail(str(exc))


def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(help="Events files (.csv or .jsonl).", exists=True, dir_okay=False),
    ],
    batch_size: Annotated[
        int, typer.Option(help="Events stored and scored per transaction.", min=1, max=10_000)
    ] = 1000,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Report bad rows and go on instead of stopping.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Store events and score their leads. Idempotent: each event's id is its key, so an
    interrupted import is resumed by running it again.

    Each row needs id, type, occurred_at, and its person: person_id, email, anonymous_id,
    or external_system and external_id. A bad row stops the import with exit 2 before
    its batch is stored (batches before it are kept); --skip-bad-rows reports it instead.
    """
    engine = _engine(workspace, db)
    console = stderr()
    totals = {"accepted": 0, "duplicates": 0, "mqls": 0, "bad": 0}

    def report_bad(bad: BadRow) -> None:
        totals["bad"] += 1
        console.print(f"[yellow]skipped {bad}[/]", markup=True, highlight=False)

    def flush(batch: list[EventIn]) -> None:
        now = datetime.now(UTC).timestamp()
        try:
            result = engine.ingest(batch, now)
        except ValueError as exc:
            fail(str(exc))
        totals["accepted"] += result.accepted
        totals["duplicates"] += result.duplicates
        totals["mqls"] += sum(type(e).__name__ == "LeadBecameMQL" for e in result.domain_events)

    for path in files:
        batch: list[EventIn] = []
        try:
            for event in read_event_inputs(path, report_bad if skip_bad_rows else None):
                batch.append(event)
                if len(batch) >= batch_size:
                    flush(batch)
                    batch = []
        except BadRow as bad:
            if batch:
                pass  # the bad row's batch is not stored: rerun after fixing the file
            fail(f"{bad} (events before this batch were stored; fix the row and run again)")
        if batch:
            flush(batch)
    console.print(
        f"{counted(totals['accepted'], 'event')} stored, "
        f"{counted(totals['duplicates'], 'replay')} ignored, "
        f"{counted(totals['mqls'], 'new MQL')}"
        + (f", {counted(totals['bad'], 'bad row')} skipped" if totals["bad"] else ""),
        highlight=False,
    )
    engine.store.close()


def list_leads(
    audience: Annotated[str | None, typer.Option(help="Only this audience.")] = None,
    stage: Annotated[
        str | None, typer.Option(help=f"Only this stage: {', '.join(STAGES)}.")
    ] = None,
    grade: Annotated[str | None, typer.Option(help="Only this grade (A1 … D4).")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Only leads scoring at least this now.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many leads, best first.", min=1)] = 50,
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List leads with their score now (engagement decayed to this moment), best first."""
    if stage is not None and stage not in STAGES:
        fail(f"--stage {stage!r} is not a stage; use one of {', '.join(STAGES)}")
    engine = _engine(workspace, db)
    now = datetime.now(UTC).timestamp()
    query = sa.select(leads, people.c.attributes).join(people, people.c.id == leads.c.person_id)
    if audience is not None:
        query = query.where(leads.c.audience == audience)
    if stage is not None:
        query = query.where(leads.c.stage == stage)
    records: list[dict[str, object]] = []
    with engine.store.engine.connect() as conn:
        for row in conn.execute(query):
            model = engine.models.get(row.audience)
            if model is None:
                continue
            state = (
                EngagementState.from_dict(model, row.state)
                if row.model_digest == model.digest
                else None
            )
            attributes = enrich(row.attributes)
            if state is None:
                card_score, card_grade, fit, engagement = (
                    row.score,
                    row.grade,
                    row.fit,
                    row.engagement,
                )
            else:
                at = max(now, state.as_of or now)
                card = state.scorecard(model, attributes, at)
                card_score, card_grade, fit, engagement = (
                    card.score,
                    card.grade,
                    card.fit,
                    card.engagement,
                )
            if grade is not None and card_grade != grade:
                continue
            if min_score is not None and card_score < min_score:
                continue
            records.append(
                {
                    "id": row.id,
                    "person_id": row.person_id,
                    "email": attributes.get("email"),
                    "audience": row.audience,
                    "fit": round(fit, 2),
                    "engagement": round(engagement, 2),
                    "score": round(card_score, 2),
                    "grade": card_grade,
                    "stage": row.stage,
                    "owner": row.owner,
                    "updated_at": iso(row.updated_at.replace(tzinfo=UTC).timestamp()),
                }
            )
    engine.store.close()
    records.sort(key=lambda r: -float(r["score"]))  # type: ignore[arg-type]
    records = records[:limit]
    fmt = output_format or Format.table
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
        table = Table(title=f"{counted(len(records), 'lead')} by score now", title_justify="left")
        for column in ("email", "audience", "fit", "engagement", "score", "grade", "stage"):
            table.add_column(
                column, justify="right" if column in ("fit", "engagement", "score") else "left"
            )
        for record in records:
            table.add_row(
                *(
                    str(record[c] if record[c] is not None else "")
                    for c in ("email", "audience", "fit", "engagement", "score", "grade", "stage")
                )
            )
        Console().print(table)

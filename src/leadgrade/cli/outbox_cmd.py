"""``leadgrade outbox``: deliver notifications, look at the queue, revive dead letters."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from leadgrade.batch.score import counted
from leadgrade.cli.common import Format, FormatOption, fail, iso, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption
from leadgrade.cli.output import print_records
from leadgrade.handoff.delivery import STATUSES, Outbox, Report
from leadgrade.workspace import Workspace, WorkspaceError

outbox_app = typer.Typer(
    help="Notifications: deliver them, list them, send dead letters again.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


def _outbox(workspace: Path | None, db: str | None) -> Outbox:
    """The workspace's outbox; exit 2 with the reason when there is no workspace."""
    try:
        found = Workspace.find(workspace)
        settings = found.settings()
    except WorkspaceError as exc:
        fail(str(exc))
    return Outbox(found.open_store(db), settings.notifications)


def _said(report: Report) -> str:
    return (
        f"{counted(report.delivered, 'message')} delivered, "
        f"{report.retried:,} to try again, {counted(report.dead, 'dead letter')}"
    )


@outbox_app.command("run")
def run(
    once: Annotated[
        bool,
        typer.Option("--once", help="Deliver until nothing is due, then stop (for cron)."),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Deliver due notifications, trying failed ones again with backoff; keeps running
    (looking every [notifications] poll seconds) unless --once. `serve` does this itself."""
    outbox = _outbox(workspace, db)
    console = stderr()
    try:
        if once:
            console.print(_said(outbox.drain()), highlight=False)
            return
        while True:
            report = outbox.deliver_due(time.time())
            if report.claimed:
                console.print(_said(report), highlight=False)
            if report.claimed < outbox.batch:
                time.sleep(outbox.settings.poll)
    except KeyboardInterrupt:
        pass  # what was sent is recorded; what was claimed is sent again after its lease
    finally:
        outbox.close()
        outbox.store.close()


@outbox_app.command("list")
def list_messages(
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List notifications, newest first: where each goes, its status, attempts and last
    error; a count of every destination's messages by status follows on stderr."""
    if status is not None and status not in STATUSES:
        fail(f"--status {status!r} is not a status; use one of {', '.join(STATUSES)}")
    outbox = _outbox(workspace, db)
    entries = outbox.entries(status=status, destination=destination, limit=limit)
    counts = outbox.counts()
    outbox.store.close()
    records: list[dict[str, object]] = []
    for entry in entries:
        record = entry.record()
        for key in ("next_attempt_at", "created_at", "delivered_at"):
            value = record[key]
            record[key] = iso(value) if isinstance(value, float) else None
        records.append(record)
    print_records(
        records,
        output_format or Format.table,
        title=f"{counted(len(records), 'message')}, newest first",
        columns=("id", "destination", "event_type", "status", "attempts", "last_error"),
        numeric=("attempts",),
    )
    for name in sorted({d for d, _ in counts}):
        shown = ", ".join(f"{s} {counts.get((name, s), 0):,}" for s in STATUSES)
        stderr().print(f"{name}: {shown}", highlight=False)


@outbox_app.command("retry")
def retry(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Dead letters to send again (ids from `outbox list`)."),
    ] = None,
    destination: Annotated[
        str | None, typer.Option(help="Only the dead letters of this destination.")
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Send dead letters again: those named, those of --destination, or all of them. They
    go back in the queue with their attempts reset, due now."""
    outbox = _outbox(workspace, db)
    known = {d.name for d in outbox.settings.destinations()}
    if destination is not None and destination not in known:
        fail(
            escape(
                f"--destination {destination!r} is not in [notifications]; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        )
    if ids:
        dead = {e.id for e in outbox.entries(status="dead", ids=ids, limit=None)}
        missing = [i for i in ids if i not in dead]
        if missing:
            fail(f"not dead letters: {', '.join(missing)}")
    revived = outbox.retry_dead(
        datetime.now(UTC).timestamp(), destination=destination, ids=ids or None
    )
    outbox.store.close()
    stderr().print(
        f"{counted(revived, 'dead letter')} queued again; `leadgrade outbox run --once` or "
        "`leadgrade serve` delivers them",
        highlight=False,
    )

"""``leadgrade segments``: nurture segments — list, lint, members, export, refresh."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from leadgrade.batch.score import counted
from leadgrade.cli.common import Format, FormatOption, fail, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _opened
from leadgrade.cli.output import print_records, progress_bar
from leadgrade.core import ModelError
from leadgrade.core.segments import audience_kind, check_segments
from leadgrade.engine import STAGES, Engine
from leadgrade.handoff.segments import MEMBER_SORTS, SEGMENTS_FILE, Member, Segments, write_csv
from leadgrade.workspace import Workspace, WorkspaceError, read_lists

segments_app = typer.Typer(
    help="Nurture segments: list, lint, members, export, refresh.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")


def _loaded(workspace: Path | None, db: str | None) -> tuple[Engine, Segments]:
    """The engine and the segments kept current on it; exit 2 with the first problem if
    the segments file does not load."""
    found, engine = _opened(workspace, db)
    segments = Segments.of(engine)
    if segments is None:
        try:
            segments = found.segments(engine)
        except WorkspaceError as exc:
            fail(str(exc))
    return engine, segments


def _members(engine: Engine, segments: Segments, segment_id: str) -> list[Member]:
    if segment_id not in segments.by_id:
        known = ", ".join(sorted(segments.by_id)) or "none are defined"
        fail(f"no segment {segment_id!r} (segments: {known})")
    with engine.store.engine.connect() as conn:
        return segments.members(conn, segment_id, datetime.now(UTC).timestamp())


@segments_app.command("list")
def list_segments(
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List the workspace's segments: audience, members now, conditions in words."""
    engine, segments = _loaded(workspace, db)
    with engine.store.engine.connect() as conn:
        counts = segments.counts(conn)
    engine.store.close()
    records: list[dict[str, object]] = [
        {
            "id": segment.id,
            "name": segment.name,
            "audience": segment.audience,
            "members": counts.get(segment.id, 0),
            "conditions": segment.describe(),
        }
        for segment in segments.segments
    ]
    print_records(
        records,
        output_format or Format.table,
        title=f"{counted(len(records), 'segment')} ({SEGMENTS_FILE})",
        columns=("id", "audience", "members", "conditions"),
        numeric=("members",),
    )


@segments_app.command("lint")
def lint(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The segments file (default: the workspace's segments.yaml).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Check a segments file: shape, stages, grades, audiences, named lists and the
    compliance guardrails (no protected attributes; no ZIP or postal code for candidates).

    Exits 0 when the file is valid (warnings allowed), 1 when it has errors; each problem
    is printed as FILE:LINE: KEY: MESSAGE.
    """
    found: Workspace | None = None
    try:
        found = Workspace.find(workspace if file is None else (workspace or file.resolve().parent))
    except WorkspaceError as exc:
        if file is None:
            fail(str(exc))
    if file is None:
        assert found is not None
        file = found.root / SEGMENTS_FILE
        if not file.is_file():
            fail(f"no {SEGMENTS_FILE} in {found.root}")
    audiences = None
    lists = read_lists(file.resolve().parent / "lists")
    if found is not None:
        lists = found.lists()
        try:
            audiences = {name: model.kind for name, model in found.models().items()}
        except (ModelError, WorkspaceError):  # a broken model: its kind by its name
            audiences = {name: audience_kind(name) for name in found.settings().audiences}
    parsed, problems = check_segments(
        file.read_text(encoding="utf-8"), str(file), stages=STAGES, audiences=audiences, lists=lists
    )
    console = stderr()
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{problem}[/]", markup=True, highlight=False)
    if parsed is None:
        console.print(f"[bold red]✗[/] {file}: invalid", markup=True)
        raise typer.Exit(1)
    console.print(
        f"[bold green]✓[/] {file}: {counted(len(parsed), 'segment')}"
        + (f" ({', '.join(s.id for s in parsed)})" if parsed else ""),
        markup=True,
        highlight=False,
    )


@segments_app.command("members")
def members(
    segment_id: Annotated[str, typer.Argument(help="The segment's id (from `segments list`).")],
    sort: Annotated[
        str, typer.Option(help="Order: score (now, highest first) or entered (newest first).")
    ] = "score",
    limit: Annotated[
        int, typer.Option(help="At most this many members, in that order.", min=1)
    ] = 50,
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List a segment's members with their numbers now and when they entered."""
    if sort not in MEMBER_SORTS:
        fail(f"--sort {sort!r}: use one of {', '.join(MEMBER_SORTS)}")
    engine, segments = _loaded(workspace, db)
    found = _members(engine, segments, segment_id)
    engine.store.close()
    found.sort(key=MEMBER_SORTS[sort])
    records = []
    for member in found[:limit]:
        record = member.item()
        for key in ("fit", "engagement", "score"):
            record[key] = round(record[key], 2)
        records.append(record)
    print_records(
        records,
        output_format or Format.table,
        title=f"{segment_id}: {counted(len(found), 'member')}"
        + (f", the first {len(records)} by {sort}" if len(records) < len(found) else ""),
        columns=("id", "email", "score", "grade", "stage", "entered_at"),
        numeric=("score",),
    )


@segments_app.command("export")
def export(
    segment_id: Annotated[str, typer.Argument(help="The segment's id (from `segments list`).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this CSV file (default: standard output)."),
    ] = None,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain", help="Write e-mails as they are instead of their SHA-256 (keep it private)."
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Write a segment's members as CSV for an ad platform's custom audience: lead id,
    audience, score, grade, stage, entered_at and the SHA-256 of the normalised e-mail."""
    engine, segments = _loaded(workspace, db)
    found = _members(engine, segments, segment_id)
    engine.store.close()
    found.sort(key=lambda member: (member.entered_at, member.lead.id))
    if output is None:
        write_csv(found, sys.stdout, plain=plain)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        write_csv(found, handle, plain=plain)
    stderr().print(f"wrote {counted(len(found), 'member')} of {segment_id} to {output}")


@segments_app.command("refresh")
def refresh(workspace: WorkspaceOption = None, db: DatabaseOption = None) -> None:
    """Evaluate every lead against the segments now (after segments.yaml changed):
    entries and exits are recorded and sent as segment.entered and segment.left."""
    engine, segments = _loaded(workspace, db)
    console = stderr()
    with progress_bar(console, "refreshing segments") as progress:
        changes = segments.refresh_all(
            engine.store, datetime.now(UTC).timestamp(), progress=progress
        )
    engine.store.close()
    console.print(
        f"{counted(changes.leads, 'lead')} evaluated: {len(changes.entered):,} entered, "
        f"{len(changes.left):,} left",
        highlight=False,
    )

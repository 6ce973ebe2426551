"""``leadgrade score``: score a leads file (and its events) with one model."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from leadgrade.batch.files import BadRow
from leadgrade.batch.score import counted, score_files
from leadgrade.batch.vector import ScoreTable
from leadgrade.cli.common import Format, FormatOption, fail, is_terminal, iso, parse_as_of, stderr
from leadgrade.cli.output import print_table, write_csv, write_csv_file, write_jsonl
from leadgrade.core import Model, ModelError
from leadgrade.workspace import Workspace, WorkspaceError, lists_for, load_model

#: Bad rows printed one by one with --skip-bad-rows before only counting the rest.
BAD_ROWS_SHOWN = 20
#: An events file at least this big gets a progress bar (on a terminal).
PROGRESS_BYTES = 1 << 20


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def resolve_model(name: str, workspace_path: Path | None) -> Model:
    """``name`` is a model file, or an audience of the workspace."""
    path = Path(name)
    try:
        workspace = Workspace.find(workspace_path) if workspace_path or not path.is_file() else None
        if path.is_file():
            return load_model(path, lists_for(path, workspace))
        assert workspace is not None
        return workspace.model(name)
    except ModelError as exc:
        fail(f"the model does not load:\n{exc}")
    except WorkspaceError as exc:
        fail(f"--model {name!r} is neither a model file nor an audience: {exc}")


def score(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model file, or an audience of the workspace.")
    ],
    leads: Annotated[
        Path,
        typer.Option(
            help="Leads file (.csv or .jsonl); every column is an attribute.",
            exists=True,
            dir_okay=False,
        ),
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            help="Events file (.csv or .jsonl): id, lead_id, type, occurred_at, and "
            "properties as a JSON 'properties' column or extra columns.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    id_column: Annotated[str, typer.Option("--id", help="The leads file's id column.")] = "id",
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this ISO 8601 time (default: now, UTC).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this .csv or .jsonl file.")
    ] = None,
    output_format: FormatOption = None,
    reasons: Annotated[int, typer.Option(help="Top reasons per lead.", min=0)] = 3,
    limit: Annotated[
        int, typer.Option(help="Leads listed by --format table (highest scores first).", min=1)
    ] = 50,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Report bad rows and go on instead of stopping.")
    ] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            help="Workspace folder (default: $LEADGRADE_WORKSPACE, or the current "
            "folder or a parent).",
            envvar="LEADGRADE_WORKSPACE",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Score leads with a model: fit, engagement, score, A1–D4 grade, MQL, top reasons.

    A bad row stops the run with exit 2, naming the file, line and column; with
    --skip-bad-rows it is reported and skipped. Events replayed with an id already seen
    count once.
    """
    fmt = _output_format(output, output_format)
    scoring_model = resolve_model(model, workspace)
    at = parse_as_of(as_of)
    console = stderr()
    bad_seen = 0

    def report_bad(bad: BadRow) -> None:
        nonlocal bad_seen
        bad_seen += 1
        if bad_seen <= BAD_ROWS_SHOWN:
            console.print(f"[yellow]skipped {bad}[/]", markup=True, highlight=False)

    with ExitStack() as stack:
        progress = None
        if events is not None and is_terminal() and events.stat().st_size >= PROGRESS_BYTES:
            bar = stack.enter_context(
                Progress(
                    TextColumn("scoring {task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                )
            )
            task = bar.add_task(events.name, total=events.stat().st_size)

            def progress(done: int) -> None:
                bar.update(task, completed=done)

        try:
            scored, stats = score_files(
                scoring_model,
                leads,
                events,
                at,
                id_column=id_column,
                on_bad=report_bad if skip_bad_rows else None,
                progress=progress,
                with_event_ids=fmt is Format.jsonl,
            )
        except BadRow as bad:
            hint = " (use --skip-bad-rows to report and skip bad rows)" if bad.skippable else ""
            fail(f"{bad}{hint}")

    if bad_seen > BAD_ROWS_SHOWN:
        console.print(
            f"[yellow]… and {bad_seen - BAD_ROWS_SHOWN} more bad rows skipped[/]", markup=True
        )
    if output is not None and fmt is Format.csv:
        write_csv_file(scored, output, reasons)
    elif output is not None:
        with output.open("w", encoding="utf-8", newline="") as handle:
            _write(fmt, scored, handle, reasons)
    elif fmt is Format.table:
        print_table(Console(), scored, reasons, limit)
    else:
        _write(fmt, scored, sys.stdout, reasons)
    mqls = sum(scored.mql)
    console.print(
        f"{scoring_model.audience}: {stats.summary()}; {counted(mqls, 'MQL')}; as of {iso(at)}"
        + (f"; wrote {output}" if output else ""),
        highlight=False,
    )


def _output_format(output: Path | None, given: Format | None) -> Format:
    if output is None:
        return given or Format.table
    suffix = output.suffix.lower()
    inferred = {".csv": Format.csv, ".jsonl": Format.jsonl, ".ndjson": Format.jsonl}.get(suffix)
    if given is None and inferred is None:
        fail(f"--output {output}: cannot tell the format from {suffix!r}; use .csv or .jsonl")
    fmt = given or inferred
    assert fmt is not None
    if fmt is Format.table:
        fail("--format table prints to the terminal; write a file with csv or jsonl")
    return fmt


def _write(fmt: Format, scored: ScoreTable, handle: IO[str], reasons: int) -> None:
    if fmt is Format.csv:
        write_csv(scored, handle, reasons)
    else:
        write_jsonl(scored, handle, reasons)

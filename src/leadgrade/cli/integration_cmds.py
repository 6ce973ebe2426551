"""``leadgrade integrations bullhorn|jobvite poll`` and ``leadgrade import``: the
recruiting integrations from the command line (docs/integrations.md)."""

from __future__ import annotations

import enum
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import httpx2 as httpx
import typer

from leadgrade.cli.common import fail, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _opened
from leadgrade.cli.output import progress_bar
from leadgrade.integrations.apply import Outcome

integrations_app = typer.Typer(
    help="Recruiting integrations: the Bullhorn and Jobvite pollers.", no_args_is_help=True
)
bullhorn_app = typer.Typer(help="Bullhorn's event subscription.", no_args_is_help=True)
jobvite_app = typer.Typer(help="Jobvite's candidates and requisitions.", no_args_is_help=True)
integrations_app.add_typer(bullhorn_app, name="bullhorn")
integrations_app.add_typer(jobvite_app, name="jobvite")

OnceOption = Annotated[
    bool,
    typer.Option(
        "--once", help="Apply what is waiting, then exit (for cron); default: poll until stopped."
    ),
]


sync_app = typer.Typer(
    help="Poll an ATS now (the same as `leadgrade integrations NAME poll`).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(integrations_app, name="integrations")
    app.add_typer(sync_app, name="sync")
    app.command("import")(import_file)


def describe(outcome: Outcome) -> str:
    """One line: what was stored, moved and erased, and the protected fields dropped."""
    parts = [
        f"{outcome.accepted} stored",
        f"{outcome.duplicates} already stored",
        f"{outcome.moved} stage moves",
        f"{outcome.erased} erased",
    ]
    if outcome.refused:
        parts.append(f"{outcome.refused} refused (erased people)")
    if outcome.replayed:
        parts.append(f"{outcome.replayed} moves already made")
    line = ", ".join(parts)
    if outcome.stripped:
        fields = ", ".join(f"{name} ×{n}" for name, n in sorted(outcome.stripped.items()))
        line += f"; protected fields dropped: {fields}"
    return line


def _quiet_http() -> None:
    # The clients log every request at INFO; a poller's own line is the summary.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@sync_app.command("bullhorn")
@bullhorn_app.command("poll")
def bullhorn_poll(
    once: OnceOption = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Fetch batches from Bullhorn's event subscription and apply them: candidates and
    contacts, submissions, placements, deletions. A batch is acknowledged only once all
    of it is stored; a poller stopped halfway fetches it again."""
    from leadgrade.integrations.bullhorn import BullhornError, BullhornPoller

    _quiet_http()
    found, engine = _opened(workspace, db)
    settings = found.settings()
    poller = BullhornPoller(engine, settings.integrations.bullhorn, holds=settings.privacy.holds)
    console = stderr()
    try:
        while True:
            try:
                polled = poller.drain(time.time())
            except (BullhornError, httpx.HTTPError) as exc:
                console.print(f"leadgrade: Bullhorn: {exc}", highlight=False)
                if once:
                    raise typer.Exit(1) from None
            else:
                if polled.skipped:
                    console.print("bullhorn: another process is polling; skipped", highlight=False)
                elif polled.batches or once:
                    ids = ", ".join(str(i) for i in polled.batches) or "none waiting"
                    console.print(
                        f"bullhorn: batches {ids}: {describe(polled.outcome)}", highlight=False
                    )
                    _notes(console, polled.outcome)
            if once:
                return
            time.sleep(settings.integrations.bullhorn.poll_every)
    finally:
        poller.close()
        engine.store.close()


@sync_app.command("jobvite")
@jobvite_app.command("poll")
def jobvite_poll(
    once: OnceOption = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Read Jobvite's requisitions and candidates, page by page, and apply what changed
    since the last pass: new applications, workflow states (mapped to stages), hires. A
    call Jobvite refuses (even as HTTP 200 with status 401 in the body) is an error."""
    from leadgrade.integrations.jobvite import JobviteError, JobvitePoller

    _quiet_http()
    found, engine = _opened(workspace, db)
    settings = found.settings()
    console = stderr()
    try:
        poller = JobvitePoller(engine, settings.integrations.jobvite, holds=settings.privacy.holds)
    except JobviteError as exc:
        engine.store.close()
        fail(str(exc))
    try:
        while True:
            try:
                polled = poller.poll(time.time())
            except (JobviteError, httpx.HTTPError) as exc:
                console.print(f"leadgrade: {exc}", highlight=False)
                if once:
                    raise typer.Exit(1) from None
            else:
                if polled.skipped:
                    console.print("jobvite: another process is polling; skipped", highlight=False)
                else:
                    found_line = ", ".join(f"{n} {k}" for k, n in sorted(polled.found.items()))
                    console.print(
                        f"jobvite: {polled.candidates} candidates, {polled.requisitions} "
                        f"requisitions read; changes: {found_line or 'none'}; "
                        f"{describe(polled.outcome)}",
                        highlight=False,
                    )
                    _notes(console, polled.outcome)
            if once:
                return
            time.sleep(settings.integrations.jobvite.poll_every)
    finally:
        poller.close()
        engine.store.close()


def _notes(console: Any, outcome: Outcome) -> None:
    for note in outcome.notes[:20]:
        console.print(f"  {note}", highlight=False)


# --------------------------------------------------------------------------- import


class CrmFormat(enum.StrEnum):
    hubspot = "hubspot"
    salesforce = "salesforce"
    csv = "csv"


def import_file(
    file: Annotated[
        Path, typer.Argument(help="A CSV export of contacts or leads.", exists=True, dir_okay=False)
    ],
    source: Annotated[
        CrmFormat,
        typer.Option(
            "--from",
            help="The export's format: hubspot (contact export), salesforce (Lead or Contact "
            "export), or csv (columns named as leadgrade's fields, or given by --map).",
        ),
    ] = CrmFormat.csv,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN: read FIELD (email, id, stage, owner, email_opt_out, "
            "do_not_call, or any attribute) from COLUMN (repeatable).",
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            help="The audience they are leads in (default: the first of [events] default)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Rows stored per transaction.", min=1, max=10_000)
    ] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Import a CRM export: HubSpot or Salesforce column labels or API names, matched
    without regard to case. Lifecycle stages move leads forward, opt-out and do-not-call
    columns are recorded as opt-outs, owners are matched to the reps of routing.yaml by
    e-mail; protected columns are dropped. Importing the same file again changes nothing."""
    from leadgrade.integrations.crm_import import Importer, ImportError_

    maps: dict[str, str] = {}
    for item in mapping or []:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            fail(f"--map {item!r}: write FIELD=COLUMN, e.g. --map email='E-mail Address'")
        maps[name.strip()] = column.strip()
    found, engine = _opened(workspace, db)
    chosen = audience or (found.settings().events.default or ["employer"])[0]
    if chosen not in engine.models:
        known = ", ".join(sorted(engine.models)) or "none"
        fail(f"--audience {chosen!r}: no model for it in the workspace (known: {known})")
    console = stderr()
    with file.open("rb") as lines:
        total = max(0, sum(1 for _ in lines) - 1)  # rows, about: enough for a progress bar
    try:
        importer = Importer(engine, source.value, audience=chosen, maps=maps, batch_size=batch_size)
        with progress_bar(console, f"importing {file.name}") as progress:
            summary = importer.run(file, progress=lambda done: progress(done, max(total, done)))
    except ImportError_ as exc:
        fail(str(exc))
    finally:
        engine.store.close()
    report = summary.report()
    if as_json:
        print(json.dumps(report, indent=2))
    line = (
        f"{file.name}: {report['created']} created, {report['updated']} updated, "
        f"{report['unchanged']} unchanged, {report['skipped']} skipped"
    )
    if summary.skipped:
        line += " (" + ", ".join(f"{n} {why}" for why, n in summary.skipped.items()) + ")"
    line += f"; {report['stage_moves']} stage moves, {report['owners_set']} owners set"
    if summary.opt_outs:
        line += "; opt-outs: " + ", ".join(f"{n} {flag}" for flag, n in summary.opt_outs.items())
    console.print(line, highlight=False)
    if summary.unknown_owners:
        names = ", ".join(sorted(summary.unknown_owners)[:5])
        console.print(f"  owners not in routing.yaml: {names}", highlight=False)
    if summary.unknown_stages:
        names = ", ".join(sorted(summary.unknown_stages)[:5])
        console.print(f"  stages not mapped (left as they were): {names}", highlight=False)
    if summary.stripped:
        console.print(
            "  protected columns dropped unread: " + ", ".join(summary.stripped), highlight=False
        )

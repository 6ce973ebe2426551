"""``leadgrade ingest`` and ``leadgrade leads``: the engine from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from leadgrade.batch.files import BadRow
from leadgrade.batch.score import counted
from leadgrade.cli.common import (
    Format,
    FormatOption,
    fail,
    iso,
    parse_as_of,
    stderr,
)
from leadgrade.cli.output import print_records, progress_bar
from leadgrade.core import ModelError
from leadgrade.core.explain import explanation
from leadgrade.engine import STAGES, Engine, EventIn
from leadgrade.handoff.service import Handoff
from leadgrade.ingest_files import file_kind, read_event_inputs, read_people
from leadgrade.keys import SCOPES, create_key, revoke
from leadgrade.leads import SORTS, find_leads, get_lead
from leadgrade.store.schema import api_keys
from leadgrade.versions import activate, add_version, list_versions
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
ActorOption = Annotated[str, typer.Option(help="Who does it (kept in the audit log).")]


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("leads")(list_leads)
    app.command("serve")(serve)
    app.command("tick")(tick)
    app.command("explain")(explain)
    app.add_typer(keys_app, name="keys")
    app.add_typer(models_app, name="models")


def _engine(workspace: Path | None, db: str | None) -> Engine:
    return _opened(workspace, db)[1]


def _opened(workspace: Path | None, db: str | None) -> tuple[Workspace, Engine]:
    """The workspace (found once) and its engine; exit 2 with the reason if either fails."""
    try:
        found = Workspace.find(workspace)
        return found, found.engine(db)
    except (WorkspaceError, ModelError) as exc:
        fail(str(exc))


def _handoff(found: Workspace, engine: Engine) -> Handoff:
    try:
        return found.handoff(engine)
    except WorkspaceError as exc:
        fail(str(exc))


def _lines(path: Path) -> int:
    """Lines in a file, less a CSV header."""
    count = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
    return max(0, count - (1 if path.suffix.lower() == ".csv" else 0))


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
    """Store events and score their leads, or record people. Idempotent: each event's id
    is its key, so an interrupted import is resumed by running it again.

    A file whose rows have type and occurred_at holds events; any other holds people:
    their ids and, in every other column, attributes (job_title, company_size, …).

    Each row needs id, type, occurred_at, and its person: person_id, email, anonymous_id,
    or external_system and external_id. A bad row stops the import with exit 2 before
    its batch is stored (batches before it are kept); --skip-bad-rows reports it instead.
    """
    engine = _engine(workspace, db)
    console = stderr()
    totals = {"accepted": 0, "duplicates": 0, "mqls": 0, "bad": 0, "people": 0}

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
        done = totals["accepted"] + totals["duplicates"]
        progress(done, max(expected, done))

    # About one event a line: enough for a progress bar, counted at disk speed.
    expected = sum(_lines(path) for path in files if file_kind(path) != "people")
    with progress_bar(console, "storing events") as progress:
        for path in files:
            if file_kind(path) == "people":
                try:
                    for _line, person, attributes in read_people(
                        path, report_bad if skip_bad_rows else None
                    ):
                        engine.identify(person, attributes, datetime.now(UTC).timestamp())
                        totals["people"] += 1
                except BadRow as bad:
                    fail(f"{bad} (the people before this row were recorded)")
                continue
            batch: list[EventIn] = []
            try:
                for event in read_event_inputs(path, report_bad if skip_bad_rows else None):
                    batch.append(event)
                    if len(batch) >= batch_size:
                        flush(batch)
                        batch = []
            except BadRow as bad:  # the bad row's batch is not stored; the ones before are
                fail(f"{bad} (events before this batch were stored; fix the row and run again)")
            if batch:
                flush(batch)
    console.print(
        f"{counted(totals['accepted'], 'event')} stored, "
        f"{counted(totals['duplicates'], 'replay')} ignored, "
        f"{counted(totals['mqls'], 'new MQL')}"
        + (
            f", {totals['people']:,} {'person' if totals['people'] == 1 else 'people'} recorded"
            if totals["people"]
            else ""
        )
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
    sort: Annotated[
        str, typer.Option(help="Order: score, fit or engagement (highest first), or updated.")
    ] = "score",
    limit: Annotated[int, typer.Option(help="At most this many leads, in that order.", min=1)] = 50,
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List leads with their score now (engagement decayed to this moment), best first."""
    if stage is not None and stage not in STAGES:
        fail(f"--stage {stage!r} is not a stage; use one of {', '.join(STAGES)}")
    if sort not in SORTS:
        fail(f"--sort {sort!r}: use one of {', '.join(SORTS)}")
    engine = _engine(workspace, db)
    now = datetime.now(UTC).timestamp()
    with engine.store.engine.connect() as conn:
        found = find_leads(
            conn,
            engine.models,
            now,
            audience=audience,
            stage=stage,
            grade=grade,
            min_score=min_score,
            sort=sort,
        )
    engine.store.close()
    records = [view.item() | {"updated_at": iso(view.updated_at)} for view in found[:limit]]
    for record in records:
        for key in ("fit", "engagement", "score"):
            record[key] = round(record[key], 2)
    print_records(
        records,
        output_format or Format.table,
        title=f"{counted(len(records), 'lead')} by score now",
        columns=("email", "audience", "fit", "engagement", "score", "grade", "stage"),
        numeric=("fit", "engagement", "score"),
    )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    tick_every: Annotated[
        float, typer.Option(help="Seconds between checks for MQLs due to expire.", min=1)
    ] = 30.0,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Run the REST API (OpenAPI at /docs) on the workspace's store."""
    import uvicorn

    from leadgrade.api import create_app
    from leadgrade.handoff.delivery import Outbox

    found, engine = _opened(workspace, db)
    lists = found.lists()
    notifications = found.settings().notifications
    handoff = _handoff(found, engine)
    stderr().print(
        f"leadgrade serving {engine.store.dialect} at http://{host}:{port} "
        f"(API docs: http://{host}:{port}/docs)",
        highlight=False,
    )
    uvicorn.run(
        create_app(
            engine,
            tick_every=tick_every,
            lists=lists,
            tracking_settings=found.settings().tracking,
            handoff=handoff,
            privacy=found.settings().privacy,
            integrations=found.settings().integrations,
            outbox=Outbox(engine.store, notifications),
            outbox_poll=notifications.poll,
        ),
        host=host,
        port=port,
        log_level="warning",
    )


def tick(
    at: Annotated[
        str | None, typer.Option(help="Act as of this ISO 8601 time (default: now).")
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Expire MQLs whose decaying score fell below expire_below and fire due timers: SLA
    breaches, re-engagements, segment windows (for cron; `serve` does this itself). Only
    due rows are read: their times are stored."""
    now = parse_as_of(at)
    found, engine = _opened(workspace, db)
    done = _handoff(found, engine).tick(now)
    engine.store.close()
    stderr().print(
        f"{counted(done['expired'], 'MQL')} expired, {counted(done['timers'], 'timer')} fired "
        f"as of {iso(now)}",
        highlight=False,
    )


keys_app = typer.Typer(help="API keys: create, list and revoke.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key (shown in audit rows).")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"A scope the key has: {', '.join(SCOPES)} (repeatable)."),
    ],
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    engine = _engine(workspace, db)
    try:
        with engine.store.transaction() as conn:
            key, secret = create_key(conn, name, scope, datetime.now(UTC).timestamp(), actor=actor)
    except ValueError as exc:
        fail(str(exc))
    stderr().print(
        f"created key {key.id} ({name}: {', '.join(sorted(key.scopes))}); "
        "send it as 'Authorization: Bearer <key>':",
        highlight=False,
    )
    print(secret)


@keys_app.command("list")
def keys_list(workspace: WorkspaceOption = None, db: DatabaseOption = None) -> None:
    """List API keys (never their secrets)."""
    engine = _engine(workspace, db)
    with engine.store.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        print(f"{row.id}\t{row.name}\t{','.join(row.scopes)}\t{state}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after lg_).")],
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Revoke an API key at once."""
    engine = _engine(workspace, db)
    with engine.store.transaction() as conn:
        if not revoke(conn, key_id, datetime.now(UTC).timestamp(), actor=actor):
            fail(f"no active key {key_id!r}")
    stderr().print(f"revoked key {key_id}")


models_app = typer.Typer(help="Model versions: list, add, activate.", no_args_is_help=True)


@models_app.command("list")
def models_list(workspace: WorkspaceOption = None, db: DatabaseOption = None) -> None:
    """List stored model versions and which one scores each audience."""
    engine = _engine(workspace, db)
    with engine.store.engine.connect() as conn:
        versions = list_versions(conn)
    for version in versions:
        print(
            f"{version.id}\t{version.audience}\t{version.status}\t{version.digest[:12]}\t"
            f"{iso(version.created_at)}"
        )


@models_app.command("add")
def models_add(
    model_file: Annotated[
        Path, typer.Argument(help="A model file (.yaml).", exists=True, dir_okay=False)
    ],
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Store a model file as a draft version (prints its id); it scores nothing until
    activated."""
    found, engine = _opened(workspace, db)
    lists = found.lists()
    try:
        with engine.store.transaction() as conn:
            version, _ = add_version(
                conn,
                model_file.read_text(encoding="utf-8"),
                str(model_file),
                lists,
                datetime.now(UTC).timestamp(),
                actor=actor,
            )
    except ModelError as exc:
        fail(f"the model does not load:\n{exc}")
    stderr().print(f"{version.audience} version {version.id} ({version.status})", highlight=False)
    print(version.id)


@models_app.command("activate")
def models_activate(
    version_id: Annotated[str, typer.Argument(help="The version's id (from `models list`).")],
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Make a version its audience's active model and rescore every lead of it."""
    found, engine = _opened(workspace, db)
    lists = found.lists()
    console = stderr()
    with progress_bar(console, "rescoring") as progress:
        try:
            version, rescored = activate(
                engine, version_id, lists, datetime.now(UTC).timestamp(), progress, actor=actor
            )
        except KeyError:
            fail(f"no model version {version_id!r}")
    console.print(
        f"{version.audience} now scores with version {version.id}; "
        f"{counted(rescored, 'lead')} rescored",
        highlight=False,
    )


def explain(
    lead_id: Annotated[str, typer.Argument(help="The lead's id (from `leadgrade leads`).")],
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Why a lead scores what it does now: every contribution, adding up to the score."""
    engine = _engine(workspace, db)
    now = datetime.now(UTC).timestamp()
    with engine.store.engine.connect() as conn:
        lead = get_lead(conn, engine.models, lead_id, now)
    engine.store.close()
    if lead is None:
        fail(f"no lead {lead_id!r}")
    items = explanation(lead.card)
    if (output_format or Format.table) is not Format.table:
        print(json.dumps(lead.item() | {"explanation": items}))
        return
    table = Table(
        title=f"{lead.email or lead.person_id} ({lead.audience}): score "
        f"{lead.card.score:.2f}, grade {lead.card.grade}, stage {lead.stage}",
        title_justify="left",
    )
    for column in ("rule", "points", "why", "events"):
        table.add_column(column, justify="right" if column in ("points", "events") else "left")
    for item in items:
        table.add_row(
            str(item["rule"]),
            f"{item['points']:+.2f}",
            str(item["description"] or item["reason"]),
            str(item["events"] or ""),
        )
    Console().print(table)

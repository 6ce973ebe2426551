"""The handoff from the command line: ``leadgrade feedback``, ``touch``, ``assign``,
``stage`` and ``routing lint|show``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from leadgrade.cli.common import fail, parse_as_of, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _handoff, _opened
from leadgrade.engine import STAGES
from leadgrade.handoff.routing import check_routing
from leadgrade.handoff.service import DECISIONS, TOUCH_KINDS, Handoff, HandoffError
from leadgrade.workspace import Workspace, WorkspaceError

routing_app = typer.Typer(
    help="routing.yaml: check it, and see teams and reps.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback)
    app.command("touch")(touch)
    app.command("assign")(assign)
    app.command("stage")(stage)
    app.add_typer(routing_app, name="routing")


def _opened_handoff(workspace: Path | None, db: str | None) -> Handoff:
    found, engine = _opened(workspace, db)
    return _handoff(found, engine)


def _details(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; ``true``/``false`` and numbers are read as such."""
    details: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--detail {pair!r}: write KEY=VALUE, e.g. budget=approved")
        try:
            details[key.strip()] = json.loads(value)
        except ValueError:
            details[key.strip()] = value
    return details


def feedback(
    lead_id: Annotated[str, typer.Argument(help="The lead's id.")],
    decision: Annotated[str, typer.Argument(help=f"One of {', '.join(DECISIONS)}.")],
    reason: Annotated[
        str | None, typer.Option(help="A reason code (reject, disqualify): see routing.yaml.")
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option(
            "--detail",
            help="KEY=VALUE (repeatable): BANT fields to qualify an employer lead "
            "(budget, authority, need, timeline), applied/passed_screening for a "
            "candidate, note=… for any decision.",
        ),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who decides (kept in the history).")] = "cli",
    decision_id: Annotated[
        str | None, typer.Option("--id", help="Idempotency key: a rerun changes nothing.")
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Sales' answer on an MQL: accept (→ sal), qualify (→ sql), reject with a reason
    (→ recycled, with a cool-down), disqualify."""
    handoff = _opened_handoff(workspace, db)
    try:
        made = handoff.decide(
            lead_id,
            decision,
            time.time(),
            actor=actor,
            reason=reason,
            details=_details(detail or []),
            decision_id=decision_id,
        )
    except HandoffError as exc:
        fail(str(exc))
    note = " (already recorded)" if made.replayed else ""
    stderr().print(
        f"lead {lead_id}: {made.decision} — {made.from_stage} → {made.to_stage}{note}",
        highlight=False,
    )


def touch(
    lead_id: Annotated[str, typer.Argument(help="The lead's id.")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(TOUCH_KINDS)}.")] = "call",
    at: Annotated[str | None, typer.Option(help="When (ISO 8601; default now).")] = None,
    note: Annotated[str | None, typer.Option(help="What happened.")] = None,
    actor: Annotated[str, typer.Option(help="Who touched the lead.")] = "cli",
    touch_id: Annotated[
        str | None, typer.Option("--id", help="Idempotency key: a rerun changes nothing.")
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Record a call, e-mail, SMS or meeting; the first since assignment stops the SLA."""
    handoff = _opened_handoff(workspace, db)
    now = time.time()
    try:
        made = handoff.touch(
            lead_id,
            kind,
            parse_as_of(at) if at else now,
            now,
            actor=actor,
            source="cli",
            note=note,
            touch_id=touch_id,
        )
    except HandoffError as exc:
        fail(str(exc))
    what = "first touch: SLA clock stopped" if made.first else "touch recorded"
    if made.replayed:
        what = "already recorded"
    stderr().print(f"lead {lead_id}: {made.kind} — {what}", highlight=False)


def assign(
    lead_id: Annotated[str, typer.Argument(help="The lead's id.")],
    owner: Annotated[
        str | None, typer.Option(help="A rep id from routing.yaml (default: route afresh).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    actor: Annotated[str, typer.Option(help="Who assigns.")] = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Give a lead to a rep (or route it afresh); a new SLA clock starts."""
    handoff = _opened_handoff(workspace, db)
    try:
        made = handoff.reassign(lead_id, owner, time.time(), actor=actor, reason=reason)
    except HandoffError as exc:
        fail(str(exc))
    stderr().print(
        f"lead {lead_id}: assigned to {made['owner'] or 'nobody'} ({made['reason']})",
        highlight=False,
    )


def stage(
    lead_id: Annotated[str, typer.Argument(help="The lead's id.")],
    to: Annotated[str, typer.Argument(help=f"The stage: {', '.join(STAGES)}.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the lead's history).")],
    actor: Annotated[str, typer.Option(help="Who moves it (kept in the history).")] = "cli",
    placement_start: Annotated[
        str | None, typer.Option(help="Moving a candidate to won: the placement's start.")
    ] = None,
    contract_end: Annotated[
        str | None, typer.Option(help="Moving a candidate to won: the contract's end.")
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Move a lead to a stage by hand (backward moves too), with a history row; a placed
    candidate (won) is scheduled for re-engagement."""
    if to not in STAGES:
        fail(f"{to!r} is not a stage; use one of {', '.join(STAGES)}")
    handoff = _opened_handoff(workspace, db)
    try:
        left = handoff.move(
            lead_id,
            to,
            time.time(),
            actor=actor,
            reason=reason,
            placement_start=parse_as_of(placement_start) if placement_start else None,
            contract_end=parse_as_of(contract_end) if contract_end else None,
        )
    except HandoffError as exc:
        fail(str(exc))
    stderr().print(f"lead {lead_id}: {left} → {to}", highlight=False)


@routing_app.command("lint")
def routing_lint(
    file: Annotated[
        Path | None,
        typer.Argument(help="The file (default: the workspace's routing.yaml).", dir_okay=False),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Check routing.yaml: shape, reps and teams named, no protected attribute routes.
    Exits 0 when valid, 1 with FILE:LINE: KEY: MESSAGE lines when not."""
    lists: dict[str, tuple[str, ...]] = {}
    try:
        found = Workspace.find(workspace)
        lists = found.lists()
        path = file or found.routing_path
    except WorkspaceError as exc:
        if file is None:
            fail(str(exc))
        path = file
    if not path.is_file():
        fail(f"{path}: no such file")
    routing, problems = check_routing(path.read_text(encoding="utf-8"), str(path), lists)
    for problem in problems:
        print(problem)
    if routing is None:
        raise typer.Exit(1)
    stderr().print(
        f"{path}: ok — {len(routing.reps)} reps, {len(routing.teams)} teams, "
        f"{len(routing.rules)} rules",
        highlight=False,
    )


@routing_app.command("show")
def routing_show(workspace: WorkspaceOption = None, db: DatabaseOption = None) -> None:
    """Teams and reps now: open MQLs against capacity, who is away (JSON)."""
    handoff = _opened_handoff(workspace, db)
    with handoff.store.engine.connect() as conn:
        print(json.dumps(handoff.roster(conn, time.time()), indent=2))

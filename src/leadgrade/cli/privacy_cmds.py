"""``leadgrade privacy export|erase|retention``: a person's data out, a person erased, and
the retention job for cron."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from leadgrade import audit
from leadgrade.cli.common import fail, parse_as_of, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _opened
from leadgrade.privacy import retention
from leadgrade.privacy.erasure import UnknownPerson, erase_in, export
from leadgrade.store.schema import identities

privacy_app = typer.Typer(
    help="Privacy: export a person's data, erase a person, run retention.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")


def _person(conn: sa.Connection, ref: str) -> str:
    """A person id, or the person an e-mail names."""
    if "@" in ref:
        found = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "email", identities.c.value == ref.strip().lower()
            )
        )
        if found is None:
            fail(f"no person with the e-mail {ref!r}")
        return str(found)
    return ref


@privacy_app.command("export")
def export_cmd(
    person: Annotated[str, typer.Argument(help="A person id, or their e-mail.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the JSON here (default: stdout).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who exports (kept in the audit log).")] = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Everything held about a person as JSON (GDPR access and portability)."""
    _, engine = _opened(workspace, db)
    with engine.store.transaction() as conn:
        try:
            found = export(conn, _person(conn, person))
        except UnknownPerson:
            fail(f"no person {person!r}")
        audit.record(conn, actor, "person.exported", found["person_id"], {}, time.time())
    text = json.dumps(found, indent=2, ensure_ascii=False, default=str)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        stderr().print(f"wrote {output}", highlight=False)


@privacy_app.command("erase")
def erase_cmd(
    person: Annotated[str, typer.Argument(help="A person id, or their e-mail.")],
    basis: Annotated[
        str, typer.Option(help="Why: request (the person asked), ats-delete, retention, …")
    ] = "request",
    actor: Annotated[str, typer.Option(help="Who erases (kept in the audit log).")] = "cli",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Erase a person and everything about them, leaving only a tombstone (salted hashes
    of their e-mail and phone) that refuses them if they come back."""
    found, engine = _opened(workspace, db)
    holds = found.settings().privacy.holds
    with engine.store.engine.connect() as conn:
        person_id = _person(conn, person)
    if not yes and not typer.confirm(f"Erase person {person_id} for good?"):
        fail("not erased")
    with engine.store.transaction() as conn:
        try:
            done = erase_in(
                conn, engine, person_id, time.time(), basis=basis, source=actor, holds=holds
            )
        except UnknownPerson:
            fail(f"no person {person!r}")
        report = done.report()
        audit.record(
            conn,
            actor,
            "person.erased",
            done.person_id,
            {"basis": basis, **{k: report[k] for k in ("erased", "tombstones", "held")}},
            time.time(),
        )
    erased = report["erased"]
    stderr().print(
        f"erased person {done.person_id}: {erased['events']} events, {erased['leads']} leads; "
        f"{done.tombstones} tombstone(s) kept",
        highlight=False,
    )
    if done.held:
        stderr().print(
            f"kept {done.held} events under a legal hold until {report['held']['until']}: "
            + "; ".join(done.holds),
            highlight=False,
        )


@privacy_app.command("retention")
def retention_cmd(
    at: Annotated[
        str | None, typer.Option(help="Act as of this ISO 8601 time (default: now).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List whom the rules would erase; erase nobody.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Apply the [privacy] retention rules: erase the people they say not to keep (for
    cron; `serve` runs it once a day). Prints the run as JSON."""
    found, engine = _opened(workspace, db)
    done = retention.run(
        engine, found.settings().privacy, parse_as_of(at), actor="cli", dry_run=dry_run
    )
    print(json.dumps(done.report(), indent=2))
    verb = "would erase" if dry_run else "erased"
    stderr().print(
        f"retention: {verb} {len(done.erased)}, blocked by a legal hold {len(done.blocked)}",
        highlight=False,
    )

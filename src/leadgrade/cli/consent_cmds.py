"""``leadgrade consent``: a person's consent per channel, and recording a change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from leadgrade.cli.common import fail, parse_as_of, stderr
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption
from leadgrade.privacy.consent import (
    BASES,
    SCOPES,
    STATUSES,
    ConsentError,
    ConsentIn,
    consent_report,
    record_consent,
)
from leadgrade.privacy.quiet import ContactRules
from leadgrade.store import Store
from leadgrade.workspace import Workspace, WorkspaceError

consent_app = typer.Typer(
    help="Consent: show a person's, record a change with its evidence.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(consent_app, name="consent")


PersonArgument = Annotated[str, typer.Argument(help="The person: their id, or their e-mail.")]


def _opened(workspace: Path | None, db: str | None) -> tuple[Store, ContactRules]:
    """The workspace's store and contact rules; exit 2 with the reason if they fail."""
    try:
        found = Workspace.find(workspace)
        rules = ContactRules.from_settings(found.settings().compliance)
        return found.open_store(db), rules
    except WorkspaceError as exc:
        fail(escape(str(exc)))


def _refused(exc: ConsentError) -> None:
    where = {"channel": "--channel", "status": "--status", "source": "--source"}.get(
        exc.field, f"--{exc.field.replace('_', '-')}" if exc.field else ""
    )
    if exc.field.startswith("evidence"):
        where = "--evidence"
    fail(escape(f"{where}: {exc}" if where and exc.status != 404 else str(exc)))


@consent_app.command("show")
def show(
    person: PersonArgument,
    at: Annotated[
        str | None,
        typer.Option(
            help="Whether they may be contacted at this time, by the consent on record now "
            "(ISO 8601; default: now)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's JSON instead of text.")
    ] = False,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """A person's consent per channel, whether each channel may be used now and why, the
    consent ledger (newest first) and SMS replies waiting for a human."""
    moment = parse_as_of(at)
    store, rules = _opened(workspace, db)
    try:
        with store.engine.connect() as conn:
            report = consent_report(conn, rules, person, moment)
    except ConsentError as exc:
        _refused(exc)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"person {report['person_id']}")
    for channel, found in report["channels"].items():
        contact = report["contact"][channel]
        since = ""
        if found["since"]:
            since = f" since {found['since'][:19]}Z via {found['source']}"
        verdict = "yes" if contact["allowed"] else "no"
        console.print(
            escape(
                f"  {channel}: {found['status']}{since}; "
                f"may contact now: {verdict} ({contact['reason']})"
            )
        )
    if report["ledger"]:
        console.print("consent ledger, newest first:")
    for row in report["ledger"]:
        evidence = ", ".join(f"{k}={v}" for k, v in row["evidence"].items())
        basis = f" basis {row['basis']}" if row["basis"] else ""
        if row["basis_ref"]:
            basis += f" ({row['basis_ref']})"
        console.print(
            escape(
                f"  {row['at'][:19]}Z  {row['channel']} {row['status']} via {row['source']}"
                f"{basis}{': ' + evidence if evidence else ''}  [{row['id']}]"
            )
        )
    for flag in report["review"]:
        stderr().print(
            f"to review: {escape(flag['kind'])} at {flag['at']}: {escape(flag['text'])}",
            highlight=False,
        )


def _evidence(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(escape(f"--evidence {pair!r}: write KEY=VALUE, e.g. disclosure=sms-v3"))
        found[key.strip()] = value.strip()
    return found


@consent_app.command("set")
def set_consent(
    person: PersonArgument,
    channel: Annotated[str, typer.Option(help=f"The channel: {', '.join(SCOPES)}.")],
    status: Annotated[str, typer.Option(help=f"The new status: {', '.join(STATUSES)}.")],
    source: Annotated[
        str, typer.Option(help="Where the change comes from: form, sms, crm, phone call, …")
    ],
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            help="Evidence as KEY=VALUE, repeatable: form, url, disclosure (its version), "
            "ip, keyword, purpose, …"
        ),
    ] = None,
    basis: Annotated[
        str | None,
        typer.Option(help=f"The GDPR lawful basis: {', '.join(BASES)}; needed for EU opt-ins."),
    ] = None,
    basis_ref: Annotated[
        str | None,
        typer.Option(help="A reference for the basis (the legitimate-interest assessment)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When the change happened (ISO 8601; default: now)."),
    ] = None,
    change_id: Annotated[
        str | None,
        typer.Option("--id", help="An idempotency key: recording it again changes nothing."),
    ] = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Record a consent change in the ledger with its evidence. An SMS (or all-channel)
    opt-in needs --evidence disclosure=VERSION and where it was given (form, url, keyword
    or document); an objection suppresses every channel for good."""
    now = datetime.now(UTC).timestamp()
    change = ConsentIn(
        channel=channel,
        status=status,
        source=source,
        evidence=_evidence(evidence or []),
        at=None if at is None else parse_as_of(at),
        basis=basis,
        basis_ref=basis_ref,
        id=change_id,
    )
    store, _ = _opened(workspace, db)
    try:
        with store.transaction() as conn:
            record, replayed = record_consent(conn, person, change, now)
    except ConsentError as exc:
        _refused(exc)
    finally:
        store.close()
    said = "already recorded" if replayed else "recorded"
    stderr().print(
        f"{said}: {escape(record.describe())} for person {record.person_id} ({record.id})",
        highlight=False,
    )

"""``leadgrade models shadow``: run a model version beside the active one, and compare."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadgrade.batch.score import counted
from leadgrade.cli.common import fail, stderr
from leadgrade.cli.engine_cmds import (
    ActorOption,
    DatabaseOption,
    WorkspaceOption,
    _opened,
    models_app,
)
from leadgrade.cli.output import progress_bar
from leadgrade.shadow import ShadowReport, shadow_report
from leadgrade.versions import start_shadow, stop_shadow, version_text


def register(_app: typer.Typer) -> None:
    """The command hangs off ``leadgrade models``; importing this module adds it."""


@models_app.command("shadow")
def models_shadow(
    version_id: Annotated[str, typer.Argument(help="The version's id (from `models list`).")],
    report: Annotated[
        bool, typer.Option("--report", help="Only compare; the version is already in shadow.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Take the version out of shadow.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as one JSON object.")
    ] = False,
    actor: ActorOption = "cli",
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """Run a version in shadow: it scores every lead of its audience beside the active
    version, kept apart (no stage moves), then with every new event; prints what
    activating it would change now."""
    found, engine = _opened(workspace, db)
    now = datetime.now(UTC).timestamp()
    console = stderr()
    if stop:
        try:
            version = stop_shadow(engine, version_id, actor=actor, now=now)
        except KeyError:
            fail(f"no model version {version_id!r}")
        console.print(f"version {version.id} is no longer in shadow ({version.status})")
        return
    if report:
        with engine.store.engine.connect() as conn:
            known = version_text(conn, version_id)
        if known is None:
            fail(f"no model version {version_id!r}")
        audience = known[0].audience
        if engine.shadows.get(audience, ("",))[0] != version_id:
            fail(f"version {version_id} is not in shadow ({known[0].status}); run without --report")
    else:
        with progress_bar(console, "scoring in shadow") as progress:
            try:
                version, scored = start_shadow(
                    engine, version_id, found.lists(), now, progress, actor=actor
                )
            except KeyError:
                fail(f"no model version {version_id!r}")
            except ValueError as exc:
                fail(str(exc))
        audience = version.audience
        console.print(
            f"version {version.id} scores the {audience} audience in shadow "
            f"({counted(scored, 'lead')} scored)",
            highlight=False,
        )
    compared = shadow_report(engine, audience, now)
    assert compared is not None
    if as_json:
        sys.stdout.write(json.dumps(compared.public()) + "\n")
    else:
        _print(compared)


def _print(report: ShadowReport) -> None:
    out = Console()
    out.print(
        f"[bold]{report.audience}[/]: shadow version {report.version_id} against the active "
        f"version, {counted(report.leads, 'lead')} valued now"
    )
    table = Table(show_header=True, title_justify="left")
    for column in ("", "active", "shadow"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row("MQLs", str(report.mql_active), str(report.mql_shadow))
    table.add_row(
        "mean score", f"{report.mean_score_active:.2f}", f"{report.mean_score_shadow:.2f}"
    )
    out.print(table)
    out.print(
        f"{counted(report.newly_mql_count, 'lead')} would become MQLs, "
        f"{report.no_longer_mql_count} would stop being MQLs."
    )
    if report.moves:
        moves = ", ".join(f"{a}→{b} {n}" for a, b, n in report.moves[:8])
        out.print(f"Grade moves: {moves}")

"""``leadgrade init`` and ``leadgrade demo`` (in ``demo_cmd``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadgrade.cli.common import fail, stderr
from leadgrade.cli.demo_cmd import demo
from leadgrade.workspace import Workspace, WorkspaceError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("demo")(demo)


def init(
    path: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="The firm's name, for the settings.")] = None,
) -> None:
    """Create a workspace: leadgrade.toml, models/ (employer, candidate), lists/ and its
    store (SQLite by default, or $LEADGRADE_DATABASE_URL)."""
    try:
        workspace = Workspace.create(path, name=name)
    except WorkspaceError as exc:
        fail(str(exc))
    store = workspace.open_store()  # creates the database and its tables
    store.close()
    console = stderr()
    console.print(f"Created a leadgrade workspace in {workspace.root}")
    console.print(f"  store      {workspace.database_url()}")
    for audience, model in workspace.audiences().items():
        console.print(f"  {audience:<10} {model.relative_to(workspace.root)}")
    console.print(
        "Check the models with `leadgrade lint`, then score a file with\n"
        "  leadgrade score --model employer --leads LEADS.csv --events EVENTS.csv"
    )

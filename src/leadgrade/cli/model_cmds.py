"""``leadgrade lint``: check model files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadgrade.cli.common import fail, stderr
from leadgrade.workspace import Workspace, WorkspaceError, check_model_file, lists_for, read_lists


def register(app: typer.Typer) -> None:
    app.command("lint")(lint)


def lint(
    models: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Model files to check (default: every model of the workspace).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    lists: Annotated[
        Path | None,
        typer.Option(
            help="Folder of named lists (default: the model's workspace lists/).", file_okay=False
        ),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            help="Workspace whose models to check when no file is given, and whose lists "
            "to use (default: $LEADGRADE_WORKSPACE, or the current folder or a parent).",
            envvar="LEADGRADE_WORKSPACE",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Check model files: shape, named lists and the compliance guardrails.

    Exits 0 when every file is valid (warnings allowed), 1 when any has errors; each
    problem is printed as FILE:LINE: KEY: MESSAGE.
    """
    if not models:
        try:
            models = list(Workspace.find(workspace).audiences().values())
        except WorkspaceError as exc:
            fail(f"no model files given and {exc}")
    console, errors = stderr(), 0
    named = read_lists(lists) if lists is not None else None
    if named is None and workspace is not None:  # the lists `score --workspace` would use
        try:
            named = Workspace.find(workspace).lists()
        except WorkspaceError as exc:
            fail(str(exc))
    for path in models:
        model, problems = check_model_file(path, named if named is not None else lists_for(path))
        for problem in problems:
            colour = "red" if problem.severity == "error" else "yellow"
            console.print(f"[{colour}]{problem}[/]", markup=True, highlight=False)
        if model is None:
            errors += 1
            console.print(f"[bold red]✗[/] {path}: invalid", markup=True)
        else:
            console.print(
                f"[bold green]✓[/] {path}: {model.audience} ({model.kind}), "
                f"{len(model.fit_rules)} fit rules, {len(model.engagement_rules)} engagement rules",
                markup=True,
                highlight=False,
            )
    if errors:
        raise typer.Exit(1)

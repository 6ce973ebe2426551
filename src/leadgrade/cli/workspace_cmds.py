"""``leadgrade init`` and ``leadgrade demo``."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leadgrade.batch.score import counted, score_files
from leadgrade.cli.common import fail, iso, stderr
from leadgrade.cli.output import print_table, write_csv_file
from leadgrade.sample import AS_OF
from leadgrade.workspace import Workspace, WorkspaceError

SAMPLE = resources.files("leadgrade") / "data" / "sample"


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


def demo(
    path: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo-workspace"
    ),
    top: Annotated[int, typer.Option(help="Leads to list per audience.")] = 15,
) -> None:
    """Make a workspace with the bundled sample firm and score it: the A1–D4 grid."""
    root = path.resolve()
    try:
        workspace = (
            Workspace(root)
            if (root / "leadgrade.toml").is_file()
            else (Workspace.create(root, name="Lone Star Staffing (sample)"))
        )
    except WorkspaceError as exc:
        fail(str(exc))
    data = workspace.root / "data"
    data.mkdir(exist_ok=True)
    with resources.as_file(SAMPLE) as sample:
        for file in sorted(Path(sample).glob("*.csv")):
            shutil.copyfile(file, data / file.name)
    out = Console()
    at = AS_OF.timestamp()
    out.print(f"[bold]leadgrade demo[/] — workspace {workspace.root}, scored as of {iso(at)}\n")
    for audience in workspace.audiences():
        model = workspace.model(audience)
        leads, events = data / f"{audience}_leads.csv", data / f"{audience}_events.csv"
        scored, stats = score_files(model, leads, events, at)
        print_table(out, scored, reasons=3, limit=top)
        result = data / f"{audience}_scores.csv"
        write_csv_file(scored, result, reasons=5)
        mqls = sum(scored.mql)
        out.print(f"{stats.summary()}; {counted(mqls, 'MQL')}. All scores: {result}\n")
    out.print(
        "Explain any lead's score from its rules:\n"
        f"  leadgrade score --workspace {workspace.root} --model employer "
        f"--leads {data / 'employer_leads.csv'} --events {data / 'employer_events.csv'} "
        f"--as-of {iso(at)} --format jsonl"
    )

"""``leadgrade demo``: a workspace holding a synthetic staffing firm, served.

The firm (``leadgrade.synthetic``) is drawn from a seed, replayed into the workspace's
store (``leadgrade.demo``), summed up, and the REST API is started on it as
``leadgrade serve`` starts it. ``demo.json`` in the workspace records the seed, the scale
and the moment the firm's six months end, so running the demo again draws the same firm
and stores nothing twice. ``--batch`` keeps the older demo: score the bundled sample
files, no store.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadgrade.batch.score import counted, score_files
from leadgrade.cli import engine_cmds
from leadgrade.cli.common import fail, is_terminal, iso, stderr
from leadgrade.cli.output import grid, print_table, reason_text, write_csv_file
from leadgrade.core import ModelError
from leadgrade.core.explain import shown
from leadgrade.demo import Summary, build, summarize
from leadgrade.engine import STAGES, Engine
from leadgrade.keys import create_key, revoke
from leadgrade.leads import find_leads
from leadgrade.sample import AS_OF
from leadgrade.store.schema import api_keys
from leadgrade.synthetic import DAY, SCALES, SEED, SPAN_DAYS, generate
from leadgrade.workspace import Workspace, WorkspaceError

SAMPLE = resources.files("leadgrade") / "data" / "sample"
FIRM_NAME = "Lone Star Staffing (demo)"
PARAMETERS = "demo.json"
KEY_NAME = "demo"


def demo(
    path: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo-workspace"
    ),
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the firm: the same seed, the same firm. Default: the seed the "
            f"workspace was built with, else {SEED}.",
            show_default=False,
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Size of the firm: full (300 accounts, 10,000 candidates), small, or a "
            "factor such as 0.5. Default: the workspace's, else full.",
            show_default=False,
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API once the firm is built.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 8000,
    top: Annotated[
        int, typer.Option(help="MQLs to list per audience (with --batch: leads).", min=0)
    ] = 5,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Instead, score the bundled sample files as of 2026-10-01 (no store, "
            "no server), as `leadgrade score` does.",
        ),
    ] = False,
) -> None:
    """Build a synthetic staffing firm in a workspace and serve the API on it: a few
    hundred employer accounts, their contacts, 10,000 candidates and six months of
    events, with sales acting on the MQLs. Running it again changes nothing."""
    if batch:
        _batch_demo(path, top)
        return
    workspace, seed, factor, now = _workspace(
        path.resolve(), seed, None if scale is None else _scale(scale)
    )
    console, out = stderr(), Console()
    try:
        engine = workspace.engine(now=now - SPAN_DAYS * DAY)  # models active all along
    except (WorkspaceError, ModelError) as exc:
        fail(str(exc))
    console.print(f"Drawing the firm (seed {seed}, scale {factor:g})…")
    firm = generate(seed, scale=factor, now=now)
    started = time.perf_counter()
    with Progress(
        TextColumn("storing six months of events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not is_terminal(),
    ) as bar:
        task = bar.add_task("events", total=len(firm.events))
        built = build(engine, firm, lambda done, total: bar.update(task, completed=done))
    out.print(
        f"[bold]leadgrade demo[/] — {FIRM_NAME}, workspace {workspace.root}\n"
        f"{len(firm.accounts):,} employer accounts, {len(firm.audience('employer')):,} "
        f"contacts, {len(firm.audience('candidate')):,} candidates; "
        f"{counted(len(firm.events), 'event')} from {iso(firm.start)[:10]} to {iso(now)}.\n"
        f"Stored {built.stored:,} events ({built.replays:,} were there already) in "
        f"{time.perf_counter() - started:.1f} s; {counted(built.mqls, 'MQL')}, "
        f"{counted(built.moves, 'new stage change')} by sales.",
        highlight=False,
    )
    best = _report(out, engine, summarize(engine), list(workspace.audiences()), top)
    secret = _read_key(engine)
    engine.store.close()
    base = f"http://{host}:{port}"
    out.print(
        f"\nA read-only API key (a new one each run; the older demo keys are revoked):\n"
        f"  {secret}\nThe MQLs, best first:\n"
        f'  curl -H "Authorization: Bearer {secret}" "{base}/v1/leads?stage=mql&limit=5"\n'
        "One lead: its score, the explanation that adds up to it, and its timeline:\n"
        f'  curl -H "Authorization: Bearer {secret}" "{base}/v1/leads/{best or "LEAD_ID"}"\n'
        f"The same from the command line: leadgrade leads --workspace {workspace.root} "
        "--stage mql",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        engine_cmds.serve(host=host, port=port, tick_every=30.0, workspace=workspace.root, db=None)


def _scale(text: str) -> float:
    if text in SCALES:
        return SCALES[text]
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not 0 < factor <= 10:
        fail(f"--scale {text!r}: use {', '.join(SCALES)} or a number above 0, up to 10")
    return factor


def _workspace(
    root: Path, seed: int | None, scale: float | None
) -> tuple[Workspace, int, float, float]:
    """The demo workspace at ``root``, the firm's seed and scale, and the end of its six
    months: made now, or the ones a demo run recorded there before (a seed or scale that
    differs from the recorded one is refused)."""
    recorded = root / PARAMETERS
    if (root / "leadgrade.toml").is_file():
        if not recorded.is_file():
            fail(
                f"{root} holds a workspace that `leadgrade demo` did not build; "
                "give the demo another folder"
            )
        try:
            parameters: dict[str, Any] = json.loads(recorded.read_text(encoding="utf-8"))
            built = (int(parameters["seed"]), float(parameters["scale"]))
            now = float(parameters["now"])
        except (ValueError, KeyError, TypeError) as exc:
            fail(f"{recorded}: not a demo record ({exc}); give the demo another folder")
        if (seed if seed is not None else built[0], scale or built[1]) != built:
            fail(
                f"{root} holds the demo firm of seed {built[0]}, scale {built[1]:g}; "
                "run the demo with those, or give it another folder"
            )
        return Workspace(root), built[0], built[1], now
    seed = SEED if seed is None else seed
    scale = scale or SCALES["full"]
    try:
        workspace = Workspace.create(root, name=FIRM_NAME)
    except WorkspaceError as exc:
        fail(str(exc))
    now = float(int(time.time()))
    record = {"seed": seed, "scale": scale, "now": now, "ends": iso(now)}
    recorded.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return workspace, seed, scale, now


def _report(
    out: Console, engine: Engine, summary: Summary, audiences: list[str], top: int
) -> str | None:
    """The store in numbers: people, leads by stage, what sales made of the MQLs by fit
    grade, then per audience the A1–D4 grid and the best MQLs now. Returns the id of the
    best MQL, if there is one."""
    out.print(
        f"\nThe store: {summary.people:,} people ({summary.merged:,} anonymous visitors "
        f"merged into the person they turned out to be; {summary.anonymous:,} visitors not "
        f"identified yet), {counted(summary.events, 'event')}, "
        f"{counted(sum(summary.leads.values()), 'lead')}.",
        highlight=False,
    )
    funnel = Table(title="leads by stage now", title_justify="left", header_style="bold")
    funnel.add_column("audience")
    for stage in STAGES:
        funnel.add_column(stage, justify="right")
    outcomes = Table(
        title="what sales made of the MQLs, by fit grade", title_justify="left", header_style="bold"
    )
    for column in ("audience", "fit", "MQLs", "accepted", "qualified", "won"):
        outcomes.add_column(column, justify="left" if column == "audience" else "right")
    for audience in audiences:
        stages = summary.stages.get(audience, Counter())
        funnel.add_row(audience, *(f"{stages[s]:,}" if stages[s] else "·" for s in STAGES))
        result = summary.outcomes.get(audience)
        for letter in "ABCD":
            if result is not None and result.count(letter):
                rates = [result.rate(letter, s) or 0.0 for s in ("sal", "sql", "won")]
                count = f"{result.count(letter):,}"
                outcomes.add_row(audience, letter, count, *(f"{r:.0%}" for r in rates))
    out.print(funnel)
    out.print(outcomes)
    with engine.store.engine.connect() as conn:
        views = find_leads(conn, engine.models, time.time())
    best_id = None
    for audience in audiences:
        mine = [v for v in views if v.audience == audience]
        title = f"{audience}: leads per grade now (A–D fit × 1–4 engagement), and MQLs"
        out.print(grid([v.card.grade for v in mine], [v.stage == "mql" for v in mine], title))
        best = [v for v in mine if v.stage == "mql"][:top]
        if not best:
            continue
        best_id = best_id or best[0].id
        table = Table(title=f"{audience}: the best MQLs now", title_justify="left")
        for column in ("e-mail", "score", "grade", "top reasons"):
            table.add_column(column, justify="right" if column == "score" else "left")
        for view in best:
            parts = [(c, p) for c, p in shown(view.card) if not c.clip and p]
            parts.sort(key=lambda cp: -abs(cp[1]))
            reasons = ", ".join(reason_text(c.rule_id, p, c.events) for c, p in parts[:2])
            score = f"{view.card.score:.2f}"
            table.add_row(view.email or view.person_id, score, view.card.grade, reasons)
        out.print(table)
    return best_id


def _read_key(engine: Engine) -> str:
    """A fresh read-only key for the demo; the ones earlier runs made are revoked."""
    now = time.time()
    with engine.store.transaction() as conn:
        older = conn.scalars(
            sa.select(api_keys.c.id).where(
                api_keys.c.name == KEY_NAME, api_keys.c.revoked_at.is_(None)
            )
        ).all()
        for key_id in older:
            revoke(conn, key_id, now)
        _, secret = create_key(conn, KEY_NAME, ["read"], now)
    return secret


def _batch_demo(path: Path, top: int) -> None:
    """The bundled sample firm scored from files: the A1–D4 grid (no store)."""
    root = path.resolve()
    try:
        workspace = (
            Workspace(root)
            if (root / "leadgrade.toml").is_file()
            else Workspace.create(root, name="Lone Star Staffing (sample)")
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

"""``leadgrade accounts``: employer companies rolled up from their contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from leadgrade.accounts import ACCOUNT_SORTS, find_accounts
from leadgrade.batch.score import counted
from leadgrade.cli.common import Format, FormatOption, fail, iso
from leadgrade.cli.engine_cmds import DatabaseOption, WorkspaceOption, _engine
from leadgrade.cli.output import print_records

COLUMNS = ("domain", "name", "fit", "engagement", "score", "grade", "mqa", "contacts", "engaged")


def register(app: typer.Typer) -> None:
    app.command("accounts")(list_accounts)


def list_accounts(
    audience: Annotated[str | None, typer.Option(help="Only this audience.")] = None,
    mqa: Annotated[
        bool | None, typer.Option("--mqa/--not-mqa", help="Only MQAs, or only the others.")
    ] = None,
    grade: Annotated[str | None, typer.Option(help="Only this grade (A1 … D4).")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Only accounts scoring at least this now.")
    ] = None,
    sort: Annotated[
        str, typer.Option(help="Order: score, engagement (highest first), or contacts engaged.")
    ] = "score",
    limit: Annotated[
        int, typer.Option(help="At most this many accounts, in that order.", min=1)
    ] = 50,
    output_format: FormatOption = None,
    workspace: WorkspaceOption = None,
    db: DatabaseOption = None,
) -> None:
    """List employer accounts with their numbers now: the best contact's fit, the
    contacts' engagement summed (decayed to this moment), grade and MQA status."""
    if sort not in ACCOUNT_SORTS:
        fail(f"--sort {sort!r}: use one of {', '.join(ACCOUNT_SORTS)}")
    engine = _engine(workspace, db)
    now = datetime.now(UTC).timestamp()
    with engine.store.engine.connect() as conn:
        found = find_accounts(
            conn,
            engine.models,
            now,
            audience=audience,
            mqa=mqa,
            grade=grade,
            min_score=min_score,
            sort=sort,
        )
    engine.store.close()
    records = []
    for view in found[:limit]:
        item = view.item()
        records.append(
            {
                "id": item["id"],
                "domain": item["domain"],
                "name": item["name"],
                "fit": round(item["fit"], 2),
                "engagement": round(item["engagement"], 2),
                "score": round(item["score"], 2),
                "grade": item["grade"],
                "mqa": item["mqa"],
                "mqa_since": None if view.mqa_since is None else iso(view.mqa_since),
                "contacts": item["contacts"],
                "engaged": item["engaged_contacts"],
            }
        )
    mqas = sum(1 for record in records if record["mqa"])
    print_records(
        records,
        output_format or Format.table,
        title=f"{counted(len(records), 'account')} by {sort} now, {counted(mqas, 'MQA')}",
        columns=COLUMNS,
        numeric=("fit", "engagement", "score", "contacts", "engaged"),
    )

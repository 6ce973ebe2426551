"""``leadgrade sql`` and ``leadgrade batch``: the scoring model compiled to SQL, printed
or run where the data is (DuckDB, PostgreSQL, Spark)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from leadgrade.batch.score import counted
from leadgrade.cli.common import fail, iso, parse_as_of, stderr
from leadgrade.cli.score_cmd import resolve_model
from leadgrade.sql import CompileError, Inputs, compile_model
from leadgrade.sql.engines import BatchError, run


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
    app.command("batch")(batch)


class SqlDialect(enum.StrEnum):
    duckdb = "duckdb"
    postgres = "postgres"
    spark = "spark"
    bigquery = "bigquery"
    snowflake = "snowflake"


class BatchEngine(enum.StrEnum):
    duckdb = "duckdb"
    postgres = "postgres"
    spark = "spark"


ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Model file, or an audience of the workspace.")
]
AsOfOption = Annotated[
    str | None, typer.Option(help="Score as of this ISO 8601 time (default: now, UTC).")
]
UniqueOption = Annotated[
    bool,
    typer.Option(
        help="The events' ids are known to be unique: skip the check for replayed rows (the "
        "same id for the same lead at the same time, counted once)."
    ),
]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        help="Workspace folder (default: $LEADGRADE_WORKSPACE, or the current folder or a parent).",
        envvar="LEADGRADE_WORKSPACE",
        file_okay=False,
    ),
]


def _columns(text: str | None, option: str) -> frozenset[str] | None:
    if text is None:
        return None
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if not names:
        fail(f"{option}: give the column names, separated by commas")
    return names


def sql(
    model: ModelOption,
    dialect: Annotated[
        SqlDialect,
        typer.Option(help="The SQL dialect to write."),
    ] = SqlDialect.duckdb,
    as_of: AsOfOption = None,
    leads: Annotated[
        str, typer.Option(help="The leads table: id and one column per attribute.")
    ] = "leads",
    events: Annotated[
        str,
        typer.Option(
            help="The events table: id, lead_id, type, occurred_at (a UTC timestamp) and one "
            "column per property."
        ),
    ] = "events",
    lead_columns: Annotated[
        str | None,
        typer.Option(
            help="The leads table's columns, comma-separated; a column the model reads that "
            "is not listed is missing for every lead (default: every column the model reads, "
            "and email)."
        ),
    ] = None,
    event_columns: Annotated[
        str | None,
        typer.Option(
            help="The events table's columns, comma-separated (default: every property the "
            "model filters on)."
        ),
    ] = None,
    unique_event_ids: UniqueOption = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the query to this file.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Print the model compiled to one SQL query: one row per lead with fit, engagement,
    score, grade, mql and each rule's points, the engine's numbers.

    The query reads a leads table and an events table (docs/scale.md). A model that a
    dialect cannot run exactly (a regular expression it has no form for) is refused with
    exit 2, naming the rule's pattern.
    """
    scoring_model = resolve_model(model, workspace)
    at = parse_as_of(as_of)
    inputs = Inputs(
        leads=leads,
        events=events,
        lead_columns=_columns(lead_columns, "--lead-columns"),
        event_columns=_columns(event_columns, "--event-columns"),
        unique_event_ids=unique_event_ids,
    )
    try:
        compiled = compile_model(scoring_model, str(dialect), at, inputs)
    except CompileError as exc:
        fail(str(exc))
    text = compiled.pretty()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        stderr().print(f"wrote {output}", highlight=False)


def batch(
    model: ModelOption,
    leads: Annotated[
        str,
        typer.Option(
            help="Leads: a .csv, .jsonl or .parquet file, or a table of the engine's database."
        ),
    ],
    events: Annotated[
        str,
        typer.Option(
            help="Events (id, lead_id, type, occurred_at, properties): a .csv, .jsonl or "
            ".parquet file, or a table of the engine's database."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where the scores go: a .csv or .parquet file, or a table (replaced) in the "
            "engine's database.",
        ),
    ],
    engine: Annotated[
        BatchEngine,
        typer.Option(help="Where the query runs: embedded DuckDB, PostgreSQL, or Spark."),
    ] = BatchEngine.duckdb,
    as_of: AsOfOption = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="DuckDB: a database file (default: in memory). PostgreSQL: its URL "
            "(default: $LEADGRADE_DATABASE_URL)."
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="Spark: the master URL (default: $LEADGRADE_SPARK_MASTER, else local[*])."
        ),
    ] = None,
    unique_event_ids: UniqueOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Score leads where the data is: the model compiled to SQL and run on DuckDB,
    PostgreSQL or Spark, with the engine's numbers.

    Columns of files are named as `leadgrade score` names them (snake_case) and read as
    text. Spark writes a .csv or .parquet output as a folder of part files.
    """
    scoring_model = resolve_model(model, workspace)
    at = parse_as_of(as_of)
    try:
        result = run(
            str(engine),
            scoring_model,
            leads,
            events,
            at,
            output,
            database=database,
            unique_event_ids=unique_event_ids,
            master=spark_master,
        )
    except BatchError as exc:
        fail(str(exc))
    stderr().print(
        f"{scoring_model.audience}: {counted(result.rows, 'lead')} scored on {engine} "
        f"in {result.seconds:.2f} s; {counted(result.mqls, 'MQL')}; as of {iso(at)}; "
        f"wrote {output}",
        highlight=False,
    )

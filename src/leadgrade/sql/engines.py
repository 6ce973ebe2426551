"""Running the compiled query where the data is: DuckDB (embedded), PostgreSQL, Spark.

A source is a file (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``) or the name of a
table in the engine's database. Files are read as ``leadgrade score`` reads them:
column names in snake_case (``Job Title`` is ``job_title``), every value as text, and
for JSON Lines events the keys of a ``properties`` object as columns. The result goes to
a ``.csv`` or ``.parquet`` file, or to a table (replaced) in the engine's database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from leadgrade.core import Model
from leadgrade.core.attributes import attribute_name
from leadgrade.sql.compiler import Compiled, Inputs, compile_model
from leadgrade.sql.render import CompileError

Engine = Literal["duckdb", "postgres", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "postgres", "spark")
FILE_TYPES = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}
EVENT_COLUMNS = ("id", "lead_id", "type", "occurred_at")


class BatchError(ValueError):
    """A source, output or engine that cannot be used; the message says which."""


@dataclass(frozen=True)
class BatchResult:
    rows: int
    mqls: int
    compiled: Compiled
    seconds: float


def is_file(source: str) -> bool:
    return Path(source).suffix.lower() in FILE_TYPES


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------------------ DuckDB


def duckdb_relation(con: duckdb.DuckDBPyConnection, source: str, events: bool) -> str:
    """A SELECT over ``source`` with snake_case text columns (``occurred_at`` a
    timestamp for events)."""
    path = Path(source)
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        scan = source  # a table (or view) of this database
    else:
        if not path.is_file():
            raise BatchError(f"{source}: no such file")
        scan = {
            "csv": f"read_csv({_literal(str(path))}, header = true, all_varchar = true)",
            "json": f"read_json({_literal(str(path))}, format = 'newline_delimited')",
            "parquet": f"read_parquet({_literal(str(path))})",
        }[kind]
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise BatchError(f"{source}: cannot be read: {str(exc).splitlines()[0]}") from None
    columns: list[str] = []
    names: dict[str, str] = {}
    for name, kind_name, *_ in described:
        if name == "properties" and str(kind_name).startswith("STRUCT") and events:
            for field in _struct_fields(str(kind_name)):
                names[attribute_name(field)] = f"properties.{_quote(field)}"
            continue
        names.setdefault(attribute_name(name), _quote(name))
    for target, expression in names.items():
        if events and target == "occurred_at":
            columns.append(f"CAST({expression} AS TIMESTAMPTZ) AS occurred_at")
        else:
            columns.append(f"CAST({expression} AS VARCHAR) AS {_quote(target)}")
    return f"SELECT {', '.join(columns)} FROM {scan}"


def _struct_fields(kind: str) -> list[str]:
    """The field names of a DuckDB ``STRUCT(a VARCHAR, "b c" BIGINT)`` type."""
    inner = kind[kind.index("(") + 1 : kind.rindex(")")]
    fields, depth, current = [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            part = current.strip()
            name = part[1 : part.index('"', 1)] if part.startswith('"') else part.split(" ")[0]
            fields.append(name)
            current = ""
            continue
        depth += ch in "(["
        depth -= ch in ")]"
        current += ch
    return fields


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> frozenset[str]:
    return frozenset(str(row[0]) for row in con.execute(f"DESCRIBE {view}").fetchall())


def _check_events(columns: frozenset[str], source: str) -> None:
    missing = [c for c in EVENT_COLUMNS if c not in columns]
    if missing:
        raise BatchError(
            f"{source}: no column {missing[0]!r} (events need {', '.join(EVENT_COLUMNS)})"
        )


def run_duckdb(
    model: Model,
    leads: str,
    events: str,
    as_of: float,
    output: str,
    *,
    database: str | None = None,
    unique_event_ids: bool = False,
) -> BatchResult:
    con = duckdb.connect(database or ":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW leadgrade_leads AS {duckdb_relation(con, leads, False)}"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW leadgrade_events AS {duckdb_relation(con, events, True)}"
        )
        lead_columns = _columns(con, "leadgrade_leads")
        if "id" not in lead_columns:
            raise BatchError(f"{leads}: no column 'id'")
        event_columns = _columns(con, "leadgrade_events")
        _check_events(event_columns, events)
        inputs = Inputs(
            "leadgrade_leads", "leadgrade_events", lead_columns, event_columns, unique_event_ids
        )
        compiled = compile_model(model, "duckdb", as_of, inputs)
        start = time.perf_counter()
        try:
            target = Path(output)
            suffix = target.suffix.lower()
            if suffix in (".csv", ".parquet"):
                options = "(FORMAT csv, HEADER)" if suffix == ".csv" else "(FORMAT parquet)"
                con.execute(f"COPY ({compiled.sql}) TO {_literal(str(target))} {options}")
                summary = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE mql) FROM "
                    + (
                        f"read_csv({_literal(str(target))}, header = true)"
                        if suffix == ".csv"
                        else f"read_parquet({_literal(str(target))})"
                    )
                ).fetchone()
            else:
                con.execute(f"CREATE OR REPLACE TABLE {output} AS {compiled.sql}")
                summary = con.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE mql) FROM {output}"
                ).fetchone()
        except duckdb.Error as exc:
            raise BatchError(f"the query failed on DuckDB: {str(exc).splitlines()[0]}") from None
        assert summary is not None
        return BatchResult(int(summary[0]), int(summary[1]), compiled, time.perf_counter() - start)
    finally:
        con.close()


# -------------------------------------------------------------------------- PostgreSQL


def _postgres_url(database: str | None) -> str:
    url = database or os.environ.get("LEADGRADE_DATABASE_URL")
    if not url:
        raise BatchError("--engine postgres needs --database URL (or $LEADGRADE_DATABASE_URL)")
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            url = "postgresql://" + url[len(prefix) :]
    if not url.startswith(("postgresql://", "postgres://")):
        raise BatchError(f"--database {url!r} is not a PostgreSQL URL")
    return url


def run_postgres(
    model: Model,
    leads: str,
    events: str,
    as_of: float,
    output: str,
    *,
    database: str | None = None,
    unique_event_ids: bool = False,
) -> BatchResult:
    import psycopg

    url = _postgres_url(database)
    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise BatchError(f"cannot connect to PostgreSQL: {exc}") from None
    with conn:
        names = []
        columns = []
        for source, table, events_table in (
            (leads, "leadgrade_leads", False),
            (events, "leadgrade_events", True),
        ):
            if is_file(source):
                columns.append(_copy_file(conn, source, table, events_table))
                names.append(table)
            else:
                columns.append(_table_columns(conn, source))
                names.append(source)
        if "id" not in columns[0]:
            raise BatchError(f"{leads}: no column 'id'")
        _check_events(columns[1], events)
        inputs = Inputs(names[0], names[1], columns[0], columns[1], unique_event_ids)
        compiled = compile_model(model, "postgres", as_of, inputs)
        start = time.perf_counter()
        try:
            if Path(output).suffix.lower() in (".csv", ".parquet"):
                with conn.cursor() as cursor:
                    cursor.execute(compiled.sql)
                    rows = cursor.fetchall()
                _write_rows(compiled, rows, Path(output))
                count, mqls = len(rows), sum(1 for row in rows if row[5])
            else:
                conn.execute(f"DROP TABLE IF EXISTS {output}")
                conn.execute(f"CREATE TABLE {output} AS {compiled.sql}")
                found = conn.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE mql) FROM {output}"
                ).fetchone()
                assert found is not None
                count, mqls = int(found[0]), int(found[1])
        except psycopg.Error as exc:
            raise BatchError(f"the query failed on PostgreSQL: {exc}") from None
    return BatchResult(count, mqls, compiled, time.perf_counter() - start)


def _table_columns(conn: Any, table: str) -> frozenset[str]:
    try:
        cursor = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    except Exception as exc:
        raise BatchError(f"{table}: no such table: {exc}") from None
    return frozenset(d.name for d in cursor.description or ())


def _copy_file(conn: Any, source: str, table: str, events: bool) -> frozenset[str]:
    """A file read by DuckDB (as :func:`duckdb_relation` reads it) and copied into a
    temporary PostgreSQL table."""
    reader = duckdb.connect()
    try:
        reader.execute("SET TimeZone = 'UTC'")
        query = duckdb_relation(reader, source, events)
        result = reader.execute(query)
        names = [d[0] for d in result.description]
        types = ", ".join(
            f"{_quote(n)} " + ("timestamptz" if events and n == "occurred_at" else "text")
            for n in names
        )
        conn.execute(f"CREATE TEMP TABLE {table} ({types})")
        listed = ", ".join(_quote(n) for n in names)
        with conn.cursor().copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
            while batch := result.fetchmany(50_000):
                for row in batch:
                    copy.write_row(row)
        return frozenset(names)
    finally:
        reader.close()


def _write_rows(compiled: Compiled, rows: Sequence[Sequence[object]], target: Path) -> None:
    """Rows fetched from another engine, written to a CSV or Parquet file by DuckDB."""
    con = duckdb.connect()
    try:
        types = ["VARCHAR", "DOUBLE", "DOUBLE", "DOUBLE", "VARCHAR", "BOOLEAN"]
        for name in compiled.columns[6:]:
            types.append("BIGINT" if name.startswith("events__") else "DOUBLE")
        con.execute(
            "CREATE TABLE result ("
            + ", ".join(f"{_quote(n)} {t}" for n, t in zip(compiled.columns, types, strict=True))
            + ")"
        )
        marks = ", ".join("?" * len(compiled.columns))
        for start in range(0, len(rows), 10_000):
            chunk = rows[start : start + 10_000]
            con.execute(
                f"INSERT INTO result VALUES {', '.join([f'({marks})'] * len(chunk))}",
                [v for row in chunk for v in row],
            )
        options = "(FORMAT csv, HEADER)" if target.suffix.lower() == ".csv" else "(FORMAT parquet)"
        con.execute(f"COPY result TO {_literal(str(target))} {options}")
    finally:
        con.close()


# ------------------------------------------------------------------------------- Spark


def spark_session(master: str | None = None) -> Any:
    """A Spark session for scoring: UTC, few shuffle partitions in local mode, quiet."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BatchError("--engine spark needs pyspark: pip install 'leadgrade[spark]'") from None
    master = master or os.environ.get("LEADGRADE_SPARK_MASTER", "local[*]")
    builder = (
        SparkSession.builder.master(master)
        .appName("leadgrade")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "8")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_frame(session: Any, source: str, events: bool) -> Any:
    path = Path(source)
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        frame = session.table(source)
    elif "://" not in source and not path.exists():  # s3a://, hdfs:// are Spark's to find
        raise BatchError(f"{source}: no such file")
    elif kind == "csv":
        frame = session.read.csv(str(path), header=True, inferSchema=False)
    elif kind == "json":
        frame = session.read.json(str(path))
    else:
        frame = session.read.parquet(str(path))
    selected: dict[str, str] = {}
    for field in frame.schema.fields:
        if field.name == "properties" and events and field.dataType.typeName() == "struct":
            for inner in field.dataType.fields:
                selected.setdefault(attribute_name(inner.name), f"`properties`.`{inner.name}`")
            continue
        selected.setdefault(attribute_name(field.name), f"`{field.name}`")
    expressions = [
        f"CAST({e} AS TIMESTAMP) AS `occurred_at`"
        if events and name == "occurred_at"
        else f"CAST({e} AS STRING) AS `{name}`"
        for name, e in selected.items()
    ]
    return frame.selectExpr(*expressions)


def run_spark(
    model: Model,
    leads: str,
    events: str,
    as_of: float,
    output: str,
    *,
    database: str | None = None,
    unique_event_ids: bool = False,
    master: str | None = None,
    session: Any = None,
) -> BatchResult:
    """``database`` is not used: Spark reads files, or tables of its catalog."""
    session = session or spark_session(master)
    lead_frame = spark_frame(session, leads, False)
    event_frame = spark_frame(session, events, True)
    lead_frame.createOrReplaceTempView("leadgrade_leads")
    event_frame.createOrReplaceTempView("leadgrade_events")
    lead_columns = frozenset(lead_frame.columns)
    if "id" not in lead_columns:
        raise BatchError(f"{leads}: no column 'id'")
    event_columns = frozenset(event_frame.columns)
    _check_events(event_columns, events)
    inputs = Inputs(
        "leadgrade_leads", "leadgrade_events", lead_columns, event_columns, unique_event_ids
    )
    compiled = compile_model(model, "spark", as_of, inputs)
    start = time.perf_counter()
    result = session.sql(compiled.sql)
    suffix = Path(output).suffix.lower()
    if suffix == ".csv":  # Spark writes a folder of part files by that name
        result.write.mode("overwrite").csv(output, header=True)
        written, mql = session.read.csv(output, header=True), "mql = 'true'"
    elif suffix == ".parquet":
        result.write.mode("overwrite").parquet(output)
        written, mql = session.read.parquet(output), "mql"
    else:
        result.write.mode("overwrite").saveAsTable(output)
        written, mql = session.table(output), "mql"
    count, mqls = written.count(), written.filter(mql).count()
    return BatchResult(int(count), int(mqls), compiled, time.perf_counter() - start)


def run(
    engine: str,
    model: Model,
    leads: str,
    events: str,
    as_of: float,
    output: str,
    *,
    database: str | None = None,
    unique_event_ids: bool = False,
    master: str | None = None,
) -> BatchResult:
    """Score ``leads`` with ``events`` on ``engine`` and write the result to ``output``."""
    try:
        if engine == "duckdb":
            return run_duckdb(
                model,
                leads,
                events,
                as_of,
                output,
                database=database,
                unique_event_ids=unique_event_ids,
            )
        if engine == "postgres":
            return run_postgres(
                model,
                leads,
                events,
                as_of,
                output,
                database=database,
                unique_event_ids=unique_event_ids,
            )
        if engine == "spark":
            return run_spark(
                model,
                leads,
                events,
                as_of,
                output,
                unique_event_ids=unique_event_ids,
                master=master,
            )
    except CompileError as exc:
        raise BatchError(str(exc)) from None
    raise BatchError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")

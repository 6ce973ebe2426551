"""``leadgrade sql`` and ``leadgrade batch`` (DuckDB and PostgreSQL; Spark is in
test_sql_spark.py): files and tables in, files and tables out, the engine's numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from leadgrade.cli import app
from leadgrade.cli.sql_cmds import BatchEngine, SqlDialect
from leadgrade.sql import DIALECTS
from leadgrade.sql.engines import ENGINES
from tests.stores import POSTGRES_URL, postgres_answers
from tests.test_sql_duckdb import SAMPLE_AS_OF, assert_same, sample_cases

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "leadgrade" / "data"
MODEL = DATA / "workspace" / "models" / "employer.yaml"
LEADS = DATA / "sample" / "employer_leads.csv"
EVENTS = DATA / "sample" / "employer_events.csv"
AS_OF = "2026-10-01T00:00:00Z"
runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def check(con: duckdb.DuckDBPyConnection, relation: str, audience: str = "employer") -> None:
    """The scores in ``relation`` are the engine's."""
    from leadgrade.sql import compile_model

    model, cases = sample_cases(audience)
    compiled = compile_model(model, "duckdb", SAMPLE_AS_OF)
    rows = con.execute(f"SELECT {', '.join(compiled.columns)} FROM {relation}").fetchall()
    normalised = [
        tuple(
            v if not isinstance(v, str) or i == 0 or v not in ("true", "false") else v == "true"
            for i, v in enumerate(row)
        )
        for row in rows
    ]
    assert_same(model, compiled, normalised, cases, SAMPLE_AS_OF)


def test_the_cli_choices_are_the_compilers() -> None:
    assert tuple(SqlDialect) == DIALECTS
    assert tuple(BatchEngine) == ENGINES


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sql_prints_the_query(dialect: str) -> None:
    result = invoke("sql", "--model", MODEL, "--dialect", dialect, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"-- leadgrade: scores as of {AS_OF}, for {dialect}")
    assert "points__pricing_page" in result.output


def test_sql_refuses_what_a_dialect_cannot_say(tmp_path: Path) -> None:
    model = tmp_path / "models" / "m.yaml"
    model.parent.mkdir()
    (tmp_path / "lists").mkdir()
    model.write_text(
        MODEL.read_text().split("\nfit:")[0]
        + "\nfit:\n  max: 10\n  rules:\n    - {id: r, field: t, matches: '(a)\\1', points: 1}\n"
        + "engagement: {max: 10}\ngrades:\n  fit: {A: 3, B: 2, C: 1}\n"
        + "  engagement: {1: 3, 2: 2, 3: 1}\nmql: {when: {score_at_least: 1}}\n"
    )
    result = invoke("sql", "--model", model, "--dialect", "postgres")
    assert result.exit_code == 2
    assert "cannot run on postgres: a backreference" in result.output


def test_batch_on_duckdb_from_csv_to_parquet_and_csv(tmp_path: Path) -> None:
    for name in ("scores.parquet", "scores.csv"):
        out = tmp_path / name
        result = invoke(
            "batch",
            "--model",
            MODEL,
            "--leads",
            LEADS,
            "--events",
            EVENTS,
            "--as-of",
            AS_OF,
            "-o",
            out,
        )
        assert result.exit_code == 0, result.output
        assert "250 leads scored on duckdb" in result.output
        reader = "read_parquet" if name.endswith("parquet") else "read_csv"
        check(duckdb.connect(), f"{reader}('{out}')")


def test_batch_on_duckdb_from_jsonl_and_parquet_to_a_table(tmp_path: Path) -> None:
    """JSON Lines events with a properties object, Parquet leads, a table out."""
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{LEADS}', all_varchar = true)) "
        f"TO '{tmp_path / 'l.parquet'}'"
    )
    events = tmp_path / "e.jsonl"
    with events.open("w") as handle:
        for row in con.execute(
            f"SELECT * FROM read_csv('{EVENTS}', all_varchar = true)"
        ).fetchall():
            record = dict(zip(("id", "lead_id", "type", "occurred_at"), row[:4], strict=True))
            record["properties"] = {
                k: v for k, v in zip(("path", "asset_type", "form"), row[4:7], strict=True) if v
            }
            handle.write(json.dumps(record) + "\n")
    con.close()
    database = tmp_path / "scores.duckdb"
    result = invoke(
        "batch", "--model", MODEL, "--leads", tmp_path / "l.parquet", "--events", events,
        "--as-of", AS_OF, "-o", "scores", "--database", database,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    check(duckdb.connect(str(database)), "scores")


def test_batch_names_a_bad_source(tmp_path: Path) -> None:
    result = invoke(
        "batch", "--model", MODEL, "--leads", tmp_path / "nope.csv", "--events", EVENTS,
        "-o", tmp_path / "x.csv",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "nope.csv: no such file" in result.output
    bad = tmp_path / "events.csv"
    bad.write_text("id,lead_id,when\n1,2,3\n")
    result = invoke(
        "batch", "--model", MODEL, "--leads", LEADS, "--events", bad, "-o", tmp_path / "x.csv"
    )
    assert result.exit_code == 2
    assert "no column 'type'" in result.output


@pytest.fixture
def postgres_url() -> str:
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    return POSTGRES_URL


def test_batch_on_postgres_from_files_and_from_tables(postgres_url: str, tmp_path: Path) -> None:
    import uuid

    import psycopg

    out = tmp_path / "scores.parquet"
    result = invoke(
        "batch", "--engine", "postgres", "--database", postgres_url, "--model", MODEL,
        "--leads", LEADS, "--events", EVENTS, "--as-of", AS_OF, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    check(duckdb.connect(), f"read_parquet('{out}')")

    # Tables of the database in, a table out.
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            reader = duckdb.connect()
            for table, path in (("leads", LEADS), ("events", EVENTS)):
                cursor = reader.execute(f"SELECT * FROM read_csv('{path}', all_varchar = true)")
                names = [d[0] for d in cursor.description]
                kinds = ", ".join(
                    f'"{n}" ' + ("timestamptz" if n == "occurred_at" else "text") for n in names
                )
                conn.execute(f'CREATE TABLE "{schema}".{table} ({kinds})')
                with conn.cursor().copy(f'COPY "{schema}".{table} FROM STDIN') as copy:
                    for row in cursor.fetchall():
                        copy.write_row(row)
            result = invoke(
                "batch", "--engine", "postgres", "--database", postgres_url, "--model", MODEL,
                "--leads", f"{schema}.leads", "--events", f"{schema}.events", "--as-of", AS_OF,
                "-o", f"{schema}.scores",
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            rows = conn.execute(f'SELECT * FROM "{schema}".scores').fetchall()
            model, cases = sample_cases("employer")
            from leadgrade.sql import compile_model

            compiled = compile_model(model, "postgres", SAMPLE_AS_OF)
            assert_same(model, compiled, rows, cases, SAMPLE_AS_OF)
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

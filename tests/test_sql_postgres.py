"""The compiled query on PostgreSQL: the engine's numbers, in a fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgrade.core import Model
from leadgrade.sql import Inputs, compile_model
from tests.stores import POSTGRES_URL, postgres_answers
from tests.test_sql_duckdb import (
    AS_OF,
    SAMPLE_AS_OF,
    Lead,
    assert_same,
    event_rows,
    inputs,
    lead_rows,
    leads,
    models,
    sample_cases,
    sample_tables,
)


@pytest.fixture(scope="module")
def server() -> str:
    if not postgres_answers():
        if os.environ.get("LEADGRADE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL does not answer at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    return sa.make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
def pg(server: str) -> Iterator[psycopg.Connection]:
    """A connection whose search path is a new schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path = "{schema}"')
        try:
            yield conn
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def load(
    conn: psycopg.Connection,
    lead_columns: Sequence[str],
    lead_values: Sequence[Sequence[object]],
    event_columns: Sequence[str],
    event_values: Sequence[Sequence[object]],
) -> None:
    for table, columns, rows in (
        ("leads", lead_columns, lead_values),
        ("events", event_columns, event_values),
    ):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        types = ", ".join(
            f'"{c}" ' + ("timestamptz" if c == "occurred_at" else "text") for c in columns
        )
        conn.execute(f"CREATE TABLE {table} ({types})")
        names = ", ".join(f'"{c}"' for c in columns)
        with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def run(
    conn: psycopg.Connection, model: Model, cases: list[Lead], at: float, **extra: object
) -> None:
    compiled = compile_model(model, "postgres", at, inputs(**extra))
    load(conn, *lead_rows(cases), *event_rows(cases))
    rows = conn.execute(compiled.sql).fetchall()  # type: ignore[call-overload]
    assert_same(model, compiled, rows, cases, at)


# The schema is reused between examples: each one drops and recreates its tables.
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(models(), leads(), st.booleans())
def test_postgres_scores_as_the_engine_does(
    pg: psycopg.Connection, model: Model, cases: list[Lead], unique: bool
) -> None:
    run(pg, model, cases, AS_OF.timestamp(), unique_event_ids=unique)


@pytest.mark.parametrize("audience", ["employer", "candidate"])
def test_postgres_scores_the_sample_as_the_engine_does(
    pg: psycopg.Connection, audience: str
) -> None:
    model, cases = sample_cases(audience)
    lead_columns, lead_values, event_columns, event_values = sample_tables(cases)
    load(pg, lead_columns, lead_values, event_columns, event_values)
    compiled = compile_model(
        model,
        "postgres",
        SAMPLE_AS_OF,
        Inputs(lead_columns=frozenset(lead_columns), event_columns=frozenset(event_columns)),
    )
    assert_same(model, compiled, pg.execute(compiled.sql).fetchall(), cases, SAMPLE_AS_OF)  # type: ignore[call-overload]

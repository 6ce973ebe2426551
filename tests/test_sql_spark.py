"""The compiled query on Spark (local mode): the engine's numbers. One session serves
every test of the run (it takes seconds to start), and the tests are few and small."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from leadgrade.core import Model
from leadgrade.sql import Inputs, compile_model
from leadgrade.sql.engines import run_spark
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


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (17) on the PATH")
    from leadgrade.sql.engines import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def frames(
    spark: Any,
    lead_columns: Sequence[str],
    lead_values: Sequence[Sequence[object]],
    event_columns: Sequence[str],
    event_values: Sequence[Sequence[object]],
) -> None:
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    def schema(columns: Sequence[str]) -> StructType:
        return StructType(
            [
                StructField(c, TimestampType() if c == "occurred_at" else StringType())
                for c in columns
            ]
        )

    spark.createDataFrame(
        list(map(tuple, lead_values)), schema(lead_columns)
    ).createOrReplaceTempView("leads")
    spark.createDataFrame(
        list(map(tuple, event_values)), schema(event_columns)
    ).createOrReplaceTempView("events")


@settings(max_examples=4, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(models(), leads(max_leads=3, max_events=12))
def test_spark_scores_as_the_engine_does(spark: Any, model: Model, cases: list[Lead]) -> None:
    as_of = AS_OF.timestamp()
    compiled = compile_model(model, "spark", as_of, inputs())
    frames(spark, *lead_rows(cases), *event_rows(cases))
    rows = [tuple(row) for row in spark.sql(compiled.sql).collect()]
    assert_same(model, compiled, rows, cases, as_of)


def test_spark_scores_the_employer_sample_as_the_engine_does(spark: Any) -> None:
    model, cases = sample_cases("employer")
    lead_columns, lead_values, event_columns, event_values = sample_tables(cases)
    frames(spark, lead_columns, lead_values, event_columns, event_values)
    compiled = compile_model(
        model,
        "spark",
        SAMPLE_AS_OF,
        Inputs(lead_columns=frozenset(lead_columns), event_columns=frozenset(event_columns)),
    )
    rows = [tuple(row) for row in spark.sql(compiled.sql).collect()]
    assert_same(model, compiled, rows, cases, SAMPLE_AS_OF)


def test_leadgrade_batch_on_spark_reads_files_and_writes_parquet(
    spark: Any, tmp_path: Path
) -> None:
    """The batch runner on Spark: the sample's CSV files in, a Parquet folder out."""
    import duckdb

    root = Path(__file__).resolve().parent.parent / "src" / "leadgrade" / "data" / "sample"
    model, cases = sample_cases("candidate")
    out = tmp_path / "scores.parquet"
    result = run_spark(
        model,
        str(root / "candidate_leads.csv"),
        str(root / "candidate_events.csv"),
        SAMPLE_AS_OF,
        str(out),
        session=spark,
    )
    assert result.rows == len(cases)
    rows = duckdb.connect().execute(f"SELECT * FROM read_parquet('{out}/*.parquet')").fetchall()
    assert_same(model, result.compiled, rows, cases, SAMPLE_AS_OF)
    assert datetime.fromtimestamp(result.compiled.as_of, UTC).year == 2026

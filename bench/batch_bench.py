"""Benchmark the scoring model compiled to SQL (issue #9) against a hand-written ceiling.

At ``--scale 1`` (the default): 1,000,000 employer leads and about 10,000,000 events,
scored with the shipped employer model as of 2026-10-01. In one run:

1. **Data** (not timed; cached in ``--out``): ``--base`` leads drawn with
   :func:`leadgrade.sample.employers` (about 10 events a lead), replicated by DuckDB up to
   the wanted count (copy *k* gets new lead and event ids and its events moved *k* hours
   earlier, so caps and decay see distinct times), written as Parquet.
2. **Compiled DuckDB**: ``leadgrade.sql.compile_model(model, "duckdb", …)`` over views of
   the Parquet files, materialised as a table, as ``leadgrade batch`` runs it: with the
   check for replayed rows (the default) and without it
   (``--unique-event-ids``).
3. **The ceiling**: one hand-written DuckDB query for the same sums (fit, decayed and
   capped engagement, score, grade, MQL), written for this model by hand, over the same
   views, materialised the same way. It skips what a hand-writer who knows the data
   skips: no replay check, plain ``lower(trim())``, no per-rule columns.
4. **The pure-Python engine**: :func:`leadgrade.core.score` lead by lead, on the first
   ``--python-leads`` leads only, extrapolated to the whole data set by events per second
   (labelled so).
5. **Spark local mode** (``--spark``, on by default): session start-up timed apart, then
   the compiled Spark query over the same Parquet files, run to completion with Spark's
   ``noop`` writer.

Every path's scores are checked against the compiled DuckDB result (the ceiling and
Spark on every lead, the Python engine on its sample); a disagreement beyond 1e-9 exits 1.
Figures print with their ratio to the ceiling, and go to ``batch_bench.json`` in ``--out``.

Run: ``.venv/bin/python bench/batch_bench.py`` (``make bench-batch``); ``--scale 0.01`` for a
quick look. See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from leadgrade import sample
from leadgrade.core import Event, Model, score
from leadgrade.sql import Inputs, compile_model
from leadgrade.workspace import lists_for, load_model

HERE = Path(__file__).resolve().parent
AS_OF = sample.AS_OF.timestamp()
FULL_LEADS = 1_000_000
TOLERANCE = 1e-9
PROPERTIES = ("path", "asset_type", "form")


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------- data


def model_path() -> Path:
    return Path(
        str(resources.files("leadgrade") / "data" / "workspace" / "models" / "employer.yaml")
    )


def generate(out: Path, leads: int, base: int, seed: int) -> tuple[Path, Path, int]:
    """leads.parquet and events.parquet for ``leads`` leads; cached by parameters."""
    folder = out / "data" / f"batch-n{leads}-b{base}-s{seed}"
    leads_file, events_file, done = (
        folder / "leads.parquet",
        folder / "events.parquet",
        folder / "done",
    )
    if done.is_file():
        return leads_file, events_file, int(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    base = min(base, leads)
    start = time.perf_counter()
    # Written as CSV and read by DuckDB: its executemany runs one statement a row.
    lead_csv, event_csv = folder / "base_leads.csv", folder / "base_events.csv"
    lead_columns = ("id", "email", "job_title", "company_size", "industry", "state")
    with lead_csv.open("w", newline="") as lh, event_csv.open("w", newline="") as eh:
        lead_writer = csv.writer(lh)
        event_writer = csv.writer(eh)
        lead_writer.writerow(lead_columns)
        event_writer.writerow(("id", "lead_id", "type", "occurred_at", *PROPERTIES))
        for lead, events in sample.employers(random.Random(seed), base, activity=2.2):
            lead_writer.writerow([lead[c] for c in lead_columns])
            for event in events:
                event_writer.writerow(
                    [event["id"], event["lead_id"], event["type"], event["occurred_at"]]
                    + [event.get(p) or "" for p in PROPERTIES]
                )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE TABLE base_leads AS SELECT * FROM read_csv('{lead_csv}', all_varchar = true)"
    )
    con.execute(
        f"CREATE TABLE base_events AS SELECT * FROM read_csv('{event_csv}', all_varchar = true)"
    )
    copies = math.ceil(leads / base)
    con.execute(f"CREATE TABLE copies AS SELECT range AS k FROM range({copies})")
    con.execute(
        f"""COPY (
            SELECT l.id || '-' || c.k AS id, email, job_title, company_size, industry, state
            FROM base_leads l, copies c
            QUALIFY row_number() OVER (ORDER BY c.k, l.id) <= {leads}
        ) TO '{leads_file}' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (
            SELECT e.id || '-' || c.k AS id, e.lead_id || '-' || c.k AS lead_id, e.type,
                   CAST(e.occurred_at AS TIMESTAMPTZ) - c.k * INTERVAL 1 HOUR AS occurred_at,
                   {", ".join(PROPERTIES)}
            FROM base_events e, copies c
            SEMI JOIN read_parquet('{leads_file}') l ON e.lead_id || '-' || c.k = l.id
        ) TO '{events_file}' (FORMAT parquet)"""
    )
    count = con.execute(f"SELECT count(*) FROM read_parquet('{events_file}')").fetchone()
    assert count is not None
    con.close()
    done.write_text(str(count[0]))
    print(f"data generated in {time.perf_counter() - start:.1f} s ({folder})", flush=True)
    return leads_file, events_file, int(count[0])


# ----------------------------------------------------------------------------- DuckDB


def duckdb_con(leads_file: Path, events_file: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW leads AS SELECT * FROM read_parquet('{leads_file}')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{events_file}')")
    return con


def timed(con: duckdb.DuckDBPyConnection, query: str, table: str) -> float:
    con.execute(f"DROP TABLE IF EXISTS {table}")
    start = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE {table} AS {query}")
    return time.perf_counter() - start


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE)"


def ceiling_query(model: Model) -> str:
    """The same sums, written by hand for the shipped employer model: its constants come
    from the model, its shape is this model's (the script stops if the model changed)."""
    from leadgrade.core.conditions import Between, In, Matches, Memo, Prefix

    def bare(condition: object) -> Any:
        return condition.condition if isinstance(condition, Memo) else condition

    fit_rules = {r.id: r for r in model.fit_rules}
    expected = ["title-seniority", "title-function", "company-size", "target-industry",
                "served-geography", "free-email", "competitor"]  # fmt: skip
    if list(fit_rules) != expected or len(model.engagement_rules) != 11:
        raise BenchError("the employer model changed shape; update the hand-written query")

    def cases(rule_id: str, column: str) -> str:
        whens = []
        for condition, points in fit_rules[rule_id].cases:
            op = bare(condition)
            if isinstance(op, Matches):
                test = f"regexp_matches({column}, {_text(op.pattern.pattern)})"
            elif isinstance(op, Between):
                parts = []
                if op.low is not None:
                    parts.append(f"{column} >= {_double(op.low)}")
                if op.high is not None:
                    parts.append(f"{column} <= {_double(op.high)}")
                test = " AND ".join(parts)
            elif isinstance(op, In):
                options = ", ".join(_text(str(o).strip().casefold()) for o in op.options)
                test = f"lower(trim({column})) IN ({options})"
            else:
                raise BenchError(f"fit rule {rule_id}: unexpected {type(op).__name__}")
            whens.append(f"WHEN {test} THEN {_double(points)}")
        return f"CASE {' '.join(whens)} ELSE 0 END"

    fit = " + ".join(
        cases(rule, column)
        for rule, column in (
            ("title-seniority", "job_title"), ("title-function", "job_title"),
            ("company-size", "size"), ("target-industry", "industry"),
            ("served-geography", "state"), ("free-email", "domain"), ("competitor", "domain"),
        )
    )  # fmt: skip
    feeds = []
    for rule in model.engagement_rules:
        tests = [f"type = {_text(t)}" for t in rule.event_types]
        test = "(" + " OR ".join(tests) + ")"
        for name, condition in rule.where:
            op = bare(condition)
            if isinstance(op, Prefix):
                test += f" AND starts_with(lower(trim({name})), {_text(op.prefix.casefold())})"
            elif isinstance(op, In):
                options = ", ".join(_text(str(o).strip().casefold()) for o in op.options)
                test += f" AND lower(trim({name})) IN ({options})"
            else:
                raise BenchError(f"rule {rule.id}: unexpected {type(op).__name__}")
        feeds.append(f"WHEN {test} THEN {rule.index}")
    rules = ", ".join(
        f"({r.index}, {_double(r.points)}, {'NULL' if r.cap is None else _double(r.cap)}, "
        f"{'NULL' if r.window is None else _double(r.window)}, "
        f"{_double(model.decay_rate if r.decays else 0.0)})"
        for r in model.engagement_rules
    )
    g = model.spec.grades
    fit_min = "" if model.fit_min is None else f", {_double(model.fit_min)}"
    as_of = _double(AS_OF)
    return f"""
WITH
fit AS (
    SELECT id, greatest(least({fit}, {_double(model.fit_max)}){fit_min}) AS fit
    FROM (
        SELECT id, job_title, industry, state,
               TRY_CAST(replace(trim(company_size), ',', '') AS DOUBLE) AS size,
               lower(trim(regexp_extract(email, '@([^@]*)$', 1))) AS domain
        FROM leads
    )
),
rules (rule, points, cap, span, rate) AS (VALUES {rules}),
fed AS (
    SELECT lead_id, id, epoch(occurred_at) AS t, CASE {" ".join(feeds)} END AS rule
    FROM events
),
ranked AS (
    SELECT fed.lead_id, fed.t, rules.points, rules.cap, rules.rate,
           row_number() OVER (
               PARTITION BY fed.lead_id, fed.rule,
                   CASE WHEN rules.span IS NULL THEN 0 ELSE floor(fed.t / rules.span) END
               ORDER BY fed.t, fed.id) - 1 AS k
    FROM fed JOIN rules USING (rule)
    WHERE fed.t <= {as_of}
),
engagement AS (
    SELECT lead_id AS id, least(sum(
        CASE WHEN cap IS NULL THEN points
             ELSE sign(points) * least(greatest(cap - k * abs(points), 0), abs(points)) END
        * exp(-rate * ({as_of} - t))), {_double(model.engagement_max)}) AS engagement
    FROM ranked GROUP BY lead_id
)
SELECT id, fit, engagement, fit + engagement AS score,
       CASE WHEN fit >= {_double(g.fit.A)} THEN 'A' WHEN fit >= {_double(g.fit.B)} THEN 'B'
            WHEN fit >= {_double(g.fit.C)} THEN 'C' ELSE 'D' END
       || CASE WHEN engagement >= {_double(g.engagement.one)} THEN '1'
               WHEN engagement >= {_double(g.engagement.two)} THEN '2'
               WHEN engagement >= {_double(g.engagement.three)} THEN '3' ELSE '4' END AS grade,
       fit + engagement >= {_double(model.mql.score_at_least or 0.0)} AS mql
FROM (SELECT fit.id, fit.fit, coalesce(engagement.engagement, 0) AS engagement
      FROM fit LEFT JOIN engagement USING (id))
"""


def compare(
    con: duckdb.DuckDBPyConnection, table: str, against: str = "compiled"
) -> dict[str, Any]:
    row = con.execute(
        f"""SELECT count(*), count(b.id),
               max(abs(a.score - b.score) / greatest(1, abs(a.score))),
               count(*) FILTER (WHERE a.grade <> b.grade OR a.mql <> b.mql)
        FROM {against} a LEFT JOIN {table} b USING (id)"""
    ).fetchone()
    assert row is not None
    return {
        "leads": row[0],
        "matched": row[1],
        "max_rel_diff": row[2] or 0.0,
        "decisions_differ": row[3],
    }


# ----------------------------------------------------------------------------- Python


def python_engine(
    model: Model, leads_file: Path, events_file: Path, count: int
) -> tuple[float, int, dict[str, tuple[float, str, bool]]]:
    """(seconds, events, scores) of the core scoring the first ``count`` leads, one by one
    (reading the rows is not timed)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lead_rows = con.execute(
        f"SELECT * FROM read_parquet('{leads_file}') ORDER BY id LIMIT {count}"
    ).fetchall()
    names = [d[0] for d in con.description]
    con.execute("CREATE TABLE chosen (id VARCHAR)")
    con.executemany("INSERT INTO chosen VALUES (?)", [[r[0]] for r in lead_rows])
    events: dict[str, list[Event]] = {}
    for row in con.execute(
        f"SELECT id, lead_id, type, epoch_us(occurred_at) / 1e6, {', '.join(PROPERTIES)} "
        f"FROM read_parquet('{events_file}') WHERE lead_id IN (SELECT id FROM chosen)"
    ).fetchall():
        properties = {p: v for p, v in zip(PROPERTIES, row[4:], strict=True) if v is not None}
        events.setdefault(row[1], []).append(Event(row[0], row[2], float(row[3]), properties))
    con.close()
    from leadgrade.core.attributes import enrich

    attributes = [
        (
            row[0],
            enrich(
                {n: v for n, v in zip(names, row, strict=True) if v not in (None, "") and n != "id"}
            ),
        )
        for row in lead_rows
    ]
    start = time.perf_counter()
    scores = {}
    for lead_id, attrs in attributes:
        card = score(model, attrs, events.get(lead_id, ()), AS_OF)
        scores[lead_id] = (card.score, card.grade, card.mql)
    seconds = time.perf_counter() - start
    return seconds, sum(len(v) for v in events.values()), scores


# ------------------------------------------------------------------------------ Spark


def spark_run(
    model: Model, leads_file: Path, events_file: Path, out: Path, inputs: Inputs
) -> dict[str, Any]:
    start = time.perf_counter()
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[*]")
        .appName("leadgrade-bench")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - start
    session.read.parquet(str(leads_file)).createOrReplaceTempView("leads")
    session.read.parquet(str(events_file)).createOrReplaceTempView("events")
    compiled = compile_model(model, "spark", AS_OF, inputs)
    start = time.perf_counter()
    session.sql(compiled.sql).write.format("noop").mode("overwrite").save()
    noop = time.perf_counter() - start
    target = out / "spark_scores.parquet"
    start = time.perf_counter()
    session.sql(compiled.sql).select("id", "score", "grade", "mql").write.mode("overwrite").parquet(
        str(target)
    )
    written = time.perf_counter() - start
    session.stop()
    return {"startup": started, "query": noop, "query_and_write": written, "output": str(target)}


# ----------------------------------------------------------------------------- report


@dataclass
class Figure:
    name: str
    seconds: float
    events: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else math.inf


def machine() -> str:
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    python = sys.version.split()[0]
    return (
        f"{cores} cores, load average {load:.1f} at the start, Python {python}, "
        f"DuckDB {duckdb.__version__}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of 1,000,000 leads (default 1)"
    )
    parser.add_argument(
        "--base", type=int, default=100_000, help="leads drawn before replication (100000)"
    )
    parser.add_argument(
        "--python-leads",
        type=int,
        default=20_000,
        help="leads the pure-Python engine scores (20000)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs of each DuckDB query; the best counts (3)"
    )
    parser.add_argument("--no-spark", action="store_true", help="leave Spark out")
    parser.add_argument("--seed", type=int, default=sample.SEED)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--show-sql",
        action="store_true",
        help="print the compiled and the hand-written query, and stop",
    )
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.runs < 1:
        parser.error("--scale must be above 0 and --runs at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model_file = model_path()
    model = load_model(model_file, lists_for(model_file, None))
    columns = Inputs(
        lead_columns=frozenset(("id", "email", "job_title", "company_size", "industry", "state")),
        event_columns=frozenset(("id", "lead_id", "type", "occurred_at", *PROPERTIES)),
    )
    compiled = compile_model(model, "duckdb", AS_OF, columns)
    unique = Inputs(
        lead_columns=columns.lead_columns,
        event_columns=columns.event_columns,
        unique_event_ids=True,
    )
    compiled_unique = compile_model(model, "duckdb", AS_OF, unique)
    ceiling = ceiling_query(model)
    if args.show_sql:
        print(compiled.pretty())
        print(ceiling)
        return 0
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    leads = max(1, round(FULL_LEADS * args.scale))
    print(f"machine: {machine()}", flush=True)
    leads_file, events_file, events = generate(out, leads, args.base, args.seed)
    print(f"data: {leads:,} leads, {events:,} events (Parquet, {leads_file.parent})", flush=True)

    con = duckdb_con(leads_file, events_file)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    runs: dict[str, list[float]] = {"ceiling": [], "compiled": [], "compiled_unique": []}
    for _ in range(args.runs):
        runs["ceiling"].append(timed(con, ceiling, "ceiling"))
        runs["compiled"].append(timed(con, compiled.sql, "compiled"))
        runs["compiled_unique"].append(timed(con, compiled_unique.sql, "compiled_unique"))
        print("  runs (s): " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in runs.items()), flush=True)
    checks = {
        "ceiling": compare(con, "ceiling"),
        "compiled_unique": compare(con, "compiled_unique"),
    }

    figures = [
        Figure("hand-written DuckDB query (the ceiling)", min(runs["ceiling"]), events),
        Figure("compiled DuckDB query", min(runs["compiled"]), events, "replayed rows checked"),
        Figure("compiled DuckDB query, --unique-event-ids", min(runs["compiled_unique"]), events),
    ]

    sample_leads = min(args.python_leads, leads)
    seconds, sample_events, scores = python_engine(model, leads_file, events_file, sample_leads)
    con.execute("CREATE TEMP TABLE python (id VARCHAR, score DOUBLE, grade VARCHAR, mql BOOLEAN)")
    con.executemany("INSERT INTO python VALUES (?, ?, ?, ?)", [[k, *v] for k, v in scores.items()])
    checks["python"] = compare(con, "compiled", against="python")
    figures.append(
        Figure(
            "pure-Python engine (core.score per lead)",
            seconds * events / max(1, sample_events),
            events,
            f"EXTRAPOLATED from {sample_leads:,} leads, {sample_events:,} events "
            f"in {seconds:.2f} s",
        )
    )

    spark: dict[str, Any] | None = None
    if not args.no_spark:
        try:
            spark = spark_run(model, leads_file, events_file, out, columns)
        except Exception as exc:  # no Java, no pyspark: reported, not fatal
            print(f"Spark left out: {exc}", flush=True)
        if spark is not None:
            con.execute(
                "CREATE TEMP TABLE spark AS "
                f"SELECT * FROM read_parquet('{spark['output']}/*.parquet')"
            )
            checks["spark"] = compare(con, "spark")
            startup = f"start-up {spark['startup']:.1f} s not included"
            figures.append(
                Figure("Spark local, compiled query (noop writer)", spark["query"], events, startup)
            )
            figures.append(
                Figure("Spark local, query + Parquet write", spark["query_and_write"], events)
            )

    ceiling_seconds = figures[0].seconds
    print(f"\nDuckDB threads: {threads[0] if threads else '?'}; as of {sample.AS_OF.isoformat()}")
    print(f"{'':48} {'seconds':>9} {'events/s':>14} {'× ceiling':>10}")
    for figure in figures:
        print(
            f"{figure.name:48} {figure.seconds:9.2f} {figure.rate:14,.0f} "
            f"{figure.seconds / ceiling_seconds:9.2f}×  {figure.note}"
        )
    if spark is not None:
        print(f"Spark session start-up: {spark['startup']:.1f} s")
    target = figures[1].seconds / ceiling_seconds
    print(
        f"\ntarget: compiled DuckDB ≤ 1.5× the ceiling: {target:.2f}× — "
        + ("MET" if target <= 1.5 else "MISSED")
    )
    bad = []
    for name, check in checks.items():
        print(f"agreement with compiled DuckDB — {name}: {check}")
        if (
            check["matched"] != check["leads"]
            or check["max_rel_diff"] > TOLERANCE
            or check["decisions_differ"]
        ):
            bad.append(name)
    (out / "batch_bench.json").write_text(
        json.dumps(
            {
                "leads": leads,
                "events": events,
                "figures": [asdict(f) | {"events_per_second": f.rate} for f in figures],
                "spark": spark,
                "checks": checks,
                "runs": runs,
                "machine": machine(),
            },
            indent=2,
            default=str,
        )
    )
    if bad:
        print(f"DISAGREEMENT: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The compiled query against the pure engine, on DuckDB: generated models (every operator,
caps, once, negative points, decay, clips), leads and events; the same fit, engagement,
score, grade, MQL and per-rule contributions.

The helpers here (strategies, loading, comparing) serve the PostgreSQL and Spark tests too.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leadgrade.core import Event, Model, Scorecard, parse_model, score
from leadgrade.core.attributes import enrich
from leadgrade.sql import Compiled, CompileError, Inputs, compile_model

START = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = START + timedelta(days=20)
LISTS = {"industries": ("Staffing", " logistics ", "50", "TRUE")}
FIELDS = ("title", "size", "industry", "email_domain")
PROPERTIES = ("p", "q")
EVENT_TYPES = ("web.page_view", "form.submit", "email.click")

# Text values: ASCII, thousands commas, Unicode whitespace (stripped by Python and by the
# query alike), numbers in the forms Python's float() reads, and words that read as
# true/false. Non-ASCII letters are left out: regular expressions' \b and \w are the
# engine's own there (docs/scale.md).
TEXTS = (
    "VP Sales",
    " vp ",
    "Clerk",
    "Head of Talent",
    "director",
    "",
    "   ",
    "\u00a0Staffing\u2003",
    "STAFFING ",
    "staffing",
    "Logistics",
    "1,200",
    " 50 ",
    "50",
    "50.0",
    "5e1",
    "n/a",
    "50 employees",
    "-5",
    ".5",
    "1_000",
    "inf",
    "-Infinity",
    "nan",
    "true",
    "Yes",
    "0",
    "no",
    "/pricing/rates",
    " /Pricing",
    "/about",
    "consultation",
    "gmail.com",
    "x\ny",
    "a-b_c",
)
values = st.sampled_from(TEXTS) | st.text(string.ascii_letters + " ,.-/", max_size=8)

points = st.one_of(
    st.integers(-20, 40).filter(bool),
    st.floats(-20, 40, allow_nan=False).filter(lambda p: abs(p) > 0.01).map(lambda p: round(p, 2)),
)
number = st.sampled_from([0, 5, 50, 49.5, 1200, -5, 1000])
scalar = st.one_of(st.sampled_from((*TEXTS[:12], "50", "yes")), number, st.booleans())
PATTERNS = (
    r"(?i)\bvp\b",
    r"^dir",
    r"ector$",
    r"[0-9]+",
    r"\s",
    r"\S+\s+\S",
    r"(?i)head\s+of",
    r"a.c",
    r"\d{2,}",
    r"(?i)^\s*v[a-z]?p",
    r"staff|logist",
    r"[^a-z ]",
    r"x\Z",
    r"\Ay",
    r"(?:ab)+?",
    r"\.",
    r"(?i)[A-C]-",
    r"\w+_\w",
)


def operators() -> st.SearchStrategy[dict[str, Any]]:
    one = st.one_of(
        st.builds(lambda v: {"equals": v}, scalar),
        st.builds(lambda v: {"in": v}, st.lists(scalar, min_size=1, max_size=4)),
        st.just({"in_list": "industries"}),
        st.builds(lambda v: {"matches": v}, st.sampled_from(PATTERNS)),
        st.builds(lambda a, b: {"between": [min(a, b), max(a, b)]}, number, number),
        st.builds(lambda v: {"at_least": v}, number),
        st.builds(lambda v: {"at_most": v}, number),
        st.builds(lambda v: {"exists": v}, st.booleans()),
        st.builds(lambda v: {"contains": v}, st.sampled_from(["staff", " VP", "0", 50, True])),
        st.builds(lambda v: {"prefix": v}, st.sampled_from(["/pricing", " /pri", "", "Dir"])),
    )
    return st.lists(one, min_size=1, max_size=2).map(
        lambda ops: {k: v for o in ops for k, v in o.items()}
    )


@st.composite
def fit_rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    rules = []
    for index in range(draw(st.integers(0, 4))):
        rule: dict[str, Any] = {"id": f"fit-{index}", "field": draw(st.sampled_from(FIELDS))}
        form = draw(st.sampled_from(["one", "cases", "bins"]))
        if form == "one":
            rule.update(draw(operators()))
            rule["points"] = draw(points)
        elif form == "cases":
            rule["cases"] = [
                {**draw(operators()), "points": draw(points)}
                for _ in range(draw(st.integers(1, 3)))
            ]
        else:
            rule["bins"] = [
                {"at_most": 10, "points": draw(points)},
                {"between": [11, 500], "points": draw(points)},
                {"at_least": 501, "points": draw(points)},
            ][: draw(st.integers(1, 3))]
        rules.append(rule)
    return rules


@st.composite
def engagement_rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    rules = []
    for index in range(draw(st.integers(0, 5))):
        rule: dict[str, Any] = {
            "id": draw(st.sampled_from([f"rule-{index}", f"r.{index}", f"r_{index}"])),
            "event": draw(st.sampled_from([*EVENT_TYPES, list(EVENT_TYPES[:2])])),
            "points": draw(points),
        }
        where = draw(st.dictionaries(st.sampled_from(PROPERTIES), operators(), max_size=2))
        if where:
            rule["where"] = where
        limit = draw(st.sampled_from(["none", "cap", "window", "once"]))
        if limit == "cap":
            rule["cap"] = {"points": draw(st.sampled_from([1, 10, 25, 60, 0.3]))}
        elif limit == "window":
            rule["cap"] = {
                "points": draw(st.sampled_from([1, 10, 25, 60])),
                "per": draw(st.sampled_from(["1h", "1d", "7d"])),
            }
        elif limit == "once":
            rule["once"] = True
        if draw(st.booleans()):
            rule["decays"] = False
        rules.append(rule)
    return rules


@st.composite
def models(draw: st.DrawFn) -> Model:
    engagement: dict[str, Any] = {
        "max": draw(st.sampled_from([20, 100, 1000])),
        "rules": draw(engagement_rules()),
    }
    decay = draw(
        st.sampled_from(
            [None, {"half_life": "1h"}, {"half_life": "7d"}, {"per": "90d", "lose": "25%"}]
        )
    )
    if decay is not None:
        engagement["decay"] = decay
    fit: dict[str, Any] = {"max": draw(st.sampled_from([10, 30, 50])), "rules": draw(fit_rules())}
    if draw(st.booleans()):
        fit["min"] = -5
    when = draw(
        st.sampled_from(
            [
                {"score_at_least": 20},
                {"grades": ["A1", "B2", "C3"]},
                {"any": [{"score_at_least": 40}, {"fit_at_least": 10, "engagement_at_least": 5}]},
            ]
        )
    )
    data = {
        "audience": "employer",
        "fit": fit,
        "engagement": engagement,
        "grades": {"fit": {"A": 20, "B": 10, "C": 5}, "engagement": {"1": 30, "2": 15, "3": 5}},
        "mql": {"when": when},
    }
    ids = [r["id"] for r in fit["rules"] + engagement["rules"]]
    if len(set(ids)) != len(ids):  # two generated ids alike: rename the engagement ones
        for i, rule in enumerate(engagement["rules"]):
            rule["id"] = f"engaged-{i}"
    return parse_model(yaml.safe_dump(data), "generated.yaml", LISTS)


@dataclass
class Lead:
    id: str
    attributes: dict[str, str | None]
    events: list[Event]


@st.composite
def leads(draw: st.DrawFn, max_leads: int = 5, max_events: int = 20) -> list[Lead]:
    out = []
    serial = 0
    for index in range(draw(st.integers(1, max_leads))):
        attributes = {name: draw(st.none() | values) for name in FIELDS}
        attributes["email"] = draw(
            st.sampled_from([None, "ann@Acme.COM ", "bob@gmail.com", "no-at-sign", "a@b@c.io"])
        )
        events = []
        for _ in range(draw(st.integers(0, max_events))):
            serial += 1
            # A narrow clock: ties (the same microsecond) and shared cap windows are common;
            # some events come after the as-of time.
            offset = draw(
                st.sampled_from([0, 1, 3600, 86400, 86400 * 19, 86400 * 20, 86400 * 21])
                | st.integers(0, 86400 * 21)
            )
            at = START + timedelta(
                seconds=offset, microseconds=draw(st.sampled_from([0, 0, 1, 250000]))
            )
            properties = {name: draw(st.none() | values) for name in PROPERTIES}
            events.append(
                Event(
                    id=draw(
                        st.sampled_from(
                            [f"e{serial:03d}", f"Z{serial}", f"a-{serial}", f"é{serial}"]
                        )
                    ),
                    type=draw(st.sampled_from([*EVENT_TYPES, "other"])),
                    at=at.timestamp(),
                    properties={k: v for k, v in properties.items() if v is not None},
                )
            )
        out.append(Lead(f"L{index}", attributes, events))
    return out


# ------------------------------------------------------------------------- the tables


def lead_rows(cases: Sequence[Lead]) -> tuple[list[str], list[list[str | None]]]:
    columns = ["id", *FIELDS, "email"]
    return columns, [[lead.id, *(lead.attributes[c] for c in columns[1:])] for lead in cases]


def event_rows(cases: Sequence[Lead]) -> tuple[list[str], list[list[object]]]:
    columns = ["id", "lead_id", "type", "occurred_at", *PROPERTIES]
    rows: list[list[object]] = []
    for lead in cases:
        for event in lead.events:
            when = datetime.fromtimestamp(event.at, UTC)
            rows.append(
                [
                    event.id,
                    lead.id,
                    event.type,
                    when,
                    *(event.properties.get(p) for p in PROPERTIES),
                ]
            )
    return columns, rows


def inputs(**extra: Any) -> Inputs:
    return Inputs(
        lead_columns=frozenset(lead_rows([])[0]),
        event_columns=frozenset(event_rows([])[0]),
        **extra,
    )


def expected(model: Model, case: Lead, as_of: float) -> Scorecard:
    """The engine's scorecard, from attributes as the batch reader gives them (empty
    values left out, ``email_domain`` derived from ``email``)."""
    attributes = enrich({k: v for k, v in case.attributes.items() if v not in (None, "")})
    return score(model, attributes, case.events, as_of)


THRESHOLDS = (5, 10, 15, 20, 30, 40)


def assert_same(
    model: Model,
    compiled: Compiled,
    rows: Sequence[Sequence[Any]],
    cases: Sequence[Lead],
    as_of: float,
) -> None:
    got = {row[0]: dict(zip(compiled.columns, row, strict=True)) for row in rows}
    assert sorted(got) == sorted(c.id for c in cases)
    for case in cases:
        card = expected(model, case, as_of)
        row = got[case.id]
        where = f"lead {case.id}: engine {card} vs SQL {row}"
        assert row["fit"] == pytest.approx(card.fit, rel=1e-9, abs=1e-9), where
        assert row["engagement"] == pytest.approx(card.engagement, rel=1e-9, abs=1e-9), where
        assert row["score"] == pytest.approx(card.score, rel=1e-9, abs=1e-9), where
        # A decision right at a threshold may go either way with the last bit of a sum.
        if all(abs(card.fit - t) > 1e-6 and abs(card.engagement - t) > 1e-6 for t in THRESHOLDS):
            assert row["grade"] == card.grade, where
            if all(abs(card.score - t) > 1e-6 for t in THRESHOLDS):
                assert bool(row["mql"]) is card.mql, where
        contributions = {c.rule_id: c for c in card.contributions}
        for rule in compiled.rules:
            mine = contributions.get(rule.rule_id)
            if mine is None:
                assert row[rule.points] is None, f"{rule.rule_id}: {where}"
                if rule.events:
                    assert row[rule.events] == 0, where
                continue
            assert row[rule.points] == pytest.approx(mine.points, rel=1e-9, abs=1e-9), where
            if rule.events:
                assert row[rule.events] == mine.events, f"{rule.rule_id}: {where}"
        for part in ("fit", "engagement"):
            clip = [c for c in card.contributions if c.clip and c.kind == part]
            value = row[f"{part}_clip"]
            if clip:
                assert value == pytest.approx(clip[0].points, rel=1e-9, abs=1e-9), where
            else:
                assert value is None, where


# ---------------------------------------------------------------------------- DuckDB


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]) -> None:
    """All rows in one statement (``executemany`` runs one statement a row)."""
    if rows:
        marks = "(" + ", ".join("?" * len(rows[0])) + ")"
        values = ", ".join([marks] * len(rows))
        con.execute(f"INSERT INTO {table} VALUES {values}", [v for row in rows for v in row])


def duckdb_tables(cases: Sequence[Lead]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    columns, rows = lead_rows(cases)
    con.execute("CREATE TABLE leads (" + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")")
    insert(con, "leads", rows)
    columns, event_values = event_rows(cases)
    types = {"occurred_at": "TIMESTAMPTZ"}
    con.execute(
        "CREATE TABLE events ("
        + ", ".join(f'"{c}" {types.get(c, "VARCHAR")}' for c in columns)
        + ")"
    )
    insert(con, "events", event_values)
    return con


@settings(max_examples=80)
@given(models(), leads(), st.booleans())
def test_duckdb_scores_as_the_engine_does(model: Model, cases: list[Lead], unique: bool) -> None:
    as_of = AS_OF.timestamp()
    compiled = compile_model(model, "duckdb", as_of, inputs(unique_event_ids=unique))
    con = duckdb_tables(cases)
    rows = con.execute(compiled.sql).fetchall()
    assert_same(model, compiled, rows, cases, as_of)


def test_a_replayed_event_id_counts_once(base_model: Model) -> None:
    event = Event("e1", "demo.request", START.timestamp())
    case = Lead("L1", dict.fromkeys((*FIELDS, "email")), [event])
    twice = Lead("L1", case.attributes, [event, event])
    compiled = compile_model(base_model, "duckdb", AS_OF.timestamp(), inputs())
    rows = duckdb_tables([twice]).execute(compiled.sql).fetchall()
    assert_same(base_model, compiled, rows, [case], AS_OF.timestamp())
    # Capped too: three replays of one pricing view take one place of the cap.
    view = Event("v1", "web.page_view", START.timestamp(), {"path": "/pricing"})
    later = Event("v2", "web.page_view", START.timestamp() + 60, {"path": "/pricing"})
    once = Lead("L1", case.attributes, [view, later])
    replayed = Lead("L1", case.attributes, [view, view, view, later])
    events = inputs().event_columns | {"path"}  # type: ignore[operator]
    compiled = compile_model(
        base_model,
        "duckdb",
        AS_OF.timestamp(),
        Inputs(lead_columns=inputs().lead_columns, event_columns=events),
    )
    con = duckdb_tables([replayed])
    con.execute("ALTER TABLE events ADD COLUMN path VARCHAR DEFAULT '/pricing'")
    assert_same(
        base_model, compiled, con.execute(compiled.sql).fetchall(), [once], AS_OF.timestamp()
    )


def test_an_id_repeated_at_another_time_is_two_events(base_model: Model) -> None:
    """Not a replay but a clash of ids: documented as counted twice (docs/scale.md)."""
    first = Event("e1", "demo.request", START.timestamp())
    second = Event("e1", "demo.request", START.timestamp() + 3600)
    case = Lead("L1", dict.fromkeys((*FIELDS, "email")), [first, second])
    compiled = compile_model(base_model, "duckdb", AS_OF.timestamp(), inputs())
    rows = duckdb_tables([case]).execute(compiled.sql).fetchall()
    row = dict(zip(compiled.columns, rows[0], strict=True))
    assert row["events__demo"] == 2


def test_a_lead_without_events_and_columns_absent_from_the_tables(base_model: Model) -> None:
    """A column the model reads that the table lacks is missing for every lead."""
    con = duckdb.connect()
    con.execute("CREATE TABLE leads (id VARCHAR)")
    con.execute("INSERT INTO leads VALUES ('L1')")
    con.execute(
        "CREATE TABLE events (id VARCHAR, lead_id VARCHAR, type VARCHAR, occurred_at TIMESTAMPTZ)"
    )
    compiled = compile_model(
        base_model,
        "duckdb",
        AS_OF.timestamp(),
        Inputs(
            lead_columns=frozenset({"id"}),
            event_columns=frozenset({"id", "lead_id", "type", "occurred_at"}),
        ),
    )
    rows = con.execute(compiled.sql).fetchall()
    card = score(base_model, {}, [], AS_OF.timestamp())
    assert rows[0][:6] == ("L1", card.fit, card.engagement, card.score, card.grade, card.mql)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "bigquery", "snowflake"])
def test_every_dialect_compiles_the_shipped_models(
    dialect: str, shipped_models: Mapping[str, Model]
) -> None:
    for model in shipped_models.values():
        compiled = compile_model(model, dialect, AS_OF.timestamp())
        assert "points__" in compiled.sql
        assert compiled.pretty().startswith("-- leadgrade: scores as of 2026-05-21T00:00:00Z")


def test_an_unknown_dialect_is_refused(base_model: Model) -> None:
    with pytest.raises(CompileError, match="unknown dialect 'mysql'"):
        compile_model(base_model, "mysql", 0.0)


def test_a_regex_an_engine_cannot_say_is_refused_not_approximated() -> None:
    data = {
        "audience": "employer",
        "fit": {"max": 10, "rules": [{"id": "r", "field": "t", "matches": "(?<=a)b", "points": 1}]},
        "engagement": {"max": 10},
        "grades": {"fit": {"A": 3, "B": 2, "C": 1}, "engagement": {"1": 3, "2": 2, "3": 1}},
        "mql": {"when": {"score_at_least": 1}},
    }
    model = parse_model(yaml.safe_dump(data))
    with pytest.raises(CompileError, match=r"cannot run on duckdb: a lookahead or lookbehind"):
        compile_model(model, "duckdb", 0.0)
    assert "(?<=a)b" in compile_model(model, "spark", 0.0).sql


def test_output_names_are_plain_and_distinct() -> None:
    data = {
        "audience": "employer",
        "fit": {
            "max": 10,
            "rules": [
                {"id": "a-b", "field": "t", "exists": True, "points": 1},
                {"id": "a.b", "field": "t", "exists": True, "points": 1},
            ],
        },
        "engagement": {"max": 10, "rules": [{"id": "a_b", "event": "x", "points": 1}]},
        "grades": {"fit": {"A": 3, "B": 2, "C": 1}, "engagement": {"1": 3, "2": 2, "3": 1}},
        "mql": {"when": {"score_at_least": 1}},
    }
    compiled = compile_model(parse_model(yaml.safe_dump(data)), "bigquery", 0.0)
    assert [r.points for r in compiled.rules] == ["points__a_b", "points__a_b_2", "points__a_b_3"]
    assert len(set(compiled.columns)) == len(compiled.columns)


def test_nothing_in_the_printed_query_is_an_invisible_character(
    shipped_models: Mapping[str, Model],
) -> None:
    for dialect in ("duckdb", "postgres", "bigquery", "snowflake"):
        text = compile_model(shipped_models["employer"], dialect, 0.0).pretty()
        assert all(ch == "\n" or ch.isprintable() for ch in text), dialect


def test_the_number_reader_reads_what_python_float_reads() -> None:
    """``as_number`` on text and the query's number column, side by side."""
    from leadgrade.core.conditions import as_number

    samples = [
        "12",
        " 1,200 ",
        "1_000",
        "1__0",
        "_1",
        "1_",
        "5.",
        ".5",
        "+5",
        "-0",
        "1e5",
        "1E+05",
        "1e400",
        "inf",
        "-INF",
        "+infinity",
        "nan",
        "n/a",
        "",
        " ",
        "\u00a012\u2003",
        "0x10",
        "1.5.2",
        "١٢",
        "12abc",
        "1e",
        "e1",
        ".",
        "-",
        "1,2,3",
    ]
    data = {
        "audience": "employer",
        "fit": {"max": 10, "rules": [{"id": "r", "field": "t", "at_least": -1e300, "points": 1}]},
        "engagement": {"max": 10},
        "grades": {"fit": {"A": 3, "B": 2, "C": 1}, "engagement": {"1": 3, "2": 2, "3": 1}},
        "mql": {"when": {"score_at_least": 1}},
    }
    model = parse_model(yaml.safe_dump(data))
    con = duckdb.connect()
    con.execute("CREATE TABLE leads (id VARCHAR, t VARCHAR)")
    con.executemany("INSERT INTO leads VALUES (?, ?)", [[str(i), s] for i, s in enumerate(samples)])
    con.execute(
        "CREATE TABLE events (id VARCHAR, lead_id VARCHAR, type VARCHAR, occurred_at TIMESTAMPTZ)"
    )
    compiled = compile_model(model, "duckdb", 0.0, Inputs(lead_columns=frozenset({"id", "t"})))
    held = {row[0]: row[6] is not None for row in con.execute(compiled.sql).fetchall()}
    # Documented gaps: Unicode digits and exponents of three digits or more.
    gaps = {"١٢", "1e400"}
    for i, sample in enumerate(samples):
        number = as_number(sample)
        python = number is not None and not math.isnan(number) and number >= -1e300
        if sample not in gaps:
            assert held[str(i)] is python, repr(sample)


# ------------------------------------------------------------- the bundled sample data


def sample_cases(audience: str) -> tuple[Model, list[Lead]]:
    """The bundled model and sample leads and events of ``audience``, as generated cases."""
    from importlib import resources
    from pathlib import Path

    from leadgrade.batch.files import read_events, read_lead_table
    from leadgrade.workspace import lists_for, load_model

    root = Path(str(resources.files("leadgrade") / "data"))
    path = root / "workspace" / "models" / f"{audience}.yaml"
    model = load_model(path, lists_for(path, None))
    table = read_lead_table(root / "sample" / f"{audience}_leads.csv")
    assert table.names is not None
    assert table.rows is not None
    by_lead: dict[str, list[Event]] = {}
    for _, event_id, lead_id, kind, at, properties in read_events(
        root / "sample" / f"{audience}_events.csv"
    ):
        by_lead.setdefault(lead_id, []).append(Event(event_id, kind, at, dict(properties)))
    cases = [
        Lead(
            lead_id,
            {n: (v or None) for n, v in zip(table.names, row, strict=True) if n != "id"},
            by_lead.get(lead_id, []),
        )  # type: ignore[misc]
        for lead_id, row in zip(table.ids, table.rows, strict=True)
    ]
    return model, cases


SAMPLE_AS_OF = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
SAMPLE_PROPERTIES = ("path", "asset_type", "form", "channel", "source", "campaign")


def sample_tables(
    cases: Sequence[Lead],
) -> tuple[list[str], list[list[object]], list[str], list[list[object]]]:
    """(lead columns, lead rows, event columns, event rows) of sample cases."""
    lead_columns = ["id", *cases[0].attributes]
    leads = [[c.id, *c.attributes.values()] for c in cases]
    event_columns = ["id", "lead_id", "type", "occurred_at", *SAMPLE_PROPERTIES]
    events: list[list[object]] = [
        [
            e.id,
            c.id,
            e.type,
            datetime.fromtimestamp(e.at, UTC),
            *(e.properties.get(p) for p in SAMPLE_PROPERTIES),
        ]
        for c in cases
        for e in c.events
    ]
    return lead_columns, leads, event_columns, events


@pytest.mark.parametrize("audience", ["employer", "candidate"])
def test_duckdb_scores_the_sample_as_the_engine_does(audience: str) -> None:
    model, cases = sample_cases(audience)
    lead_columns, leads, event_columns, events = sample_tables(cases)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE leads (" + ", ".join(f'"{c}" VARCHAR' for c in lead_columns) + ")")
    insert(con, "leads", leads)
    con.execute(
        "CREATE TABLE events ("
        + ", ".join(
            f'"{c}" ' + ("TIMESTAMPTZ" if c == "occurred_at" else "VARCHAR") for c in event_columns
        )
        + ")"
    )
    insert(con, "events", events)
    compiled = compile_model(
        model,
        "duckdb",
        SAMPLE_AS_OF,
        Inputs(lead_columns=frozenset(lead_columns), event_columns=frozenset(event_columns)),
    )
    assert_same(model, compiled, con.execute(compiled.sql).fetchall(), cases, SAMPLE_AS_OF)

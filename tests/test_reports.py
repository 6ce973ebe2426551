"""The reports (issue 7): funnel, grades, sla, volume and diagnostics on a dataset small
enough to check by hand, on SQLite and PostgreSQL; the funnel again computed
independently with pandas; the CLI and the API; and the reports of a demo firm."""

from __future__ import annotations

import csv
import io
import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app as cli_app
from leadgrade.engine import AudienceMap, Engine
from leadgrade.keys import create_key
from leadgrade.reports import (
    KINDS,
    LeadFacts,
    Limits,
    ReportError,
    ReportParams,
    make_report,
    quantile,
)
from leadgrade.reports.diagnostics import diagnose
from leadgrade.store import Store
from leadgrade.store.schema import (
    assignments,
    events,
    feedback,
    leads,
    people,
    stage_changes,
)
from leadgrade.times import utc
from tests.conftest import BASE_MODEL, DAY, T0, build

HOUR = 3600.0
NOW = T0 + 60 * DAY
MODELS = {
    "employer": build(BASE_MODEL),
    "candidate": build({**BASE_MODEL, "audience": "candidate"}),
}

# ----------------------------------------------------------------- a dataset by hand
#
# Leads created at T0 (2026-05-28, cohort 2026-05) unless said; days after T0; the actor
# is a rep unless said. First touch: the person's earliest event with a channel, source
# or campaign.
#
#   lead  audience   grade  owner  history                                  first touch
#   L1    employer   A1     ana    mql 1, sal 3, sql 5, opportunity 10,    email/newsletter/may
#                                  won 21                                   (an earlier event
#                                                                           has none)
#   L2    employer   A1→A2  ana    mql 2, sql 4 (feedback: qualify, A2)    paid/google/brand
#   L3    employer   B2     ben    mql 1, recycled 2, mql 9 (engine)       paid/google/brand
#   L4    employer   B2     ben    mql 1, recycled 31 (engine: expired)    email/newsletter/may
#   L5    employer   C3     —      —                                       (none)
#   L6    employer   A1     ben    sal 6 (by hand, from lead)              organic/—/—
#   L7    employer   B2     ana    mql 1, disqualified 2                    paid/google/brand
#   C1    candidate  A2     cy     created T0+40; mql 41, sql 42, won 52   job_board/indeed/—
#
# Reached (a later stage of the line reaches the earlier ones): lead 8, mql 7 (all but
# L5; L6 at day 6), sal 4 (L1, L2, L6, C1), sql 3 (L1, L2, C1), opportunity 2, won 2.
# Decisions on MQLs (not the engine's): accepted L1, L2, C1; rejected L3, L7 → 3 of 5.
# Days lead→mql 1,2,1,1,6,1,1; mql→sal 2,2,0,1; mql→sql 4,2,1; sql→won 16,10;
# mql→won 20,11.

PEOPLE: dict[str, str] = {}


def add_person(conn: sa.Connection) -> str:
    person = str(uuid.uuid4())
    conn.execute(
        sa.insert(people).values(id=person, attributes={}, created_at=utc(T0), updated_at=utc(T0))
    )
    return person


def add_lead(
    conn: sa.Connection,
    person: str,
    *,
    audience: str = "employer",
    grade: str = "D4",
    owner: str | None = None,
    created: float = T0,
    history: Sequence[tuple[str, float, str]] = (),
) -> str:
    """A lead whose history is ``(to_stage, days after creation, actor)`` moves."""
    lead_id = str(uuid.uuid4())
    stage = history[-1][0] if history else "lead"
    conn.execute(
        sa.insert(leads).values(
            id=lead_id,
            person_id=person,
            audience=audience,
            fit=0.0,
            engagement=0.0,
            score=0.0,
            grade=grade,
            stage=stage,
            state={},
            model_digest="x",
            owner=owner,
            created_at=utc(created),
            updated_at=utc(created),
        )
    )
    previous = None
    for to_stage, days, actor in [("lead", 0.0, "engine"), *history]:
        conn.execute(
            sa.insert(stage_changes).values(
                lead_id=lead_id,
                at=utc(created + days * DAY),
                from_stage=previous,
                to_stage=to_stage,
                actor=actor,
                reason="",
            )
        )
        previous = to_stage
    return lead_id


def add_event(
    conn: sa.Connection,
    person: str,
    at: float,
    kind: str = "web.page_view",
    *,
    audience: str = "employer",
    channel: str | None = None,
    source: str | None = None,
    campaign: str | None = None,
    **properties: Any,
) -> None:
    conn.execute(
        sa.insert(events).values(
            id=str(uuid.uuid4()),
            person_id=person,
            type=kind,
            occurred_at=utc(at),
            received_at=utc(at),
            audiences=[audience],
            properties=properties,
            channel=channel,
            source=source,
            campaign=campaign,
        )
    )


REP = "ana@firm.example"


def hand_dataset(store: Store) -> dict[str, str]:
    ids: dict[str, str] = {}
    with store.transaction() as conn:
        p = {name: add_person(conn) for name in ("L1", "L2", "L3", "L4", "L5", "L6", "L7", "C1")}
        ids["L1"] = add_lead(
            conn,
            p["L1"],
            grade="A1",
            owner="ana",
            history=[
                ("mql", 1, "engine"),
                ("sal", 3, REP),
                ("sql", 5, REP),
                ("opportunity", 10, "crm"),
                ("won", 21, "crm"),
            ],
        )
        ids["L2"] = add_lead(
            conn,
            p["L2"],
            grade="A1",
            owner="ana",
            history=[("mql", 2, "engine"), ("sql", 4, REP)],
        )
        ids["L3"] = add_lead(
            conn,
            p["L3"],
            grade="B2",
            owner="ben",
            history=[("mql", 1, "engine"), ("recycled", 2, REP), ("mql", 9, "engine")],
        )
        ids["L4"] = add_lead(
            conn,
            p["L4"],
            grade="B2",
            owner="ben",
            history=[("mql", 1, "engine"), ("recycled", 31, "engine")],
        )
        ids["L5"] = add_lead(conn, p["L5"], grade="C3")
        ids["L6"] = add_lead(conn, p["L6"], grade="A1", owner="ben", history=[("sal", 6, REP)])
        ids["L7"] = add_lead(
            conn,
            p["L7"],
            grade="B2",
            owner="ana",
            history=[("mql", 1, "engine"), ("disqualified", 2, REP)],
        )
        ids["C1"] = add_lead(
            conn,
            p["C1"],
            audience="candidate",
            grade="A2",
            owner="cy",
            created=T0 + 40 * DAY,
            history=[("mql", 1, "engine"), ("sql", 2, REP), ("won", 12, "ats")],
        )
        conn.execute(
            sa.insert(feedback).values(
                id="fb-1",
                lead_id=ids["L2"],
                decision="qualify",
                reason=None,
                details={},
                from_stage="mql",
                to_stage="sql",
                actor=REP,
                at=utc(T0 + 4 * DAY),
                grade="A2",
                score=70.0,
            )
        )
        # First touches (and the engagement rules' events: `pricing` fires once).
        add_event(conn, p["L1"], T0 - 5 * DAY, path="/pricing")
        add_event(
            conn,
            p["L1"],
            T0 - 3 * DAY,
            "email.click",
            channel="email",
            source="newsletter",
            campaign="may",
        )
        add_event(conn, p["L1"], T0 - DAY, channel="paid", source="google", path="/blog")
        for name in ("L2", "L3", "L7"):
            add_event(
                conn, p[name], T0 - 2 * DAY, channel="paid", source="google", campaign="brand"
            )
        add_event(conn, p["L4"], T0 - DAY, channel="email", source="newsletter", campaign="may")
        add_event(conn, p["L6"], T0 - DAY, channel="organic")
        add_event(
            conn,
            p["C1"],
            T0 + 39 * DAY,
            "job.apply",
            audience="candidate",
            channel="job_board",
            source="indeed",
        )
        # SLA clocks: within, late and breached, breached untouched, no SLA, open.
        for lead, owner, team, at, due, touched, breached in [
            ("L1", "ana", "enterprise", T0 + DAY, T0 + DAY + HOUR, T0 + DAY + HOUR / 2, None),
            (
                "L2",
                "ana",
                "enterprise",
                T0 + 2 * DAY,
                T0 + 3 * DAY,
                T0 + 2 * DAY + 30 * HOUR,
                T0 + 3 * DAY,
            ),
            ("L3", "ben", "smb", T0 + DAY, T0 + 2 * DAY, None, T0 + 2 * DAY),
            ("L4", "ben", "smb", T0 + DAY, None, T0 + DAY + 2 * HOUR, None),
            ("L7", "ben", "smb", NOW - HOUR, NOW + 23 * HOUR, None, None),
        ]:
            conn.execute(
                sa.insert(assignments).values(
                    lead_id=ids[lead],
                    owner=owner,
                    team=team,
                    rule="fallback",
                    at=utc(at),
                    actor="engine",
                    reason="",
                    due_at=None if due is None else utc(due),
                    touched_at=None if touched is None else utc(touched),
                    breached_at=None if breached is None else utc(breached),
                )
            )
    return ids


def report(store: Store, name: str, **params: Any) -> dict[str, Any]:
    with store.engine.connect() as conn:
        made = make_report(name, conn, ReportParams(**params), NOW, MODELS)
    return json.loads(json.dumps(made.public()))


def rows_by(made: dict[str, Any], *keys: str) -> dict[Any, dict[str, Any]]:
    found = {}
    for row in made["rows"]:
        key = tuple(row[k] for k in keys)
        found[key[0] if len(keys) == 1 else key] = row
    return found


def approx(value: float | None) -> Any:
    return None if value is None else pytest.approx(value)


# ------------------------------------------------------------------------ funnel


def test_the_funnel_of_a_hand_computed_dataset(store: Store) -> None:
    hand_dataset(store)
    made = report(store, "funnel")
    (total,) = made["rows"]
    counts = {k: total[k] for k in ("leads", "mqls", "sals", "sqls", "opportunitys", "won")}
    assert counts == {
        "leads": 8,
        "mqls": 7,
        "sals": 4,
        "sqls": 3,
        "opportunitys": 2,
        "won": 2,
    }
    assert total["lead_to_mql"] == approx(7 / 8)
    assert total["mql_to_sal"] == approx(4 / 7)
    assert total["sal_to_sql"] == approx(3 / 4)
    assert total["sql_to_opportunity"] == approx(2 / 3)
    assert total["opportunity_to_won"] == 1.0
    assert total["mql_to_sql"] == approx(3 / 7)
    assert total["mql_to_won"] == approx(2 / 7)
    assert (total["accepted"], total["decided"], total["acceptance_rate"]) == (3, 5, 0.6)
    days = {k[5:]: v for k, v in total.items() if k.startswith("days_")}
    assert days == {
        "lead_to_mql_median": 1.0,
        "lead_to_mql_p90": approx(3.6),  # 1,1,1,1,1,2,6
        "mql_to_sal_median": 1.5,  # 0,1,2,2
        "mql_to_sal_p90": 2.0,
        "mql_to_sql_median": 2.0,  # 1,2,4
        "mql_to_sql_p90": approx(3.6),
        "sql_to_won_median": 13.0,  # 10,16
        "sql_to_won_p90": approx(15.4),
        "mql_to_won_median": 15.5,  # 11,20
        "mql_to_won_p90": approx(19.1),
    }
    assert made["by"] == []
    assert made["audience"] is None
    assert "acceptance_rate" in made["definitions"]


def test_the_funnel_by_audience_source_and_cohort(store: Store) -> None:
    hand_dataset(store)
    by_audience = rows_by(report(store, "funnel", by=("audience",)), "audience")
    assert list(by_audience) == ["(all)", "candidate", "employer"]
    employer = by_audience["employer"]
    assert [employer[k] for k in ("leads", "mqls", "sals", "sqls", "opportunitys", "won")] == [
        7,
        6,
        3,
        2,
        1,
        1,
    ]
    assert (employer["accepted"], employer["decided"], employer["acceptance_rate"]) == (2, 4, 0.5)
    assert employer["mql_to_sql"] == approx(2 / 6)
    candidate = by_audience["candidate"]
    assert (candidate["leads"], candidate["won"], candidate["days_mql_to_won_median"]) == (
        1,
        1,
        11.0,
    )

    by_source = rows_by(report(store, "funnel", by=("source",)), "source")
    assert {k: (r["leads"], r["mqls"], r["won"]) for k, r in by_source.items()} == {
        "(all)": (8, 7, 2),
        "(none)": (2, 1, 0),  # L5 (no events), L6 (a channel but no source)
        "google": (3, 3, 0),
        "indeed": (1, 1, 1),
        "newsletter": (2, 2, 1),  # L1's first touch: not its later paid visit
    }
    assert by_source["newsletter"]["mql_to_won"] == 0.5
    by_cohort = rows_by(report(store, "funnel", by=("cohort", "owner")), "cohort", "owner")
    assert {k: r["leads"] for k, r in by_cohort.items()} == {
        ("(all)", "(all)"): 8,
        ("2026-05", "(none)"): 1,
        ("2026-05", "ana"): 3,
        ("2026-05", "ben"): 3,
        ("2026-07", "cy"): 1,
    }
    by_grade = rows_by(report(store, "funnel", by=("grade",)), "grade")
    assert {k: r["leads"] for k, r in by_grade.items()} == {
        "(all)": 8,
        "A1": 2,
        "A2": 2,
        "B2": 3,
        "C3": 1,  # L2 graded A2 by its feedback
    }


def test_the_window_takes_leads_created_in_it_and_history_before_its_end(store: Store) -> None:
    hand_dataset(store)
    (early,) = report(store, "funnel", until=T0 + 4.5 * DAY)["rows"]
    # C1 was created later; L6 reached sal on day 6; L1's sql (day 5) is after the end.
    assert [early[k] for k in ("leads", "mqls", "sals", "sqls", "won")] == [7, 5, 2, 1, 0]
    assert (early["accepted"], early["decided"]) == (2, 4)  # L1 sal, L2 sql; L3, L7
    (late,) = report(store, "funnel", since=T0 + 30 * DAY)["rows"]
    assert (late["leads"], late["won"]) == (1, 1)
    (candidates,) = report(store, "funnel", audience="candidate")["rows"]
    assert candidates["leads"] == 1


def test_bad_report_parameters(store: Store) -> None:
    with store.engine.connect() as conn:
        for params, field in [
            (ReportParams(by=("colour",)), "by"),
            (ReportParams(by=("source", "source")), "by"),
            (ReportParams(since=T0, until=T0), "until"),
            (ReportParams(audience="talent"), "audience"),
        ]:
            with pytest.raises(ReportError) as caught:
                make_report("funnel", conn, params, NOW, MODELS)
            assert caught.value.field == field
        with pytest.raises(ReportError):
            make_report("grades", conn, ReportParams(by=("grade",)), NOW, MODELS)


def test_quantiles_interpolate_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.9) == 3.0
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([10, 16], 0.9) == pytest.approx(15.4)
    assert quantile([5, 1, 3], 0.5) == 3


# ---------------------------------------------------------- the funnel, by pandas


def test_the_funnel_agrees_with_pandas(store: Store) -> None:
    """The same figures computed straight from the tables with pandas: first reach of each
    stage of the line (or a later one), counts, rates, acceptance and median/p90 days."""
    pd = pytest.importorskip("pandas")
    hand_dataset(store)
    with store.engine.connect() as conn:
        lead_rows = pd.read_sql(sa.select(leads.c.id, leads.c.audience), conn)
        history = pd.read_sql(sa.select(stage_changes), conn)
    history["at"] = pd.to_datetime(history["at"], utc=True)
    line = ["lead", "mql", "sal", "sql", "opportunity", "won"]
    on_line = history[history["to_stage"].isin(line)].copy()
    on_line["rank"] = on_line["to_stage"].map(line.index)
    first = {}
    for i, stage in enumerate(line):
        first[stage] = on_line[on_line["rank"] >= i].groupby("lead_id")["at"].min()
    reached = pd.DataFrame(first).reindex(lead_rows["id"])
    decisions = history[(history["from_stage"] == "mql") & (history["actor"] != "engine")]
    accepted = decisions["to_stage"].isin(["sal", "sql", "opportunity", "won"]).sum()
    rejected = decisions["to_stage"].isin(["recycled", "disqualified", "lead"]).sum()

    (ours,) = report(store, "funnel")["rows"]
    counts = reached.notna().sum()
    for stage in line:
        key = "won" if stage == "won" else f"{stage}s"
        assert ours[key] == int(counts[stage]), stage
    for a, b in itertools.pairwise(line):
        assert ours[f"{a}_to_{b}"] == pytest.approx(counts[b] / counts[a])
    assert ours["mql_to_sql"] == pytest.approx(counts["sql"] / counts["mql"])
    assert ours["acceptance_rate"] == pytest.approx(accepted / (accepted + rejected))
    for a, b in [("lead", "mql"), ("mql", "sal"), ("mql", "sql"), ("sql", "won"), ("mql", "won")]:
        days = ((reached[b] - reached[a]).dt.total_seconds() / DAY).dropna()
        assert ours[f"days_{a}_to_{b}_median"] == pytest.approx(days.median())
        assert ours[f"days_{a}_to_{b}_p90"] == pytest.approx(days.quantile(0.9))


# ------------------------------------------------------------------------ grades


def test_grades_per_cell(store: Store) -> None:
    hand_dataset(store)
    made = report(store, "grades")
    cells = rows_by(made, "grade")
    assert list(cells) == ["(all)", *(f"{x}{d}" for x in "ABCD" for d in "1234")]
    figures = {
        g: (r["leads"], r["mqls"], r["sqls"], r["won"], r["mql_to_sql"], r["mql_to_won"])
        for g, r in cells.items()
        if r["leads"]
    }
    assert figures == {
        "(all)": (8, 7, 3, 2, approx(3 / 7), approx(2 / 7)),
        "A1": (2, 2, 1, 1, 0.5, 0.5),  # L1, L6
        "A2": (2, 2, 2, 1, 1.0, 0.5),  # L2 (its feedback's grade), C1
        "B2": (3, 3, 0, 0, 0.0, 0.0),
        "C3": (1, 0, 0, 0, None, None),
    }
    assert cells["D4"]["leads"] == 0
    assert cells["D4"]["mql_to_sql"] is None
    split = rows_by(report(store, "grades", by=("audience",)), "audience", "grade")
    assert split[("employer", "A2")]["leads"] == 1
    assert ("candidate", "D4") not in split  # with other groups, only cells with leads


# --------------------------------------------------------------------------- sla


def test_sla_by_team_and_owner(store: Store) -> None:
    hand_dataset(store)
    made = report(store, "sla")
    assert made["by"] == ["team", "owner"]
    rows = rows_by(made, "team", "owner")
    total = rows[("(all)", "(all)")]
    assert {
        k: total[k] for k in ("assignments", "touched", "judged", "within_sla", "breaches", "open")
    } == {
        "assignments": 5,
        "touched": 3,
        "judged": 3,
        "within_sla": 1,
        "breaches": 2,
        "open": 1,
    }
    assert total["hours_to_first_touch_median"] == 2.0  # 0.5, 2, 30
    assert total["hours_to_first_touch_p90"] == pytest.approx(24.4)
    assert total["within_sla_share"] == pytest.approx(1 / 3)
    ana = rows[("enterprise", "ana")]
    assert (ana["touched"], ana["hours_to_first_touch_median"], ana["within_sla_share"]) == (
        2,
        15.25,
        0.5,
    )
    ben = rows[("smb", "ben")]
    assert (ben["judged"], ben["within_sla"], ben["within_sla_share"], ben["breaches"]) == (
        1,
        0,
        0.0,
        1,
    )
    assert ben["open"] == 1
    teams = rows_by(report(store, "sla", by=("team",), until=NOW - DAY), "team")
    assert teams["smb"]["assignments"] == 2  # the open one was assigned after the end


# ------------------------------------------------------------------------ volume


def test_volume_per_iso_week_by_audience_and_source(store: Store) -> None:
    hand_dataset(store)
    made = report(store, "volume")
    assert made["by"] == ["audience", "source"]
    assert {
        (r["week"], r["audience"], r["source"]): (r["mqls"], r["leads"]) for r in made["rows"]
    } == {
        ("(all)", "(all)", "(all)"): (7, 6),  # L3 became an MQL twice; L6 never moved to mql
        ("2026-W22", "employer", "google"): (3, 3),
        ("2026-W22", "employer", "newsletter"): (2, 2),
        ("2026-W23", "employer", "google"): (1, 1),
        ("2026-W28", "candidate", "indeed"): (1, 1),
    }
    june = report(store, "volume", since=T0 + 5 * DAY, until=T0 + 30 * DAY, by=("channel",))
    assert [(r["week"], r["channel"], r["mqls"]) for r in june["rows"]] == [
        ("(all)", "(all)", 1),
        ("2026-W23", "paid", 1),
    ]


# ------------------------------------------------------------------- diagnostics


def test_diagnostics_of_the_hand_dataset(store: Store) -> None:
    hand_dataset(store)
    made = report(store, "diagnostics")
    fires = {(r["audience"], r["subject"]) for r in made["rows"] if r["kind"] == "never fires"}
    # `pricing` fired once (L1's visit to /pricing); the /blog visit feeds nothing.
    assert fires == {
        ("employer", "demo"),
        ("employer", "unsub"),
        ("candidate", "pricing"),
        ("candidate", "demo"),
        ("candidate", "unsub"),
    }
    assert made["warnings"] == len(made["rows"])
    # Employer acceptance is 2 of 4 (50%): not under 50%; too few decisions anyway.
    assert not [r for r in made["rows"] if r["kind"] == "acceptance"]
    only = report(store, "diagnostics", audience="employer")
    assert {r["subject"] for r in only["rows"]} == {"demo", "unsub"}
    with store.engine.connect() as conn:
        from leadgrade.reports import load_leads

        facts = load_leads(conn)
    loose = diagnose(facts, Limits(acceptance_below=0.6, min_decisions=1))
    kinds = {(r["kind"], r["subject"]): r for r in loose}
    acceptance = kinds[("acceptance", "employer")]
    assert acceptance["figures"] == {"accepted": 2, "decided": 4, "acceptance_rate": 0.5}
    assert "2 of 4" in acceptance["message"]
    assert "too low" in acceptance["message"]
    thin = kinds[("thin and closing", "candidate")]  # 1 of 1 won against 1 of 6
    assert thin["figures"]["mql_to_won"] == 1.0
    assert thin["figures"]["peer_mql_to_won"] == pytest.approx(1 / 6)
    assert "too high" in thin["message"]
    assert ("thin and closing", "employer") not in kinds


def facts_of(cell: str, mqls: int, sqls: int) -> list[LeadFacts]:
    made = []
    for i in range(mqls):
        lead = LeadFacts(f"{cell}-{i}", f"p-{cell}-{i}", "employer", cell, "mql", None, T0)
        lead.mql_grade = cell
        lead.reached = {"lead": T0, "mql": T0 + DAY}
        if i < sqls:
            lead.reached.update(sal=T0 + 2 * DAY, sql=T0 + 2 * DAY)
        made.append(lead)
    return made


def test_a_grade_cell_converting_worse_than_the_one_below_it() -> None:
    facts = facts_of("A1", 10, 2) + facts_of("A2", 10, 5) + facts_of("B1", 10, 1)
    found = [r for r in diagnose(facts) if r["kind"] == "grade order"]
    assert [r["subject"] for r in found] == ["A1 < A2"]
    assert found[0]["figures"] == {
        "cell": "A1",
        "mqls": 10,
        "sqls": 2,
        "lower": "A2",
        "lower_mqls": 10,
        "lower_sqls": 5,
    }
    assert (
        "A1 MQLs reached SQL less often (2 of 10, 20%) than A2 MQLs (5 of 10, 50%)"
        in (found[0]["message"])
    )
    thin = facts_of("A2", 9, 5)  # fewer than min_mqls: not judged
    assert not [r for r in diagnose(facts_of("A1", 10, 2) + thin) if r["kind"] == "grade order"]


# ---------------------------------------------------------------------- API, CLI


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    engine = Engine(store, MODELS, AudienceMap(default=("employer",)))
    with TestClient(create_app(engine, clock=lambda: NOW)) as test_client:
        yield test_client


def bearer(client: TestClient, *scopes: str) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "k-" + "+".join(scopes), list(scopes), T0)
    return {"Authorization": f"Bearer {secret}"}


def test_the_report_api(client: TestClient, store: Store) -> None:
    hand_dataset(store)
    reader = bearer(client, "read")
    listed = {r["name"] for r in client.get("/v1/reports", headers=reader).json()["items"]}
    assert set(KINDS) <= listed
    answer = client.get("/v1/reports/funnel", params={"by": "audience"}, headers=reader)
    assert answer.status_code == 200, answer.text
    assert rows_by(answer.json(), "audience")["employer"]["mqls"] == 6
    combined = client.get(
        "/v1/reports/funnel", params=[("by", "cohort,owner")], headers=reader
    ).json()
    assert combined["by"] == ["cohort", "owner"]
    sla = client.get("/v1/reports/sla", headers=reader).json()  # now is the app's clock
    assert sla["rows"][0]["open"] == 1
    for name in KINDS:
        assert client.get(f"/v1/reports/{name}", headers=reader).status_code == 200, name
    assert client.get("/v1/reports/funnel").status_code == 401
    for params, path in [
        ({"audience": "talent"}, "query:$.audience"),
        ({"by": "colour"}, "query:$.by"),
        ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "query:$.until"),
    ]:
        refused = client.get("/v1/reports/funnel", params=params, headers=reader)
        assert refused.status_code == 422, params
        assert refused.json()["detail"][0]["path"] == path


runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(cli_app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def workspace(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    monkeypatch.setenv("LEADGRADE_WORKSPACE", str(in_tmp / "firm"))
    return in_tmp / "firm"


def test_reports_from_the_cli(workspace: Path, store: Store) -> None:
    db = store.engine.url.render_as_string(hide_password=False)
    hand_dataset(store)
    as_json = invoke("report", "funnel", "--by", "source", "-f", "json", "--db", db)
    assert as_json.exit_code == 0, as_json.output
    assert rows_by(json.loads(as_json.stdout), "source")["google"]["mqls"] == 3
    as_csv = invoke("report", "grades", "-f", "csv", "--db", db)
    parsed = {r["grade"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert (parsed["A2"]["leads"], parsed["A2"]["mql_to_sql"]) == ("2", "1.0")
    table = invoke("report", "funnel", "--by", "audience", "--until", "2026-07-01", "--db", db)
    assert table.exit_code == 0, table.output
    assert "stages reached" in table.stdout
    assert "employer" in table.stdout
    for name in ("sla", "volume", "diagnostics"):
        shown = invoke("report", name, "--db", db)
        assert shown.exit_code == 0, (name, shown.output)
    assert "never fires" in invoke("report", "diagnostics", "--db", db).stdout
    bad = invoke("report", "funnel", "--by", "colour", "--db", db)
    assert bad.exit_code == 2
    assert "--by" in bad.stderr
    bad_time = invoke("report", "volume", "--since", "yesterday", "--db", db)
    assert bad_time.exit_code == 2


# ------------------------------------------------------------------ the demo firm


def test_the_reports_of_a_demo_firm_are_sensible(
    store: Store, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadgrade.workspace import Workspace

    monkeypatch.setenv("LEADGRADE_DATABASE_URL", store.engine.url.render_as_string(False))
    built = invoke("demo", "firm", "--no-serve", "--scale", "small")
    assert built.exit_code == 0, built.output
    monkeypatch.setenv("LEADGRADE_WORKSPACE", str(in_tmp / "firm"))
    engine = Workspace(in_tmp / "firm").engine()
    with engine.store.engine.connect() as conn:
        mql_leads = conn.scalar(
            sa.select(sa.func.count(sa.distinct(stage_changes.c.lead_id))).where(
                stage_changes.c.to_stage.in_(("mql", "sal", "sql", "opportunity", "won"))
            )
        )
        mql_moves = conn.scalar(sa.select(sa.func.count()).where(stage_changes.c.to_stage == "mql"))
        lead_count = conn.scalar(sa.select(sa.func.count()).select_from(leads))
        assigned = conn.scalar(sa.select(sa.func.count()).select_from(assignments))
        made = {
            name: make_report(name, conn, ReportParams(), NOW, engine.models).public()
            for name in KINDS
        }
        by_source = make_report(
            "funnel", conn, ReportParams(by=("audience", "source")), NOW, engine.models
        ).public()
    engine.store.close()
    funnel = made["funnel"]["rows"][0]
    assert (funnel["leads"], funnel["mqls"]) == (lead_count, mql_leads)
    assert funnel["mqls"] > 50
    assert funnel["won"] > 0
    line = [funnel[k] for k in ("leads", "mqls", "sals", "sqls", "opportunitys", "won")]
    assert line == sorted(line, reverse=True)
    assert 0 < funnel["acceptance_rate"] < 1
    assert made["volume"]["rows"][0]["mqls"] == mql_moves
    assert sum(r["leads"] for r in made["grades"]["rows"][1:]) == lead_count
    assert made["sla"]["rows"][0]["assignments"] == assigned
    for report_ in (*made.values(), by_source):
        for row in report_["rows"]:
            for key, value in row.items():
                if value is None or not isinstance(value, int | float):
                    continue
                assert value >= 0, (report_["report"], key, row)
                timed = key.startswith(("days_", "hours_"))
                if not timed and (key.endswith(("_rate", "_share")) or "_to_" in key):
                    assert value <= 1, (report_["report"], key, row)
    sources = [r for r in by_source["rows"] if r["source"] != "(all)"]
    assert sum(r["leads"] for r in sources) == lead_count
    assert len({r["source"] for r in sources}) > 2
    assert all(r["message"] for r in made["diagnostics"]["rows"])
    shown = invoke("report", "funnel", "--by", "source")
    assert shown.exit_code == 0, shown.output
    assert "conversion" in shown.stdout


def test_the_public_surface_is_pinned() -> None:
    import leadgrade.reports

    assert leadgrade.reports.__all__ == sorted(leadgrade.reports.__all__)
    assert set(KINDS) == {"funnel", "grades", "sla", "volume", "diagnostics"}

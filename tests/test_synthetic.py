"""The demo firm: drawn the same from the same seed, sized by its scale, true to its story
(engagement follows intent; sales converts the better MQLs more), and `leadgrade demo`
building it into a store that serves graded MQLs whose explanations add up."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app, engine_cmds
from leadgrade.core import Model
from leadgrade.core.attributes import enrich
from leadgrade.core.scoring import fit_contributions
from leadgrade.demo import batches, summarize
from leadgrade.store import Store
from leadgrade.store.schema import events, leads, people, stage_changes
from leadgrade.synthetic import DAY, SPAN_DAYS, Firm, Person, generate, sales_moves
from leadgrade.synthetic import words as w
from leadgrade.workspace import Workspace

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z
runner = CliRunner()


@pytest.fixture(scope="module")
def firm() -> Firm:
    return generate(7, scale=0.05, now=NOW)


def test_the_same_seed_draws_the_same_firm(firm: Firm) -> None:
    again = generate(7, scale=0.05, now=NOW)
    assert again.events == firm.events
    assert again.people == firm.people
    other = generate(8, scale=0.05, now=NOW)
    assert [e.id for e in other.events] != [e.id for e in firm.events]


def test_sizes_follow_the_scale(firm: Firm) -> None:
    bigger = generate(7, scale=0.15, now=NOW)
    assert (len(firm.accounts), len(bigger.accounts)) == (15, 45)
    assert (len(firm.audience("candidate")), len(bigger.audience("candidate"))) == (500, 1500)
    assert 4 < len(firm.audience("employer")) / len(firm.accounts) < 10  # ~6.7 contacts each
    assert 2.2 < len(bigger.events) / len(firm.events) < 3.8
    assert 8 < len(firm.events) / len(firm.people) < 12  # ~110,000 events at scale 1


def test_events_have_stable_unique_ids_within_six_months(firm: Firm) -> None:
    ids = [e.id for e in firm.events]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"demo7-[EC]\d{5,6}-\d{3}", i) for i in ids)
    assert firm.start == NOW - SPAN_DAYS * DAY
    assert all(firm.start <= e.occurred_at <= NOW for e in firm.events)
    assert [e.occurred_at for e in firm.events] == sorted(e.occurred_at for e in firm.events)
    assert all(firm.by_person[p.key] for p in firm.people)  # everyone did something
    kinds = Counter(e.type for e in firm.events)
    for kind in ("web.page_view", "content.download", "job.apply", "job.alert_signup"):
        assert kinds[kind] > 0, kind
    assert {e.channel for e in firm.events} >= {"organic", "email", "job_board", "social"}


def test_visitors_browse_anonymously_then_identify(firm: Firm) -> None:
    merged = 0
    for person in firm.people:
        trail = firm.by_person[person.key]
        anonymous = [e for e in trail if e.person.email is None]
        assert all(e.person.anonymous_id == person.anonymous_id for e in anonymous)
        both = [e for e in trail if e.person.email and e.person.anonymous_id]
        if anonymous and both and anonymous[0].occurred_at < both[0].occurred_at:
            merged += 1
        traits = [e.traits for e in trail if e.traits]
        assert traits in ([], [person.attributes])  # once, with the first e-mail
    assert merged > len(firm.people) / 20


def test_people_carry_what_the_shipped_models_read(
    firm: Firm, shipped_models: dict[str, Model], template_lists: dict[str, tuple[str, ...]]
) -> None:
    employer, candidate = shipped_models["employer"], shipped_models["candidate"]
    for person in firm.audience("employer"):
        assert {"job_title", "company_size", "industry", "state", "email"} <= set(person.attributes)
        assert person.email.endswith(person.attributes["company_domain"]) or person.free_mail
    for person in firm.audience("candidate"):
        assert {"job_category", "skills", "state", "email"} <= set(person.attributes)
    # the vocabulary agrees with the bundled lists and rules
    assert set(template_lists["target_industries"]) >= w.TARGET_INDUSTRIES
    assert set(template_lists["served_states"]) >= w.SERVED_STATES
    assert set(template_lists["competitor_domains"]) == {d for _, d in w.COMPETITORS}
    for options in w.SKILLS.values():
        for skills, in_demand in options:
            rules = {c.rule_id for c in fit_contributions(candidate, enrich({"skills": skills}))}
            assert ("in-demand-skills" in rules) == in_demand, skills
    titles = Counter(
        {c.rule_id for c in fit_contributions(employer, enrich(p.attributes))}
        >= {"title-seniority"}
        for p in firm.audience("employer")
    )
    assert titles[True] > titles[False] / 3  # a realistic seniority mix: most are not senior


def test_engagement_follows_intent(firm: Firm) -> None:
    for audience in ("employer", "candidate"):
        ranked = sorted(firm.audience(audience), key=lambda p: p.intent)
        third = len(ranked) // 3
        low, high = ranked[:third], ranked[-third:]

        def count(group: list[Person]) -> float:
            return statistics.mean(len(firm.by_person[p.key]) for p in group)

        def idle_days(group: list[Person]) -> float:
            last = [firm.by_person[p.key][-1].occurred_at for p in group]
            return statistics.median((NOW - at) / DAY for at in last)

        assert count(high) > 2.5 * count(low), audience
        assert idle_days(high) < idle_days(low), audience


def test_sales_converts_better_people_more(firm: Firm) -> None:
    def reached(group: list[Person], stage: str) -> float:
        """The share of MQLs of ``group`` that reach ``stage`` (ten MQLs each)."""
        stages = [m.to_stage for p in group for n in range(10) for m in sales_moves(p, 7, n)]
        return stages.count(stage) / len(group) / 10

    for audience in ("employer", "candidate"):
        ranked = sorted(firm.audience(audience), key=lambda p: p.quality)
        low, high = ranked[: len(ranked) // 2], ranked[len(ranked) // 2 :]
        assert reached(high, "sql") > 1.5 * reached(low, "sql"), audience
        assert reached(high, "won") > 2 * reached(low, "won"), audience
    rival = replace(firm.audience("employer")[0], competitor=True, propensity=0.0)
    moves = [m.to_stage for n in range(20) for m in sales_moves(rival, firm.seed, n)]
    assert set(moves) == {"disqualified"}


def test_batches_hold_at_most_a_thousand_events_and_one_day(firm: Firm) -> None:
    cut = list(batches(firm.events))
    assert sum(len(b) for b in cut) == len(firm.events)
    assert all(len(b) <= 1000 and b[-1].occurred_at - b[0].occurred_at < DAY for b in cut)


# ----------------------------------------------------------------- leadgrade demo


def counts(engine_store: Store) -> dict[str, int]:
    with engine_store.engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in (people, events, leads, stage_changes)
        }


def test_demo_builds_a_served_firm_once(
    store: Store, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done-when: the demo serves an API whose MQLs are graded and explained exactly, and
    running it again changes nothing."""
    monkeypatch.setenv("LEADGRADE_DATABASE_URL", store.engine.url.render_as_string(False))
    result = runner.invoke(app, ["demo", "firm", "--no-serve", "--scale", "small"])
    assert result.exit_code == 0, result.output
    assert "(0 were there already)" in result.stdout
    key = re.search(r"lg_[\w-]+", result.stdout)
    assert key is not None
    engine = Workspace(in_tmp / "firm").engine()
    before = counts(engine.store)
    assert before["people"] > 300
    assert before["events"] > 3000

    with TestClient(create_app(engine)) as client:
        headers = {"Authorization": f"Bearer {key.group()}"}
        items = client.get("/v1/leads?stage=mql&limit=500", headers=headers).json()["items"]
        # At this small scale sales has worked every employer MQL by the end (accepted or
        # recycled, and a recycled lead must cross the threshold anew): candidates remain.
        assert items
        assert {i["audience"] for i in items} <= {"employer", "candidate"}
        for item in items:
            assert re.fullmatch(r"[A-D][1-4]", item["grade"])
            assert item["stage"] == "mql"
            lead = client.get(f"/v1/leads/{item['id']}", headers=headers).json()
            shown = sum(c["points"] for c in lead["explanation"])  # cents that add up
            assert abs(shown - lead["score"]) <= 0.005 + 1e-9
            assert any(t["kind"] == "stage" and t["to"] == "mql" for t in lead["timeline"])

    # the story holds in the store: candidates of fit A convert more than the others
    outcomes = summarize(engine).outcomes["candidate"]
    a = outcomes.count("A", "sql") / outcomes.count("A")
    rest = sum(outcomes.count(g, "sql") for g in "BCD") / sum(outcomes.count(g) for g in "BCD")
    assert a > rest + 0.1
    with engine.store.engine.connect() as conn:
        actors = set(conn.scalars(sa.select(stage_changes.c.actor).distinct()))
    assert {"engine", "sales (demo)"} <= actors
    engine.store.close()

    served: dict[str, object] = {}
    monkeypatch.setattr(engine_cmds, "serve", lambda **options: served.update(options))
    again = runner.invoke(app, ["demo", "firm", "--port", "8123"])  # the recorded seed, scale
    assert again.exit_code == 0, again.output
    report = " ".join(again.stdout.split())  # unwrapped
    assert f"Stored 0 events ({before['events']:,} were there already)" in report
    assert "0 new stage changes by sales" in report
    assert served == {
        "host": "127.0.0.1",
        "port": 8123,
        "tick_every": 30.0,
        "workspace": in_tmp / "firm",
        "db": None,
    }
    engine = Workspace(in_tmp / "firm").engine()
    assert counts(engine.store) == before
    engine.store.close()


def test_demo_refuses_another_firm_or_workspace(in_tmp: Path) -> None:
    runner.invoke(app, ["init", "mine"])
    refused = runner.invoke(app, ["demo", "mine", "--no-serve"])
    assert refused.exit_code == 2
    assert "did not build" in refused.stderr
    bad = runner.invoke(app, ["demo", "d", "--no-serve", "--scale", "huge"])
    assert bad.exit_code == 2
    assert "--scale 'huge'" in bad.stderr
    (in_tmp / "mine" / "demo.json").write_text('{"seed": 1, "scale": 0.03, "now": 1790812800}')
    other = runner.invoke(app, ["demo", "mine", "--no-serve", "--seed", "2"])
    assert other.exit_code == 2
    assert "holds the demo firm of seed 1, scale 0.03" in other.stderr

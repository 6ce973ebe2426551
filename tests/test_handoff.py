"""The handoff (issue 4): routing MQLs to owners, SLA clocks, touches, sales feedback and
re-engagement, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from leadgrade.engine import AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.handoff.routing import Routing, check_routing
from leadgrade.handoff.service import Handoff, HandoffError
from leadgrade.settings import NotificationsSection
from leadgrade.store import Store
from leadgrade.store.schema import assignments, leads, outbox, stage_changes, timers
from leadgrade.times import epoch
from tests.conftest import BASE_MODEL, DAY, T0, build

HOUR = 3600.0
AUDIENCES = AudienceMap(
    rules=(AudienceRule("candidate", types=("job.*",), path_prefixes=(), forms=()),),
    default=("employer",),
)
NOTIFY = NotificationsSection(
    webhooks=[{"name": "crm", "url": "http://127.0.0.1:9/hook", "secret": "whsec_dGVzdHNlY3JldA=="}]
)

ROUTING: dict[str, Any] = {
    "reps": {
        "ana": {"name": "Ana", "email": "ana@firm.example", "slack": "U01ANA"},
        "ben": {"name": "Ben", "email": "ben@firm.example"},
        "cho": {"name": "Cho", "email": "cho@firm.example"},
        "dee": {"name": "Dee", "email": "dee@firm.example"},
        "max": {"name": "Max", "email": "max@firm.example"},
    },
    "teams": {
        "enterprise": {"members": ["ana", "ben"], "manager": "max"},
        "smb": {"members": ["cho", "dee"], "manager": "max"},
    },
    "rules": [
        {
            "id": "big",
            "when": {"audience": "employer", "company_size": {"at_least": 200}},
            "team": "enterprise",
        },
    ],
    "fallback": "smb",
}


def routing_of(data: dict[str, Any]) -> Routing:
    routing, problems = check_routing(yaml.safe_dump(data, sort_keys=False))
    assert routing is not None, problems
    return routing


def make(store: Store, data: dict[str, Any] | None = None) -> Handoff:
    candidate = build({**BASE_MODEL, "audience": "candidate"})
    engine = Engine(store, {"employer": build(BASE_MODEL), "candidate": candidate}, AUDIENCES)
    return Handoff(engine, routing_of(data or ROUTING), NOTIFY)


def mql(handoff: Handoff, email: str, at: float, size: int = 500, **extra: Any) -> str:
    """Ingest what makes ``email`` an MQL (a VP at a company of ``size``, a demo request)."""
    person = PersonRef(email=email)
    traits = {"job_title": "VP Sales", "company_size": size, **extra}
    handoff.engine.identify(person, traits, at)
    result = handoff.engine.ingest([EventIn(f"demo-{email}", "demo.request", at, person)], at)
    (change,) = [c for c in result.domain_events if type(c).__name__ == "LeadBecameMQL"]
    return change.lead_id


def lead(store: Store, lead_id: str) -> sa.Row[Any]:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(leads).where(leads.c.id == lead_id)).one()


def messages(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        query = sa.select(outbox).order_by(outbox.c.created_at, outbox.c.id)
        if kind is not None:
            query = query.where(outbox.c.event_type == kind)
        return [dict(row._mapping) for row in conn.execute(query)]


# ----------------------------------------------------------------------- routing


def test_routing_lint_names_the_line_and_the_problem() -> None:
    text = """\
reps:
  ana: {name: Ana}
teams:
  sales: {members: [ana, zed]}
rules:
  - id: by-age
    when: {audience: candidate, birth_year: {at_least: 1990}}
    team: sales
  - id: nowhere
    team: ghosts
fallback: sales
"""
    routing, problems = check_routing(text, "routing.yaml")
    assert routing is None
    rendered = [str(p) for p in problems]
    assert "routing.yaml:4: teams.sales.members.1: no rep 'zed' in reps" in rendered
    assert any(
        r.startswith("routing.yaml:7: rules.0.when.birth_year: 'birth_year' may not")
        for r in rendered
    )
    assert "routing.yaml:10: rules.1.team: no team 'ghosts' in teams" in rendered


def test_routing_shape_errors_have_lines() -> None:
    routing, problems = check_routing("reps:\n  ana: {name: Ana, capacity: -1}\n", "r.yaml")
    assert routing is None
    assert [(p.line, p.key) for p in problems] == [(2, "reps.ana.capacity")]


def test_a_new_mql_is_assigned_with_its_rule_an_sla_clock_and_a_message(store: Store) -> None:
    handoff = make(store)
    big = mql(handoff, "vp@big.example", T0, size=500)
    small = mql(handoff, "vp@small.example", T0, size=60)
    assert lead(store, big).owner == "ana"  # rule big: enterprise, first in turn
    assert lead(store, small).owner == "cho"  # no rule: the fallback team
    with store.engine.connect() as conn:
        rows = {r.lead_id: r for r in conn.execute(sa.select(assignments))}
        clock = conn.execute(sa.select(timers).where(timers.c.lead_id == big)).one()
    assert (rows[big].team, rows[big].rule) == ("enterprise", "big")
    assert (rows[small].team, rows[small].rule) == ("smb", "fallback")
    assert epoch(rows[big].due_at) == T0 + DAY  # grade B2: 24 hours by default
    assert (clock.kind, epoch(clock.due_at), clock.status) == ("sla", T0 + DAY, "pending")
    (message,) = [m for m in messages(store, "lead.mql") if m["lead_id"] == big]
    data = message["payload"]["data"]
    assert (data["grade"], data["owner"]["id"], data["team"]) == ("B2", "ana", "enterprise")
    assert data["manager"]["id"] == "max"
    assert data["url"].endswith(f"/v1/leads/{big}")
    assert "vp@big.example" not in str(message["payload"])  # no personal data in messages


def test_round_robin_is_fair_respects_capacity_and_away_and_is_deterministic(
    store: Store,
) -> None:
    """1,000 assignments to a team of four: one away, one capped at 100 open MQLs."""
    data = {
        "reps": {
            "ana": {"name": "Ana"},
            "ben": {"name": "Ben", "capacity": 100},
            "cho": {"name": "Cho", "away": True},
            "dee": {"name": "Dee", "away_dates": [["2020-01-01", "2020-01-31"]]},
        },
        "teams": {"all": {"members": ["ana", "ben", "cho", "dee"]}},
        "fallback": "all",
    }
    handoff = make(store, data)
    rng = random.Random(42)
    people = [f"p{i}-{rng.randrange(10**6)}@firm{i % 37}.example" for i in range(1000)]
    traits = {"job_title": "VP", "company_size": 300}
    batch = [
        EventIn(f"d{i}", "demo.request", T0 + i, PersonRef(email=email), traits=traits)
        for i, email in enumerate(people)
    ]
    handoff.engine.ingest(batch, T0 + 2000)
    with store.engine.connect() as conn:
        order = [r.owner for r in conn.execute(sa.select(assignments).order_by(assignments.c.id))]
    counts = Counter(order)
    assert len(order) == 1000
    assert counts["cho"] == 0  # away
    assert counts["ben"] == 100  # at capacity after 100
    assert abs(counts["ana"] - counts["dee"]) <= 1  # fair between the free ones
    assert order[:6] == ["ana", "ben", "dee", "ana", "ben", "dee"]  # in turn
    # deterministic: the same inputs in a second store give the same sequence
    replay = Store.open("sqlite://")
    make(replay, data).engine.ingest(batch, T0 + 2000)
    with replay.engine.connect() as conn:
        assert [
            r.owner for r in conn.execute(sa.select(assignments).order_by(assignments.c.id))
        ] == order


def test_when_the_matched_team_is_full_the_fallback_takes_it(store: Store) -> None:
    data = {
        **ROUTING,
        "reps": {
            **ROUTING["reps"],
            "ana": {"name": "Ana", "capacity": 0},
            "ben": {"name": "Ben", "away": True},
        },
    }
    handoff = make(store, data)
    lead_id = mql(handoff, "vp@big.example", T0)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(assignments)).one()
    assert (row.owner, row.team, row.rule) == ("cho", "smb", "fallback")
    assert lead(store, lead_id).owner == "cho"


def test_an_account_with_an_owner_keeps_its_owner(store: Store) -> None:
    model = {**BASE_MODEL, "accounts": {"engagement_max": 300}}
    data = {
        **ROUTING,
        "rules": [
            {"id": "owned", "when": {"account_has_owner": True}, "assign": "account_owner"},
            *ROUTING["rules"],
        ],
    }
    engine = Engine(store, {"employer": build(model)}, AUDIENCES)
    handoff = Handoff(engine, routing_of(data), NOTIFY)
    first = mql(handoff, "vp1@acme.example", T0, size=60)  # fallback team: cho
    second = mql(handoff, "vp2@acme.example", T0 + 10, size=60)
    assert lead(store, first).owner == lead(store, second).owner == "cho"
    with store.engine.connect() as conn:
        rules = [r.rule for r in conn.execute(sa.select(assignments).order_by(assignments.c.id))]
    assert rules == ["fallback", "owned"]


# --------------------------------------------------------------------------- SLA


def test_an_untouched_mql_breaches_at_its_due_time_and_the_manager_hears(store: Store) -> None:
    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    assert handoff.tick(T0 + DAY - 1)["timers"] == 0
    assert handoff.tick(T0 + DAY + 1)["timers"] == 1
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(assignments)).one()
        assert epoch(row.breached_at) == T0 + DAY
        assert handoff.sla(conn, lead_id, T0 + DAY + 1)["status"] == "breached"
    (breach,) = messages(store, "lead.sla_breached")
    assert breach["payload"]["data"]["manager"]["email"] == "max@firm.example"
    assert handoff.tick(T0 + 2 * DAY)["timers"] == 0  # fired once


def test_a_first_touch_stops_the_clock(store: Store) -> None:
    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    touch = handoff.touch(lead_id, "call", T0 + HOUR, T0 + HOUR, actor="ana", touch_id="t1")
    assert touch.first
    again = handoff.touch(lead_id, "call", T0 + HOUR, T0 + HOUR, actor="ana", touch_id="t1")
    assert again.replayed
    assert not again.first
    handoff.touch(lead_id, "email", T0 + 2 * HOUR, T0 + 2 * HOUR, actor="ana")
    assert handoff.tick(T0 + 2 * DAY)["timers"] == 0
    with store.engine.connect() as conn:
        sla = handoff.sla(conn, lead_id, T0 + 2 * DAY)
    assert sla is not None
    assert (sla["status"], sla["cadence"]["touches"], sla["cadence"]["target"]) == ("met", 2, 6)
    assert messages(store, "lead.sla_breached") == []


def test_a_touch_logged_in_the_crm_arrives_as_an_event(store: Store) -> None:
    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    handoff.engine.ingest(
        [
            EventIn(
                "crm-1",
                "touch.call",
                T0 + 60,
                PersonRef(email="vp@big.example"),
                source="salesforce",
            )
        ],
        T0 + 120,
    )
    with store.engine.connect() as conn:
        assert handoff.sla(conn, lead_id, T0 + 120)["status"] == "met"
    assert handoff.tick(T0 + 2 * DAY)["timers"] == 0


def test_sla_by_grade_in_business_hours_and_reassignment_on_breach(store: Store) -> None:
    data = {
        **ROUTING,
        "teams": {
            "enterprise": {
                "members": ["ana", "ben"],
                "manager": "max",
                "reassign_on_breach": True,
                "calendar": {
                    "timezone": "UTC",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "hours": "09:00-17:00",
                },
            },
            "smb": {"members": ["cho"]},
        },
        "sla": {"first_touch": {"B2": "1h", "default": "24h"}, "business_hours": True},
    }
    handoff = make(store, data)
    friday_4_30pm = datetime(2026, 5, 29, 16, 30, tzinfo=UTC).timestamp()
    lead_id = mql(handoff, "vp@big.example", friday_4_30pm)
    monday_9_30am = datetime(2026, 6, 1, 9, 30, tzinfo=UTC).timestamp()
    with store.engine.connect() as conn:
        (first,) = conn.execute(sa.select(assignments)).all()
    assert epoch(first.due_at) == monday_9_30am
    handoff.tick(monday_9_30am + 1)
    assert lead(store, lead_id).owner == "ben"  # reassigned within the team
    (breach,) = messages(store, "lead.sla_breached")
    assert breach["payload"]["data"]["reassigned_to"]["id"] == "ben"
    handoff.tick(monday_9_30am + 7 * DAY)  # ben lets it lapse too: told, not bounced
    assert lead(store, lead_id).owner == "ben"
    assert len(messages(store, "lead.sla_breached")) == 2


# ----------------------------------------------------------------------- feedback


def test_accept_then_qualify_with_bant(store: Store) -> None:
    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    made = handoff.decide(lead_id, "accept", T0 + HOUR, actor="ana", decision_id="f1")
    assert (made.from_stage, made.to_stage) == ("mql", "sal")
    assert handoff.decide(lead_id, "accept", T0 + HOUR, actor="ana", decision_id="f1").replayed
    with pytest.raises(HandoffError) as missing:
        handoff.decide(lead_id, "qualify", T0 + 2 * HOUR, actor="ana", details={"budget": "yes"})
    assert missing.value.field == "details.authority"
    bant = {"budget": "50k", "authority": True, "need": "3 hires", "timeline": "Q1"}
    handoff.decide(lead_id, "qualify", T0 + 2 * HOUR, actor="ana", details=bant)
    assert lead(store, lead_id).stage == "sql"
    with pytest.raises(HandoffError) as wrong:
        handoff.decide(lead_id, "accept", T0 + 3 * HOUR, actor="ana")
    assert wrong.value.status == 409
    with store.engine.connect() as conn:
        history = [
            (r.to_stage, r.reason)
            for r in conn.execute(sa.select(stage_changes).order_by(stage_changes.c.id))
        ]
    assert history[-2:] == [("sal", "accepted"), ("sql", "qualified")]


def test_a_rejection_needs_a_reason_and_cools_down_before_another_mql(store: Store) -> None:
    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    with pytest.raises(HandoffError) as bad:
        handoff.decide(lead_id, "reject", T0 + HOUR, actor="ana", reason="meh")
    assert bad.value.field == "reason"
    assert "no-budget" in str(bad.value)
    handoff.decide(lead_id, "reject", T0 + HOUR, actor="ana", reason="bad-timing")
    with store.engine.connect() as conn:
        clock = handoff.sla(conn, lead_id, T0 + 2 * DAY)  # past due: rejected, not breached
    assert clock is not None
    assert (clock["status"], clock["seconds_left"]) == ("stopped", None)
    row = lead(store, lead_id)
    assert row.stage == "recycled"
    assert epoch(row.mql_blocked_until) == T0 + HOUR + 30 * DAY
    person = PersonRef(email="vp@big.example")
    handoff.engine.ingest([EventIn("demo-2", "demo.request", T0 + 2 * DAY, person)], T0 + 2 * DAY)
    assert lead(store, lead_id).stage == "recycled"  # cooling down
    later = T0 + 40 * DAY
    handoff.engine.ingest([EventIn("demo-3", "demo.request", later, person)], later)
    assert lead(store, lead_id).stage == "mql"  # after the cool-down
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(assignments)) == 2
    (feedback_message,) = messages(store, "lead.feedback")
    assert feedback_message["payload"]["data"]["reason"] == "bad-timing"


def test_a_candidate_needs_applied_and_passed_screening_to_qualify(store: Store) -> None:
    handoff = make(store)
    person = PersonRef(email="dev@mail.example")
    handoff.engine.identify(person, {"job_title": "VP", "company_size": 500}, T0)
    result = handoff.engine.ingest(
        [EventIn("c1", "demo.request", T0, person, audience="candidate")], T0
    )
    lead_id = result.domain_events[0].lead_id  # type: ignore[union-attr]
    with pytest.raises(HandoffError, match="applied, passed_screening"):
        handoff.decide(lead_id, "qualify", T0, actor="rec", details={})
    handoff.decide(
        lead_id, "qualify", T0, actor="rec", details={"applied": True, "passed_screening": True}
    )
    assert lead(store, lead_id).stage == "sql"


# ------------------------------------------------------------------ re-engagement


def test_a_placed_candidate_comes_back_a_year_after_the_start(store: Store) -> None:
    handoff = make(store)
    person = PersonRef(email="dev@mail.example")
    result = handoff.engine.ingest([EventIn("c1", "job.apply", T0, person)], T0)
    with store.engine.connect() as conn:
        lead_id = conn.scalar(sa.select(leads.c.id).where(leads.c.audience == "candidate"))
    assert lead_id is not None
    assert result.accepted == 1
    start = T0 + 10 * DAY
    handoff.move(lead_id, "won", T0 + 5 * DAY, actor="ats", reason="placed", placement_start=start)
    assert handoff.tick(start + 364 * DAY)["timers"] == 0
    assert handoff.tick(start + 365 * DAY + 1)["timers"] == 1
    row = lead(store, lead_id)
    assert row.stage == "lead"
    with store.engine.connect() as conn:
        last = conn.execute(
            sa.select(stage_changes).order_by(stage_changes.c.id.desc()).limit(1)
        ).one()
    assert last.reason.startswith("re-engagement due: placed")
    assert epoch(last.at) == start + 365 * DAY
    assert len(messages(store, "lead.reengagement_due")) == 1


def test_a_known_contract_end_brings_the_candidate_back_30_days_before(store: Store) -> None:
    handoff = make(store)
    handoff.engine.ingest([EventIn("c1", "job.apply", T0, PersonRef(email="d@x.example"))], T0)
    with store.engine.connect() as conn:
        lead_id = conn.scalar(sa.select(leads.c.id))
    end = T0 + 120 * DAY
    handoff.move(
        lead_id, "won", T0, actor="ats", reason="placed", placement_start=T0, contract_end=end
    )
    with store.engine.connect() as conn:
        timer = conn.execute(sa.select(timers).where(timers.c.kind == "reengage")).one()
    assert epoch(timer.due_at) == end - 30 * DAY


# ----------------------------------------------------------------------------- API


def test_the_api_takes_touches_and_feedback_and_shows_the_sla(store: Store) -> None:
    from fastapi.testclient import TestClient

    from leadgrade.api import create_app
    from leadgrade.keys import create_key

    handoff = make(store)
    lead_id = mql(handoff, "vp@big.example", T0)
    now = T0 + HOUR
    with store.transaction() as conn:
        _, writer = create_key(conn, "rep", ["write", "read"], T0)
        _, reader = create_key(conn, "viewer", ["read"], T0)
    keys = {"Authorization": f"Bearer {writer}"}
    app = create_app(handoff.engine, clock=lambda: now, handoff=handoff)
    with TestClient(app) as client:
        shown = client.get(f"/v1/leads/{lead_id}", headers=keys).json()
        assert shown["owner"] == "ana"
        assert shown["handoff"]["status"] == "running"
        assert shown["handoff"]["seconds_left"] == DAY - HOUR
        body = {"id": "call-1", "kind": "call", "note": "left a voicemail"}
        first = client.post(f"/v1/leads/{lead_id}/touches", json=body, headers=keys)
        assert first.status_code == 201
        assert first.json()["first"]
        assert first.json()["sla"]["status"] == "met"
        again = client.post(f"/v1/leads/{lead_id}/touches", json=body, headers=keys)
        assert (again.status_code, again.json()["replayed"]) == (200, True)
        bad_kind = client.post(f"/v1/leads/{lead_id}/touches", json={"kind": "fax"}, headers=keys)
        assert bad_kind.status_code == 422
        refused = client.post(
            f"/v1/leads/{lead_id}/feedback",
            json={"decision": "accept"},
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert refused.status_code == 403
        no_reason = client.post(
            f"/v1/leads/{lead_id}/feedback", json={"decision": "reject"}, headers=keys
        )
        assert no_reason.status_code == 422
        assert no_reason.json()["detail"][0]["path"] == "$.reason"
        rejected = client.post(
            f"/v1/leads/{lead_id}/feedback",
            json={"decision": "reject", "reason": "no-budget", "details": {"note": "next year"}},
            headers=keys,
        )
        assert rejected.status_code == 200
        assert (rejected.json()["from"], rejected.json()["stage"]) == ("mql", "recycled")
        wrong = client.post(
            f"/v1/leads/{lead_id}/feedback", json={"decision": "accept"}, headers=keys
        )
        assert wrong.status_code == 409
        missing = client.post("/v1/leads/nope/feedback", json={"decision": "accept"}, headers=keys)
        assert missing.status_code == 404
        timeline = client.get(f"/v1/leads/{lead_id}", headers=keys).json()["timeline"]
        kinds = [item["kind"] for item in timeline]
        assert {"assignment", "touch", "stage", "event", "notification"} <= set(kinds)
        (last_stage,) = [i for i in timeline if i["kind"] == "stage" and i["to"] == "recycled"]
        assert last_stage["reason"] == "rejected: no-budget (next year)"
        roster = client.get("/v1/routing", headers=keys).json()
        assert [t["id"] for t in roster["teams"]] == ["enterprise", "smb"]
        moved = client.post(
            f"/v1/leads/{lead_id}/assign",
            json={"owner": "ben", "reason": "knows them"},
            headers=keys,
        )
        assert moved.json()["handoff"]["owner"] == "ben"
        unknown = client.post(f"/v1/leads/{lead_id}/assign", json={"owner": "zed"}, headers=keys)
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["path"] == "$.owner"


def test_the_template_routing_is_valid() -> None:
    from pathlib import Path

    from leadgrade.workspace import TEMPLATE

    text = (Path(str(TEMPLATE)) / "routing.yaml").read_text()
    routing, problems = check_routing(text)
    assert problems == []
    assert routing is not None
    assert routing.fallback == "recruiting"


# ----------------------------------------------------------------------------- CLI


def test_the_command_line_routes_and_takes_feedback(in_tmp, write, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.test_engine_cli import EVENTS, invoke

    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    firm = in_tmp / "firm"
    assert "ok — 9 reps" in invoke("routing", "lint", "--workspace", firm).stderr
    invoke("ingest", "--workspace", firm, write("events.csv", EVENTS))
    listed = invoke("leads", "--workspace", firm, "--stage", "mql", "-f", "jsonl")
    lead = json.loads(listed.stdout.splitlines()[0])
    assert lead["owner"] in {"priya", "sam", "maya", "jordan"}  # routed as it became an MQL
    bad = invoke("feedback", "--workspace", firm, lead["id"], "reject", "--reason", "meh")
    assert bad.exit_code == 2
    assert "'meh' is not a reason code" in bad.stderr
    touched = invoke("touch", "--workspace", firm, lead["id"], "--kind", "call")
    assert "first touch: SLA clock stopped" in touched.stderr
    done = invoke(
        "feedback",
        "--workspace",
        firm,
        lead["id"],
        "reject",
        "--reason",
        "no-budget",
        "--detail",
        "note=next year",
    )
    assert done.exit_code == 0, done.stderr
    assert "mql → recycled" in done.stderr
    shown = json.loads(invoke("routing", "show", "--workspace", firm).stdout)
    assert {t["id"] for t in shown["teams"]} >= {"enterprise", "growth"}
    broken = write("firm/routing.yaml", "reps:\n  ana: {name: Ana}\nteams:\n  x: {members: [bo]}\n")
    linted = invoke("routing", "lint", "--workspace", firm, broken)
    assert linted.exit_code == 1
    assert "teams.x.members.0: no rep 'bo' in reps" in linted.stdout
    assert invoke("leads", "--workspace", firm).exit_code == 2  # a broken routing.yaml

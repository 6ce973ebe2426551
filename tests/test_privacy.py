"""Export, erasure with tombstones, legal holds and retention (issue 6), on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from leadgrade.engine import AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.handoff.routing import check_routing
from leadgrade.handoff.service import Handoff
from leadgrade.privacy import retention
from leadgrade.privacy.erasure import UnknownPerson, erase, export
from leadgrade.settings import PrivacySection
from leadgrade.store import Store
from leadgrade.store.schema import consents, metadata, people, tombstones
from tests.conftest import BASE_MODEL, DAY, T0, build

AUDIENCES = AudienceMap(
    rules=(AudienceRule("candidate", types=("job.*",), path_prefixes=(), forms=()),),
    default=("employer",),
)
ROUTING = "reps:\n  ana: {name: Ana}\nteams:\n  all: {members: [ana]}\nfallback: all\n"
EMAIL, PHONE, NAME = "Kim.Doe@Mail.example", "(415) 555-0199", "Kimberly Doe"
HOLDS = PrivacySection(
    holds=[
        {
            "event_types": ["job.apply"],
            "where": {"federal_contractor": True},
            "keep": "730d",
            "reason": "OFCCP: expressions of interest kept two years",
        }
    ],
    retention=[
        {
            "audience": "candidate",
            "regions": ["EU"],
            "after_inactivity": "180d",
            "unless_consent": "talent_pool",
        }
    ],
)


@pytest.fixture
def engine(store: Store) -> Engine:
    candidate = build({**BASE_MODEL, "audience": "candidate"})
    engine = Engine(store, {"employer": build(BASE_MODEL), "candidate": candidate}, AUDIENCES)
    routing, _ = check_routing(ROUTING)
    assert routing is not None
    Handoff(engine, routing)
    return engine


def kim(engine: Engine, at: float = T0, **traits: Any) -> str:
    """Kim: an anonymous visit and an e-mail open, two people until one event names both
    (a merge), with her phone and name; an MQL."""
    anon = PersonRef(anonymous_id="anon-kim")
    engine.ingest([EventIn("v1", "web.page_view", at, anon, properties={"path": "/pricing"})], at)
    engine.ingest([EventIn("e0", "email.open", at + 30, PersonRef(email=EMAIL))], at + 30)
    me = PersonRef(email=EMAIL, anonymous_id="anon-kim")
    facts = {"phone": PHONE, "name": NAME, "job_title": "VP People", "company_size": 500}
    engine.ingest([EventIn("d1", "demo.request", at + 60, me, traits={**facts, **traits})], at + 60)
    with engine.store.engine.connect() as conn:
        return str(conn.scalar(sa.select(people.c.id).where(people.c.merged_into.is_(None))))


def texts(store: Store) -> list[str]:
    """Every value of every row of every table, as text."""
    found = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                found.extend(json.dumps(v, default=str) for v in row)
    return found


def test_an_erased_person_leaves_only_the_tombstone(engine: Engine) -> None:
    person = kim(engine)
    with engine.store.engine.connect() as conn:
        held = export(conn, person)
    assert [e["id"] for e in held["events"]] == ["v1", "e0", "d1"]  # the merged record's too
    assert held["assignments"][0]["owner"] == "ana"
    assert any(change["to_stage"] == "mql" for change in held["stage_changes"])
    done = erase(engine, person, T0 + DAY, basis="request", source="test")
    assert done.report()["complete"]
    assert (done.people, done.events, done.leads) == (2, 3, 1)
    everything = " ".join(texts(engine.store)).lower()
    for secret in ("kim.doe@mail.example", "(415)", "555-0199", "5550199", "kimberly", "anon-kim"):
        assert secret not in everything, secret
    with engine.store.engine.connect() as conn:
        left = {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table))
            for table in metadata.sorted_tables
        }
    about_nobody = {"tombstones", "store_secrets", "routing_cursors"}  # the rotation: rep ids
    assert {name for name, count in left.items() if count} <= about_nobody
    assert left["tombstones"] == 3  # the e-mail, the phone, the anonymous id
    with pytest.raises(UnknownPerson):
        erase(engine, person, T0 + DAY, basis="request", source="test")


def test_the_erased_person_is_refused_when_they_come_back(engine: Engine) -> None:
    erase(engine, kim(engine), T0 + DAY, basis="request", source="test")
    again = engine.ingest(
        [
            EventIn("x1", "web.page_view", T0 + 2 * DAY, PersonRef(email=" KIM.DOE@mail.example ")),
            EventIn(
                "x2",
                "form.submit",
                T0 + 2 * DAY,
                PersonRef(email="new@mail.example"),
                traits={"phone": "+1 415 555 0199"},
            ),
            EventIn("x3", "web.page_view", T0 + 2 * DAY, PersonRef(email="someone@else.example")),
        ],
        T0 + 2 * DAY,
    )
    assert again.refused == {"x1", "x2"}
    assert (again.accepted, again.duplicates) == (1, 0)
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(people)) == 1


def test_a_legal_hold_keeps_its_records_until_it_ends(engine: Engine) -> None:
    person = kim(engine)
    apply = EventIn(
        "a1",
        "job.apply",
        T0 + DAY,
        PersonRef(email=EMAIL),
        properties={"job": "J-7", "federal_contractor": True},
    )
    engine.ingest([apply], T0 + DAY)
    done = erase(engine, person, T0 + 2 * DAY, basis="request", source="test", holds=HOLDS.holds)
    report = done.report()
    assert not report["complete"]
    assert report["held"]["events"] == 1
    assert report["held"]["why"] == ["OFCCP: expressions of interest kept two years"]
    everything = " ".join(texts(engine.store)).lower()
    assert "kim.doe@mail.example" not in everything
    assert "kimberly" not in everything
    assert "j-7" in everything  # the held record itself
    blocked_run = retention.run(engine, HOLDS, T0 + 100 * DAY)
    assert blocked_run.erased == []  # the hold has not ended
    ended = retention.run(engine, HOLDS, T0 + DAY + 731 * DAY)
    assert [e["rule"] for e in ended.erased] == ["legal hold ended"]
    with engine.store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(people)) == 0


def test_retention_erases_inactive_eu_candidates_without_talent_pool_consent(
    engine: Engine,
) -> None:
    def candidate(name: str, country: str) -> str:
        engine.ingest(
            [
                EventIn(
                    f"j-{name}",
                    "job.apply",
                    T0,
                    PersonRef(email=f"{name}@mail.example"),
                    traits={"country": country},
                )
            ],
            T0,
        )
        with engine.store.engine.connect() as conn:
            return str(
                conn.scalar(
                    sa.select(people.c.id).where(
                        people.c.attributes["email"].as_string() == f"{name}@mail.example"
                    )
                )
            )

    lost, kept, american = candidate("lost", "DE"), candidate("kept", "fr"), candidate("us", "US")
    with engine.store.transaction() as conn:
        conn.execute(
            sa.insert(consents).values(
                id="c1",
                person_id=kept,
                channel="all",
                status="opted_in",
                basis="consent",
                source="form",
                evidence={"purpose": "talent_pool", "form": "talent_community"},
                at=sa.func.now(),
                recorded_at=sa.func.now(),
            )
        )
    assert retention.run(engine, HOLDS, T0 + 100 * DAY).erased == []  # not inactive long enough
    dry = retention.run(engine, HOLDS, T0 + 200 * DAY, dry_run=True)
    assert [e["person_id"] for e in dry.erased] == [lost]
    done = retention.run(engine, HOLDS, T0 + 200 * DAY)
    assert [e["person_id"] for e in done.erased] == [lost]
    with engine.store.engine.connect() as conn:
        left = set(conn.scalars(sa.select(people.c.id)))
        assert conn.scalar(sa.select(sa.func.count()).select_from(tombstones)) == 1  # e-mail
    assert left == {kept, american}


def test_the_api_exports_and_erases_with_the_admin_scope_only(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from leadgrade.api import create_app
    from leadgrade.keys import create_key

    person = kim(engine)
    with engine.store.transaction() as conn:
        _, admin = create_key(conn, "dpo", ["admin"], T0)
        _, writer = create_key(conn, "rep", ["write", "read"], T0)
    with TestClient(create_app(engine, clock=lambda: T0 + DAY)) as client:
        as_admin = {"Authorization": f"Bearer {admin}"}
        as_writer = {"Authorization": f"Bearer {writer}"}
        assert client.get(f"/v1/people/{person}/export", headers=as_writer).status_code == 403
        exported = client.get(f"/v1/people/{person}/export", headers=as_admin)
        assert exported.status_code == 200
        emails = {p["attributes"].get("email") for p in exported.json()["profile"]}
        assert EMAIL.lower() in emails
        assert client.delete(f"/v1/people/{person}", headers=as_writer).status_code == 403
        erased = client.delete(f"/v1/people/{person}", headers=as_admin)
        assert erased.status_code == 200
        assert erased.json()["complete"]
        assert client.delete(f"/v1/people/{person}", headers=as_admin).status_code == 404
        back = client.post(
            "/v1/events",
            json={
                "id": "z1",
                "type": "web.page_view",
                "occurred_at": "2026-05-30T00:00:00Z",
                "email": EMAIL,
            },
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert back.json()["refused"] == 1


def test_the_command_line_exports_erases_and_runs_retention(in_tmp, write, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.test_engine_cli import EVENTS, invoke

    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    firm = in_tmp / "firm"
    events = write("events.csv", EVENTS)
    invoke("ingest", "--workspace", firm, events)
    shown = invoke("privacy", "export", "--workspace", firm, "vp@acme.com")
    assert shown.exit_code == 0, shown.stderr
    exported = json.loads(shown.stdout)
    assert {e["id"] for e in exported["events"]} >= {"v1", "v2", "f1"}
    assert (
        invoke("privacy", "erase", "--workspace", firm, "nobody@acme.com", "--yes").exit_code == 2
    )
    erased = invoke("privacy", "erase", "--workspace", firm, "vp@acme.com", "--yes")
    assert erased.exit_code == 0, erased.stderr
    assert "tombstone" in erased.stderr
    again = invoke("ingest", "--workspace", firm, write("again.csv", EVENTS))
    assert again.exit_code == 0
    listed = invoke("leads", "--workspace", firm, "-f", "jsonl").stdout
    assert "vp@acme.com" not in listed  # refused: the e-mail and the anonymous visits
    assert invoke("privacy", "export", "--workspace", firm, "vp@acme.com").exit_code == 2
    run = invoke("privacy", "retention", "--workspace", firm, "--dry-run")
    assert json.loads(run.stdout)["dry_run"] is True

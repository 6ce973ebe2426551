"""Bullhorn: the mapping (pure), the client and the poller against a local server that
speaks Bullhorn's REST API (OAuth, /login, event subscriptions, entities), on SQLite and
PostgreSQL — and a poller killed between fetching a batch and acknowledging it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadgrade.core import Model
from leadgrade.engine import AudienceMap, AudienceRule, Engine, PersonRef
from leadgrade.integrations import state
from leadgrade.integrations.apply import Erase
from leadgrade.integrations.bullhorn import (
    ENTITIES,
    BullhornClient,
    BullhornError,
    BullhornPoller,
    Fetched,
    read_event,
)
from leadgrade.settings import BullhornSection
from leadgrade.store import Store
from leadgrade.store.schema import (
    events,
    identities,
    integration_state,
    leads,
    people,
    stage_changes,
    timers,
    tombstones,
)
from leadgrade.times import epoch, utc
from leadgrade.workspace import Workspace
from tests.vendors import (
    BullhornServer,
    bh_candidate,
    bh_contact,
    bh_corporation,
    bh_job_order,
    bh_placement,
    bh_submission,
)

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z


def settings_for(server: BullhornServer, **changes: Any) -> BullhornSection:
    values: dict[str, Any] = {
        "auth_url": server.url,
        "login_url": f"{server.url}/rest-services",
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "username": server.username,
        "password": server.password,
        "timeout": 5,
    }
    return BullhornSection(**(values | changes))


def event(
    entity: str, entity_id: int, kind: str = "INSERTED", updated: list[str] | None = None
) -> dict[str, Any]:
    return {
        "eventId": f"ID:JBM-{entity}-{entity_id}-{kind}",
        "eventType": "ENTITY",
        "entityName": entity,
        "entityId": entity_id,
        "entityEventType": kind,
        "eventTimestamp": 1_790_812_800_000,
        "updatedProperties": updated or [],
        "eventMetadata": {},
    }


DEFAULTS = BullhornSection()


# -------------------------------------------------------------------------- mapping


def test_a_candidate_is_a_person_without_their_protected_fields() -> None:
    change = read_event(event("Candidate", 5059165), Fetched(bh_candidate()), DEFAULTS)
    (stored,) = change.events
    assert (stored.id, stored.type, stored.audience) == (
        "bullhorn:ID:JBM-Candidate-5059165-INSERTED",
        "ats.candidate_created",
        "candidate",
    )
    assert stored.person == PersonRef(
        email="alanzo.smith@example.com", system="bullhorn", external_id="5059165"
    )
    assert stored.traits == {
        "first_name": "Alanzo",
        "last_name": "Smith",
        "job_title": "CNC Machinist",
        "company": "Sierra Fabrication",
        "bullhorn_status": "Active",
        "skills": "CNC, forklift, blueprint reading",
        "lead_source": "LinkedIn",
        "email": "alanzo.smith@example.com",
        "phone": "916-555-0142",
        "city": "Sacramento",
        "state": "CA",
        "job_category": "Manufacturing",
    }
    assert sorted(change.stripped) == [
        "address.zip",  # for candidates a ZIP code is a proxy
        "dateOfBirth",
        "disability",
        "ethnicity",
        "gender",
        "maritalStatus",
        "ssn",
        "veteran",
        "workAuthorized",
    ]


def test_a_contact_brings_their_company_and_keeps_a_business_zip() -> None:
    change = read_event(
        event("ClientContact", 4242, "UPDATED", ["email"]),
        Fetched(bh_contact(), corporation=bh_corporation()),
        DEFAULTS,
    )
    (stored,) = change.events
    assert (stored.type, stored.audience, stored.person.system) == (
        "ats.contact_updated",
        "employer",
        "bullhorn_contact",
    )
    assert stored.traits["company_domain"] == "acme-health.com"
    assert (stored.traits["industry"], stored.traits["company_size"]) == ("Healthcare", 2400)
    assert stored.traits["job_title"] == "VP Talent Acquisition"
    assert stored.traits["email_opt_out"] is True  # massMailOptOut: a consent opt-out
    assert stored.properties["updated"] == ["email"]
    assert change.stripped == ["gender"]


def test_placements_submissions_and_job_orders() -> None:
    placed = read_event(event("Placement", 7701), Fetched(bh_placement()), DEFAULTS)
    (move,) = placed.moves
    assert (move.stage, move.forward_only, move.audience) == ("won", False, "candidate")
    assert move.person == PersonRef(system="bullhorn", external_id="5059165")
    assert utc(move.placement_start or 0).date().isoformat() == "2026-11-02"
    assert utc(move.contract_end or 0).date().isoformat() == "2027-05-01"
    assert placed.events[0].type == "ats.placement_start"
    assert placed.events[0].properties["contract_end"] == "2027-05-01"
    # an update of other fields, or a status that is not a placement, moves nothing
    paid = read_event(
        event("Placement", 7701, "UPDATED", ["payRate"]), Fetched(bh_placement()), DEFAULTS
    )
    assert paid.moves == []
    assert paid.events[0].type == "ats.placement_update"
    ended = read_event(
        event("Placement", 7701, "UPDATED", ["status"]),
        Fetched(bh_placement(status="Terminated")),
        DEFAULTS,
    )
    assert ended.moves == []

    submitted = read_event(event("JobSubmission", 3301), Fetched(bh_submission()), DEFAULTS)
    assert submitted.events[0].type == "ats.submission"
    assert submitted.moves[0].stage == "sql"
    applied = read_event(
        event("JobSubmission", 3302), Fetched(bh_submission(3302, status="New Lead")), DEFAULTS
    )
    assert applied.events[0].type == "job.apply"  # a web response: the candidate applied
    assert applied.moves == []

    job = read_event(event("JobOrder", 901), Fetched(bh_job_order()), DEFAULTS)
    (stored,) = job.events
    assert (stored.type, stored.person.external_id, stored.properties["openings"]) == (
        "ats.job_order",
        "4242",
        3,
    )


def test_deletions_and_anonymisations_are_erasures_and_gone_entities_are_noted() -> None:
    deleted = read_event(event("Candidate", 5, "DELETED"), Fetched(None), DEFAULTS)
    assert deleted.erasures == [Erase("bullhorn", "5", "ats-delete")]
    assert deleted.events == []
    contact = read_event(event("ClientContact", 6, "DELETED"), Fetched(None), DEFAULTS)
    assert contact.erasures == [Erase("bullhorn_contact", "6", "ats-delete")]
    anonymized = read_event(
        event("Candidate", 7, "UPDATED"), Fetched(bh_candidate(7, isAnonymized=True)), DEFAULTS
    )
    assert anonymized.erasures == [Erase("bullhorn", "7", "ats-anonymize")]
    gone = read_event(event("Placement", 8, "UPDATED"), Fetched(None), DEFAULTS)
    assert gone.events == []
    assert "gone before it was fetched" in gone.notes[0]


# --------------------------------------------------------------------------- client


@pytest.fixture
def server() -> Iterator[BullhornServer]:
    found = BullhornServer()
    yield found
    if found.gate is not None:
        found.gate.set()
    found.stop()


def test_the_client_logs_in_subscribes_and_renews_an_expired_session(
    server: BullhornServer,
) -> None:
    client = BullhornClient(settings_for(server))
    try:
        assert client.subscribe("leadgrade") == 0
        assert server.subscriptions["leadgrade"]["names"] == list(ENTITIES)
        assert server.subscriptions["leadgrade"]["eventTypes"] == ["INSERTED", "UPDATED", "DELETED"]
        assert client.rest_url == server.rest_url
        assert client.batch("leadgrade", 100) is None  # nothing waiting: an empty body
        server.entities[("Candidate", 1)] = bh_candidate(1)
        server.expire_sessions()  # the BhRestToken timed out: 401, then a new session
        assert client.entity("Candidate", "1", "id")["id"] == 1  # type: ignore[index]
        assert server.logins == 2
        assert client.entity("Candidate", "2", "id") is None  # 404: gone
    finally:
        client.close()


def test_the_client_says_what_is_wrong_with_the_configuration(server: BullhornServer) -> None:
    with pytest.raises(BullhornError, match="client_secret, password"):
        BullhornClient(BullhornSection(client_id="x", username="y")).login()
    wrong = BullhornClient(settings_for(server, password="not-the-password"))
    with pytest.raises(BullhornError, match="refused the login"):
        wrong.login()
    wrong.close()
    secret = BullhornClient(settings_for(server, client_secret="wrong-secret-9"))
    with pytest.raises(BullhornError, match="client_secret"):
        secret.login()
    secret.close()


# --------------------------------------------------------------------------- poller


def _engine(store: Store, models: dict[str, Model]) -> Engine:
    return Engine(
        store, models, AudienceMap((AudienceRule("candidate", types=("job.*",)),), ("employer",))
    )


@pytest.fixture
def engine(store: Store, shipped_models: dict[str, Model]) -> Engine:
    return _engine(store, shipped_models)


def populate(server: BullhornServer) -> None:
    server.entities[("Candidate", 5059165)] = bh_candidate()
    server.entities[("ClientContact", 4242)] = bh_contact()
    server.entities[("ClientCorporation", 77)] = bh_corporation()
    server.entities[("JobOrder", 901)] = bh_job_order()
    server.entities[("JobSubmission", 3301)] = bh_submission()
    server.entities[("Placement", 7701)] = bh_placement()
    server.associations[("ClientCorporation", 77, "clientContacts")] = [4242, 4243]


def count(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0


def candidate_lead(engine: Engine, candidate: str = "5059165") -> Any:
    with engine.store.engine.connect() as conn:
        person = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "bullhorn", identities.c.value == candidate
            )
        )
        return conn.execute(
            sa.select(leads).where(leads.c.person_id == person, leads.c.audience == "candidate")
        ).one_or_none()


def reengagement(engine: Engine, lead_id: str) -> list[Any]:
    with engine.store.engine.connect() as conn:
        return conn.execute(
            sa.select(timers).where(timers.c.lead_id == lead_id, timers.c.kind == "reengage")
        ).all()


def test_a_placement_batch_places_the_candidate_and_schedules_reengagement(
    engine: Engine, server: BullhornServer
) -> None:
    populate(server)
    server.publish("Candidate", 5059165, "INSERTED")
    server.publish("ClientCorporation", 77, "INSERTED")
    server.publish("ClientContact", 4242, "INSERTED")
    server.publish("ClientCorporation", 77, "UPDATED", ["numEmployees"])
    server.publish("JobOrder", 901, "INSERTED")
    server.publish("JobSubmission", 3301, "INSERTED")
    server.publish("Placement", 7701, "INSERTED")
    poller = BullhornPoller(engine, settings_for(server))
    try:
        polled = poller.drain(NOW)
    finally:
        poller.close()
    assert polled.batches == [1]
    outcome = polled.outcome
    assert (outcome.accepted, outcome.moved, outcome.erased) == (6, 2, 0)
    assert outcome.stripped["dateOfBirth"] == 1
    assert outcome.stripped["gender"] == 2
    lead = candidate_lead(engine)
    assert lead.stage == "won"  # the same state as the Greenhouse hire
    (timer,) = reengagement(engine, lead.id)
    assert timer.status == "pending"
    assert utc(epoch(timer.due_at)).date().isoformat() == "2027-04-01"  # 30 days before the end
    with engine.store.engine.connect() as conn:
        history = [
            (row.from_stage, row.to_stage, row.actor)
            for row in conn.execute(
                sa.select(stage_changes)
                .where(stage_changes.c.lead_id == lead.id)
                .order_by(stage_changes.c.id)
            )
        ]
        contact = conn.execute(
            sa.select(people.c.attributes)
            .join(identities, identities.c.person_id == people.c.id)
            .where(identities.c.kind == "bullhorn_contact", identities.c.value == "4242")
        ).scalar_one()
        position = conn.execute(sa.select(integration_state)).one()
        stored = " ".join(str(row) for row in conn.execute(sa.select(people.c.attributes)))
    assert history == [
        (None, "lead", "engine"),
        ("lead", "sql", "bullhorn"),
        ("sql", "won", "bullhorn"),
    ]
    assert contact["company_domain"] == "acme-health.com"
    assert contact["company_size"] == 2400
    assert position.data == {"subscribed": True, "done": 1, "pending": None}
    for value in ("Hispanic", "***-**-1234", "Married", "95814"):
        assert value not in stored  # stripped at the door
    # only the contacts we know had their company's update
    assert count(engine, identities, identities.c.value == "4243") == 0
    # nothing waiting: a second poll does nothing
    again = BullhornPoller(engine, settings_for(server))
    assert again.drain(NOW).batches == []
    again.close()


def test_deletions_erase_and_later_events_are_refused(
    engine: Engine, server: BullhornServer
) -> None:
    populate(server)
    server.publish("Candidate", 5059165, "INSERTED")
    server.publish("Candidate", 5059165, "DELETED")
    server.publish("Placement", 7701, "INSERTED")
    poller = BullhornPoller(engine, settings_for(server))
    polled = poller.drain(NOW)
    poller.close()
    assert polled.outcome.erased == 1
    assert polled.outcome.refused == 1  # the placement names an erased candidate
    assert count(engine, people) == 0
    assert count(engine, tombstones, tombstones.c.basis == "ats-delete") >= 2


def test_a_crash_before_the_acknowledgement_refetches_the_batch_and_applies_nothing_twice(
    engine: Engine, server: BullhornServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(server)
    server.publish("Candidate", 5059165, "INSERTED")
    server.publish("Placement", 7701, "INSERTED")
    real_save = state.save

    def crash_on_ack(store: Store, name: str, data: dict[str, Any], now: float) -> None:
        if data.get("pending") is None and data.get("done"):
            raise KeyboardInterrupt("the process dies before acknowledging")
        real_save(store, name, data, now)

    monkeypatch.setattr(state, "save", crash_on_ack)
    poller = BullhornPoller(engine, settings_for(server))
    with pytest.raises(KeyboardInterrupt):
        poller.drain(NOW)
    poller.close()
    assert candidate_lead(engine).stage == "won"
    assert state.load(engine.store, "bullhorn:leadgrade")["pending"] == 1
    monkeypatch.setattr(state, "save", real_save)

    restarted = BullhornPoller(engine, settings_for(server))
    polled = restarted.drain(NOW)
    restarted.close()
    assert polled.batches == [1]
    fetches = server.calls("GET", "/rest-services/e999/event/subscription/leadgrade")
    assert [q.get("requestId") for _, q in fetches].count(["1"]) == 1  # fetched again
    assert (polled.outcome.accepted, polled.outcome.duplicates) == (0, 2)
    assert (polled.outcome.moved, polled.outcome.replayed) == (0, 1)
    assert count(engine, stage_changes, stage_changes.c.to_stage == "won") == 1
    assert len(reengagement(engine, candidate_lead(engine).id)) == 1
    assert state.load(engine.store, "bullhorn:leadgrade") == {
        "subscribed": True,
        "done": 1,
        "pending": None,
    }


def test_a_crash_before_the_batch_is_recorded_finds_it_by_last_request_id(
    engine: Engine, server: BullhornServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(server)
    server.publish("Placement", 7701, "INSERTED")
    real_save = state.save

    def crash_on_pending(store: Store, name: str, data: dict[str, Any], now: float) -> None:
        if data.get("pending") is not None:
            raise KeyboardInterrupt("dies right after Bullhorn handed the batch out")
        real_save(store, name, data, now)

    monkeypatch.setattr(state, "save", crash_on_pending)
    poller = BullhornPoller(engine, settings_for(server))
    with pytest.raises(KeyboardInterrupt):
        poller.drain(NOW)
    poller.close()
    assert count(engine, events) == 0
    assert server.queue == []  # Bullhorn considers the batch consumed
    monkeypatch.setattr(state, "save", real_save)
    restarted = BullhornPoller(engine, settings_for(server))
    polled = restarted.drain(NOW)
    restarted.close()
    assert polled.batches == [1]
    assert candidate_lead(engine).stage == "won"


def test_a_batch_purged_upstream_is_reported_and_passed(
    engine: Engine, server: BullhornServer, caplog: pytest.LogCaptureFixture
) -> None:
    populate(server)
    server.publish("Candidate", 5059165, "INSERTED")
    poller = BullhornPoller(engine, settings_for(server))
    poller.drain(NOW)
    state.save(
        engine.store, "bullhorn:leadgrade", {"subscribed": True, "done": 0, "pending": 9}, NOW
    )
    polled = poller.drain(NOW)
    poller.close()
    assert 9 in polled.batches
    assert "can no longer be fetched" in caplog.text


# ------------------------------------------------------------- killed for real


def test_a_poller_killed_between_fetch_and_acknowledgement_loses_nothing(
    tmp_path: Path, server: BullhornServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leadgrade integrations bullhorn poll --once`` in its own process, killed with
    SIGKILL while it fetches the second entity of a batch (the first event is stored);
    a restarted poller fetches the batch again by its requestId."""
    populate(server)
    server.publish("Candidate", 5059165, "INSERTED")
    server.publish("Placement", 7701, "INSERTED")
    server.publish("ClientContact", 4242, "INSERTED")
    server.gate = threading.Event()
    server.hold_after = 1  # the second entity fetch waits on the gate
    workspace = Workspace.create(tmp_path / "firm")
    config = workspace.config_path
    config.write_text(
        config.read_text().replace(
            "[tracking]",
            "[integrations.bullhorn]\n"
            f'auth_url = "{server.url}"\n'
            f'login_url = "{server.url}/rest-services"\n'
            f'client_id = "{server.client_id}"\n'
            f'username = "{server.username}"\n\n[tracking]',
        )
    )
    monkeypatch.setenv("LEADGRADE_BULLHORN_CLIENT_SECRET", server.client_secret)
    monkeypatch.setenv("LEADGRADE_BULLHORN_PASSWORD", server.password)
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEADGRADE_WORKSPACE", raising=False)
    env = dict(os.environ)
    command = [sys.executable, "-m", "leadgrade", "integrations", "bullhorn", "poll", "--once"]
    log = tmp_path / "poller.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--workspace", str(workspace.root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while server.entity_fetches < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the poller never reached the second fetch"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        server.gate.set()
        if process.poll() is None:
            process.kill()
    engine = workspace.engine()
    try:
        assert count(engine, events) == 1  # the candidate; then it died
        assert state.load(engine.store, "bullhorn:leadgrade")["pending"] == 1
        server.gate = None
        restarted = BullhornPoller(engine, workspace.settings().integrations.bullhorn)
        polled = restarted.drain(NOW)
        restarted.close()
        assert polled.batches == [1]
        assert (polled.outcome.accepted, polled.outcome.duplicates) == (2, 1)
        assert count(engine, events) == 3
        lead = candidate_lead(engine)
        assert lead.stage == "won"
        assert count(engine, stage_changes, stage_changes.c.to_stage == "won") == 1
        assert len(reengagement(engine, lead.id)) == 1
        idle = BullhornPoller(engine, workspace.settings().integrations.bullhorn)
        assert idle.drain(NOW).batches == []  # acknowledged: nothing more
        idle.close()
    finally:
        engine.store.close()


def test_serve_polls_bullhorn_when_enabled(engine: Engine, server: BullhornServer) -> None:
    from fastapi.testclient import TestClient

    from leadgrade.api import create_app
    from leadgrade.settings import IntegrationsSection

    populate(server)
    server.publish("Placement", 7701, "INSERTED")
    settings = IntegrationsSection(bullhorn=settings_for(server, enabled=True, poll_every=0.05))
    app = create_app(engine, clock=lambda: NOW, integrations=settings)
    with TestClient(app):
        deadline = time.monotonic() + 20
        while candidate_lead(engine) is None or candidate_lead(engine).stage != "won":
            assert time.monotonic() < deadline, "the server never polled Bullhorn"
            time.sleep(0.05)
    assert count(engine, events) == 1


def test_on_postgresql_one_server_polls_at_a_time(engine: Engine) -> None:
    with (
        state.exclusive(engine.store, "bullhorn:leadgrade") as first,
        state.exclusive(engine.store, "bullhorn:leadgrade") as second,
    ):
        assert first
        assert second is (engine.store.dialect != "postgresql")  # SQLite has one server
    with state.exclusive(engine.store, "bullhorn:leadgrade") as again:
        assert again  # released

"""Greenhouse webhooks: the signature, the mapping (pure), and the route over the store
(SQLite and PostgreSQL), with webhooks posted as Greenhouse posts them — also over a
real connection to a running server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app as cli
from leadgrade.core import Model
from leadgrade.engine import AudienceMap, AudienceRule, Engine, PersonRef
from leadgrade.integrations.apply import Erase, Link, StageMove
from leadgrade.integrations.greenhouse import (
    WebhookError,
    delivery_id,
    read_webhook,
    sign,
    signature_ok,
)
from leadgrade.settings import GreenhouseSection, IntegrationsSection
from leadgrade.store import Store
from leadgrade.store.schema import (
    audit_log,
    events,
    identities,
    leads,
    people,
    stage_changes,
    timers,
    tombstones,
)
from leadgrade.times import epoch, utc
from leadgrade.workspace import Workspace
from tests.vendors import (
    GreenhouseSender,
    gh_application,
    gh_candidate,
    gh_offer,
    gh_offer_event,
    gh_person_event,
    greenhouse_json,
    greenhouse_signature,
)

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z
DAY = 86_400.0
SECRET = "gh-webhook-secret-7f3a"
SETTINGS = GreenhouseSection(
    secret=SECRET, stages={"Phone Screen": "sql", "Face to Face": "opportunity"}
)


def day(text: str) -> float:
    return datetime.combine(date.fromisoformat(text), dt_time(), tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------ signature


def test_the_signature_is_an_hmac_of_the_raw_body_compared_in_constant_time() -> None:
    body = greenhouse_json({"action": "ping", "payload": {"job": "<p>Zoë</p>"}})
    assert b"\\u003cp\\u003e" in body
    assert b"\\u00eb" in body
    header = greenhouse_signature(SECRET, body)
    assert header == sign(SECRET, body)
    assert signature_ok(SECRET, body, header)
    assert signature_ok(SECRET, body, "SHA256   " + header.split()[1].upper())
    # the same JSON written differently is another body: the raw bytes are what is signed
    assert not signature_ok(SECRET, json.dumps(json.loads(body)).encode(), header)
    assert not signature_ok("another-secret", body, header)
    assert not signature_ok(SECRET, body, None)
    assert not signature_ok(SECRET, body, "")
    assert not signature_ok(SECRET, body, header.split()[1])  # no algorithm
    assert not signature_ok(SECRET, body, "sha1 " + header.split()[1])


def test_a_delivery_is_named_by_its_greenhouse_event_id() -> None:
    assert delivery_id("8f2c-11", b"{}") == "greenhouse:8f2c-11"
    missing = delivery_id(None, b'{"action": "x"}')
    assert missing.startswith("greenhouse:sha256:")
    assert missing == delivery_id("", b'{"action": "x"}')


# -------------------------------------------------------------------------- mapping


def test_a_hire_is_a_placement_with_its_dates_and_moves_the_candidate_to_won() -> None:
    data = gh_application("hire_candidate", stage="Offer", offer=gh_offer())
    webhook = read_webhook(data, "greenhouse:e-1", SETTINGS, NOW)
    change = webhook.change
    assert change is not None
    (event,) = change.events
    assert (event.id, event.type, event.audience) == (
        "greenhouse:e-1",
        "ats.placement_start",
        "candidate",
    )
    assert event.person == PersonRef(
        email="jordan.avery@example.com", system="greenhouse", external_id="35897443"
    )
    assert event.properties["placement_start"] == "2026-11-02"
    assert event.properties["contract_end"] == "2027-05-01"
    assert event.properties["job"] == "ICU Nurse"
    assert event.source == "Indeed"
    (move,) = change.moves
    assert isinstance(move, StageMove)
    assert (move.stage, move.key, move.forward_only) == ("won", "greenhouse:e-1", False)
    assert move.placement_start == day("2026-11-02")
    assert move.contract_end == day("2027-05-01")
    assert change.links == [
        Link(
            PersonRef(system="greenhouse", external_id="35897443"),
            "greenhouse_application",
            "46194062",
            key="greenhouse:e-1:application",
            merge=True,
            occurred_at=event.occurred_at,
        )
    ]
    # the alias some accounts send reads the same
    alias = read_webhook({**data, "action": "candidate_hired"}, "greenhouse:e-2", SETTINGS, NOW)
    assert alias.change is not None
    assert alias.change.moves[0].stage == "won"


def test_candidates_become_attributes_without_their_protected_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    candidate = gh_candidate(can_email=False)
    candidate["custom_fields"]["field_7"]["value"] = "1991-04-02"
    with caplog.at_level(logging.INFO, logger="leadgrade.integrations"):
        webhook = read_webhook(
            gh_application("new_candidate_application", candidate=candidate),
            "greenhouse:e-3",
            SETTINGS,
            NOW,
        )
    assert webhook.change is not None
    (event,) = webhook.change.events
    assert event.type == "job.apply"  # what the candidate model scores
    assert event.traits == {
        "first_name": "Jordan",
        "last_name": "Avery",
        "job_title": "Registered Nurse",
        "company": "Mercy General",
        "email": "jordan.avery@example.com",
        "phone": "518-555-0134",
        "state": "NY",  # the address's state; not the street, not the ZIP code
        "tags": ["ICU", "Night shift"],
        "recruiter_email": "maya@firm.example",
        "email_opt_out": True,  # can_email false: an opt-out for the consent ledger
        "job_category": "Nursing",
        "desired_salary": "85000",
        "willing_to_travel": True,
    }
    assert sorted(webhook.change.stripped) == [
        "custom_fields.field_7",  # keyed innocently, named "Date of Birth"
        "custom_fields.graduation_year_1",
        "photo_url",
    ]
    logged = caplog.text
    assert "graduation_year_1" in logged
    assert "greenhouse" in logged
    assert "1991-04-02" not in logged
    assert "2013" not in logged


def test_stage_names_map_to_stages_in_any_case() -> None:
    moved = read_webhook(
        gh_application("candidate_stage_change", stage="phone screen"),
        "greenhouse:e-4",
        SETTINGS,
        NOW,
    )
    assert moved.change is not None
    (move,) = moved.change.moves
    assert (move.stage, move.forward_only) == ("sql", True)
    assert "Greenhouse: stage 'phone screen' for ICU Nurse (application 46194062)" == move.reason
    assert moved.change.events[0].type == "ats.stage_change"
    unmapped = read_webhook(
        gh_application("application_updated", stage="Reference Check"),
        "greenhouse:e-5",
        SETTINGS,
        NOW,
    )
    assert unmapped.change is not None
    assert unmapped.change.moves == []
    assert unmapped.change.events[0].properties["stage"] == "Reference Check"


def test_offers_name_their_application_and_deletes_merges_anonymisations_are_people() -> None:
    offer = read_webhook(gh_offer_event(), "greenhouse:e-6", SETTINGS, NOW).change
    assert offer is not None
    (event,) = offer.events
    assert event.person == PersonRef(system="greenhouse_application", external_id="46194062")
    assert event.properties["start_date"] == "2026-11-02"
    assert offer.moves[0].stage == "opportunity"
    deprecated = read_webhook(
        gh_offer_event("offer_updated", status="Deprecated"), "greenhouse:e-7", SETTINGS, NOW
    ).change
    assert deprecated is not None
    assert deprecated.moves == []

    deleted = read_webhook(gh_person_event("delete_candidate", 37031511), "g:1", SETTINGS, NOW)
    assert deleted.change is not None
    assert deleted.change.erasures == [Erase("greenhouse", "37031511", "ats-delete")]
    anonymized = read_webhook(
        {
            "action": "candidate_anonymized",
            "payload": {"candidate_id": 37031511, "anonymized_fields": ["full_name"]},
        },
        "g:2",
        SETTINGS,
        NOW,
    )
    assert anonymized.change is not None
    assert anonymized.change.erasures == [Erase("greenhouse", "37031511", "ats-anonymize")]
    merged = read_webhook(
        gh_person_event("merge_candidate", 37031511, new_candidate_id=457456), "g:3", SETTINGS, NOW
    )
    assert merged.change is not None
    (link,) = merged.change.links
    assert (link.person.external_id, link.external_id, link.merge) == ("457456", "37031511", True)


def test_pings_and_unmapped_actions_store_nothing_and_bad_bodies_name_the_path() -> None:
    assert read_webhook({"action": "ping", "payload": {}}, "g:4", SETTINGS, NOW).change is None
    assert (
        read_webhook({"action": "interview_deleted", "payload": {}}, "g:5", SETTINGS, NOW).change
        is None
    )
    cases: list[tuple[Any, str]] = [
        ([], "$"),
        ({"payload": {}}, "$.action"),
        ({"action": "hire_candidate"}, "$.payload"),
        ({"action": "hire_candidate", "payload": {}}, "$.payload.application"),
        (
            {"action": "hire_candidate", "payload": {"application": {"candidate": {}}}},
            "$.payload.application.candidate.id",
        ),
        ({"action": "offer_created", "payload": {"id": 1}}, "$.payload.application_id"),
        (
            {"action": "merge_candidate", "payload": {"person": {"id": 1}}},
            "$.payload.person.new_candidate_id",
        ),
    ]
    for data, where in cases:
        with pytest.raises(WebhookError) as caught:
            read_webhook(data, "g:6", SETTINGS, NOW)
        assert caught.value.where == where


# ----------------------------------------------------------------------------- API


def _engine(store: Store, models: dict[str, Model]) -> Engine:
    return Engine(
        store,
        models,
        AudienceMap((AudienceRule("candidate", types=("job.*",)),), ("employer",)),
    )


@pytest.fixture
def client(store: Store, shipped_models: dict[str, Model]) -> Iterator[TestClient]:
    app = create_app(
        _engine(store, shipped_models),
        clock=lambda: NOW,
        integrations=IntegrationsSection(greenhouse=SETTINGS),
    )
    with TestClient(app) as test_client:
        yield test_client


def post(
    client: TestClient,
    data: dict[str, Any],
    event_id: str,
    *,
    secret: str = SECRET,
    signature: str | None = None,
) -> Any:
    body = greenhouse_json(data)
    headers = {"Content-Type": "application/json", "Greenhouse-Event-ID": event_id}
    if signature != "":
        headers["Signature"] = signature or greenhouse_signature(secret, body)
    return client.post("/v1/integrations/greenhouse", content=body, headers=headers)


def count(client: TestClient, table: sa.Table, *where: Any) -> int:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0


def lead_of(client: TestClient, candidate_id: str) -> Any:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.engine.connect() as conn:
        person = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "greenhouse", identities.c.value == candidate_id
            )
        )
        return conn.execute(
            sa.select(leads).where(leads.c.person_id == person, leads.c.audience == "candidate")
        ).one_or_none()


def test_a_signed_hire_places_the_candidate_and_schedules_reengagement_a_wrong_one_is_401(
    client: TestClient,
) -> None:
    data = gh_application("hire_candidate", stage="Offer", offer=gh_offer())
    wrong = post(client, data, "evt-hire-1", secret="not-the-secret")
    assert wrong.status_code == 401
    assert "Signature" in wrong.json()["detail"]
    assert post(client, data, "evt-hire-1", signature="").status_code == 401
    assert count(client, events) == 0
    assert count(client, people) == 0

    answer = post(client, data, "evt-hire-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["action"], body["event_id"], body["accepted"], body["moved"]) == (
        "hire_candidate",
        "greenhouse:evt-hire-1",
        1,
        1,
    )
    lead = lead_of(client, "35897443")
    assert lead.stage == "won"
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.engine.connect() as conn:
        (history,) = conn.execute(
            sa.select(stage_changes).where(
                stage_changes.c.lead_id == lead.id, stage_changes.c.to_stage == "won"
            )
        ).all()
        timer = conn.execute(
            sa.select(timers).where(timers.c.lead_id == lead.id, timers.c.kind == "reengage")
        ).one()
    assert history.actor == "greenhouse"
    assert history.reason.startswith("Greenhouse: hired for ICU Nurse (application 46194062)")
    # 30 days before the contract's end (the offer's custom date field)
    assert timer.status == "pending"
    assert utc(epoch(timer.due_at)).date().isoformat() == "2027-04-01"
    assert timer.payload["placement_start"].startswith("2026-11-02")

    # the same delivery again (Greenhouse retries): nothing more
    again = post(client, data, "evt-hire-1").json()
    assert (again["accepted"], again["duplicates"], again["moved"], again["replayed"]) == (
        0,
        1,
        0,
        1,
    )
    assert count(client, stage_changes, stage_changes.c.to_stage == "won") == 1
    assert count(client, timers, timers.c.kind == "reengage") == 1


def test_without_a_contract_end_reengagement_is_a_year_after_the_start(
    client: TestClient,
) -> None:
    data = gh_application("hire_candidate", offer=gh_offer(contract_end=None))
    assert post(client, data, "evt-hire-2").status_code == 200
    lead = lead_of(client, "35897443")
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.engine.connect() as conn:
        due = conn.scalar(sa.select(timers.c.due_at).where(timers.c.lead_id == lead.id))
    assert due is not None
    assert utc(epoch(due)).date().isoformat() == "2027-11-02"


def test_stages_move_forward_only_and_an_offer_finds_its_candidate(client: TestClient) -> None:
    assert post(client, gh_application("new_candidate_application"), "a1").status_code == 200
    assert lead_of(client, "35897443").stage == "lead"
    post(client, gh_application("candidate_stage_change", stage="Phone Screen"), "a2")
    assert lead_of(client, "35897443").stage == "sql"
    # an offer names only the application: it reaches the same candidate
    answer = post(client, gh_offer_event(), "a3").json()
    assert answer["moved"] == 1
    assert lead_of(client, "35897443").stage == "opportunity"
    assert count(client, people, people.c.merged_into.is_(None)) == 1
    # a late update naming an earlier stage does not move the candidate back
    late = post(client, gh_application("application_updated", stage="Phone Screen"), "a4").json()
    assert (late["moved"], late["kept"]) == (0, 1)
    assert lead_of(client, "35897443").stage == "opportunity"
    hired = post(client, gh_application("hire_candidate", offer=gh_offer()), "a5").json()
    assert hired["moved"] == 1
    assert lead_of(client, "35897443").stage == "won"
    after = post(client, gh_application("application_updated", stage="Offer"), "a6").json()
    assert after["moved"] == 0
    assert lead_of(client, "35897443").stage == "won"


def test_an_offer_before_its_application_is_merged_into_the_candidate(client: TestClient) -> None:
    post(client, gh_offer_event(application_id=555), "o1")
    assert count(client, people) == 1
    post(client, gh_application("new_candidate_application", application_id=555), "o2")
    assert count(client, people, people.c.merged_into.is_(None)) == 1
    assert lead_of(client, "35897443").stage == "opportunity"


def test_a_deleted_candidate_is_erased_and_refused_afterwards(client: TestClient) -> None:
    post(client, gh_application("new_candidate_application"), "d1")
    assert count(client, people) == 1
    answer = post(client, gh_person_event("delete_candidate", 35897443), "d2").json()
    assert answer["erased"] == 1
    assert count(client, people) == 0
    assert count(client, events) == 0
    assert count(client, tombstones, tombstones.c.basis == "ats-delete") >= 2  # e-mail, ids
    assert count(client, audit_log, audit_log.c.action == "person.erased") == 1
    late = post(client, gh_application("candidate_stage_change", stage="Phone Screen"), "d3")
    assert late.json()["refused"] == 1
    assert count(client, people) == 0
    # a retried deletion, or one of someone never seen, leaves one tombstone each
    assert post(client, gh_person_event("delete_candidate", 35897443), "d2").json()["erased"] == 0
    unknown = post(client, gh_person_event("delete_candidate", 999), "d4").json()
    assert unknown["erased"] == 1
    assert post(client, gh_person_event("delete_candidate", 999), "d5").json()["erased"] == 0
    assert count(client, tombstones, tombstones.c.kind == "greenhouse") == 2


def test_an_anonymised_candidate_is_erased(client: TestClient) -> None:
    post(client, gh_application("new_candidate_application"), "n1")
    answer = post(
        client,
        {
            "action": "candidate_anonymized",
            "payload": {
                "candidate_id": 35897443,
                "anonymized_fields": ["full_name", "email_addresses"],
            },
        },
        "n2",
    ).json()
    assert answer["erased"] == 1
    assert count(client, people) == 0
    assert count(client, tombstones, tombstones.c.basis == "ats-anonymize") >= 1


def test_a_merge_in_greenhouse_merges_the_people(client: TestClient) -> None:
    post(
        client,
        gh_application(
            "new_candidate_application",
            application_id=1,
            candidate=gh_candidate(111, "old@example.com"),
        ),
        "m1",
    )
    post(
        client,
        gh_application(
            "candidate_stage_change",
            application_id=2,
            stage="Phone Screen",
            candidate=gh_candidate(222, "new@example.com"),
        ),
        "m2",
    )
    assert count(client, people, people.c.merged_into.is_(None)) == 2
    answer = post(client, gh_person_event("merge_candidate", 111, new_candidate_id=222), "m3")
    assert answer.json()["linked"] == 1
    assert count(client, people, people.c.merged_into.is_(None)) == 1
    lead = lead_of(client, "111")
    assert lead is not None
    assert lead.id == lead_of(client, "222").id
    assert lead.stage == "sql"
    assert (
        post(client, gh_person_event("merge_candidate", 111, new_candidate_id=222), "m3").json()[
            "linked"
        ]
        == 0
    )


def test_pings_bad_bodies_and_a_missing_secret(
    client: TestClient, store: Store, shipped_models: dict[str, Model]
) -> None:
    pong = post(client, {"action": "ping", "payload": {"web_hook_id": 9}}, "p1")
    assert (pong.status_code, pong.json()) == (200, {"action": "ping", "status": "pong"})
    ignored = post(client, {"action": "job_created", "payload": {}}, "p2").json()
    assert ignored["status"] == "ignored"
    assert count(client, events) == 0
    body = b"{not json"
    headers = {"Signature": greenhouse_signature(SECRET, body)}
    bad = client.post("/v1/integrations/greenhouse", content=body, headers=headers)
    assert bad.status_code == 400
    unreadable = post(client, {"action": "hire_candidate", "payload": {}}, "p3")
    assert unreadable.status_code == 400
    assert unreadable.json()["where"] == "$.payload.application"

    unconfigured = create_app(_engine(store, shipped_models), clock=lambda: NOW)
    with TestClient(unconfigured) as other:
        answer = post(other, {"action": "ping"}, "p4")
        assert answer.status_code == 503
        assert "LEADGRADE_GREENHOUSE_SECRET" in answer.json()["detail"]


# ------------------------------------------------------------ a real server, a real client


class Server:
    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_greenhouse_posting_to_a_running_server(
    store: Store, shipped_models: dict[str, Model]
) -> None:
    engine = _engine(store, shipped_models)
    app = create_app(
        engine, clock=lambda: NOW, integrations=IntegrationsSection(greenhouse=SETTINGS)
    )
    with Server(app) as host:
        sender = GreenhouseSender(f"{host}/v1/integrations/greenhouse", SECRET)
        try:
            job = {"id": 1, "name": "<b>Nurse</b> — Zoë's unit", "departments": []}
            hired = sender.send(
                gh_application("hire_candidate", offer=gh_offer(), job=job), event_id="live-1"
            )
            assert hired.status_code == 200, hired.text
            assert (
                sender.send(gh_application("hire_candidate"), secret="wrong-secret").status_code
                == 401
            )
            assert sender.send(gh_application("hire_candidate"), signed=False).status_code == 401
        finally:
            sender.close()
    with engine.store.engine.connect() as conn:
        stage = conn.scalar(sa.select(leads.c.stage).where(leads.c.audience == "candidate"))
        stored = conn.scalar(sa.select(sa.func.count()).select_from(events))
    assert (stage, stored) == ("won", 1)


def test_serve_takes_the_secret_from_the_environment(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEADGRADE_GREENHOUSE_SECRET", "from-the-environment")
    workspace = Workspace.create(in_tmp / "firm")
    text = workspace.config_path.read_text()
    text = text.replace(
        "[tracking]",
        '[integrations.greenhouse]\nstages = { "Phone Screen" = "sql" }\n\n[tracking]',
    )
    workspace.config_path.write_text(text)
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.update(app=app))
    result = CliRunner().invoke(cli, ["serve", "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    app = served["app"]
    app.state.engine.store.close()
    settings = app.state.integrations.greenhouse
    assert (settings.secret, settings.stages) == ("from-the-environment", {"Phone Screen": "sql"})


# -------------------------------------------------------------------------- settings


def test_every_integrations_setting_is_documented_and_a_bad_stage_is_named() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "integrations.md").read_text()
    sections = IntegrationsSection.model_fields
    missing = [
        f"{section} {key}"
        for section in sections
        for key in sections[section].annotation.model_fields  # type: ignore[union-attr]
        if f"| {section} | `{key}` |" not in text
    ]
    assert not missing, f"[integrations] keys missing from docs/integrations.md: {missing}"
    with pytest.raises(ValueError, match="'screened' is not a stage; use one of lead, mql"):
        GreenhouseSection(stages={"Phone Screen": "screened"})

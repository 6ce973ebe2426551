"""The consent ledger: its rules, the API (SQLite and PostgreSQL), the CLI, and the
outbox's gate — with the issue's done-when: a candidate who texts "Stop" is suppressed on
every channel within the same request, and the outbox refuses to queue a re-engagement
SMS for them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app as cli
from leadgrade.engine import AudienceMap, AudienceRule, Engine, PersonRef
from leadgrade.handoff.outbox import enqueue, enqueue_to_person
from leadgrade.keys import create_key
from leadgrade.privacy.consent import (
    ConsentError,
    ConsentIn,
    ConsentRecord,
    Recipient,
    can_contact,
    check,
    consent_state,
)
from leadgrade.privacy.quiet import ContactRules
from leadgrade.settings import NotificationsSection
from leadgrade.store import Store
from leadgrade.store.schema import outbox
from tests.conftest import Writer

NOW = 1_790_870_400.0  # 2026-10-01T16:00:00Z: noon in New York and Miami, 11:00 in Pensacola
DAY = 86_400.0
RULES = ContactRules()
SENDER = NotificationsSection(
    webhooks=[{"name": "sender", "url": "https://sms.firm.example/hook", "secret": "s3cret-key"}],
    slack=[{"name": "bd", "webhook_url": "https://hooks.slack.example/T/B/X"}],
)
SMS_EVIDENCE = {"form": "apply", "url": "https://jobs.firm.example/apply", "disclosure": "sms-v3"}


def record(channel: str, status: str, at: float, **kw: Any) -> ConsentRecord:
    return ConsentRecord(f"c-{channel}-{status}-{at}", "p1", channel, status, "form", at, at, **kw)


# ------------------------------------------------------------------------------ the rules


def test_the_newest_row_for_a_channel_or_all_wins() -> None:
    state = consent_state(
        [
            record("all", "opted_in", 100.0),
            record("sms", "opted_out", 200.0),
            record("email", "opted_out", 50.0),
        ]
    )
    assert {c: state.status(c) for c in ("email", "sms", "phone")} == {
        "email": "opted_in",  # the opt-in to all came after the e-mail opt-out
        "sms": "opted_out",
        "phone": "opted_in",
    }
    later = consent_state([record("all", "opted_out", 100.0), record("sms", "opted_in", 300.0)])
    assert (later.status("sms"), later.status("email")) == ("opted_in", "opted_out")
    assert consent_state([]).status("sms") == "unknown"


def test_an_opt_out_wins_a_tie() -> None:
    tie = consent_state([record("sms", "opted_in", 100.0), record("all", "opted_out", 100.0)])
    assert tie.status("sms") == "opted_out"


def test_an_objection_suppresses_every_channel_for_good() -> None:
    rows = [
        record("email", "opted_in", 100.0, basis="consent"),
        record("email", "objected", 200.0),
        record("all", "opted_in", 300.0, basis="consent"),  # a later opt-in does not undo it
    ]
    state = consent_state(rows)
    assert {state.status(c) for c in ("email", "sms", "phone")} == {"objected"}
    person = Recipient({"state": "NY"}, state)
    for channel in ("email", "sms", "phone"):
        decision = can_contact(person, channel, NOW)
        assert (decision.allowed, decision.code) == (False, "objected")
        assert "for good" in decision.reason


def test_email_needs_no_opt_out_and_sms_needs_written_consent() -> None:
    nobody = Recipient({"state": "NY"}, consent_state([]))
    assert can_contact(nobody, "email", NOW).allowed
    assert can_contact(nobody, "phone", NOW).allowed  # calls: no opt-out, in the window
    sms = can_contact(nobody, "sms", NOW)
    assert (sms.allowed, sms.code) == (False, "no_consent")
    assert "prior express written consent" in sms.reason
    texted = Recipient({"state": "NY"}, consent_state([record("sms", "opted_in", 1.0)]))
    assert can_contact(texted, "sms", NOW).allowed
    out = Recipient({}, consent_state([record("email", "opted_out", 1.0)]))
    decision = can_contact(out, "email", NOW)
    assert (decision.allowed, decision.code) == (False, "opted_out")
    with pytest.raises(ValueError, match="not a channel"):
        can_contact(out, "fax", NOW)


@pytest.mark.parametrize(
    ("change", "attributes", "field"),
    [
        (ConsentIn("sms", "opted_in", "form"), {}, "evidence.disclosure"),
        (ConsentIn("all", "opted_in", "form", {"disclosure": "v3"}), {}, "evidence"),
        (ConsentIn("email", "opted_in", "form"), {"country": "DE"}, "basis"),
        (ConsentIn("email", "opted_in", "form"), {"country": "Germany"}, "basis"),
        (ConsentIn("email", "opted_in", "form", basis="legitimate_interest"), {}, "basis_ref"),
        (ConsentIn("email", "opted_in", "form", at=NOW + 3600), {}, "at"),
        (ConsentIn("fax", "opted_in", "form"), {}, "channel"),
        (ConsentIn("sms", "maybe", "form"), {}, "status"),
        (ConsentIn("sms", "opted_out", " "), {}, "source"),
    ],
)
def test_a_change_that_cannot_be_recorded_names_its_field(
    change: ConsentIn, attributes: dict[str, str], field: str
) -> None:
    with pytest.raises(ConsentError) as caught:
        check(change, attributes, NOW)
    assert caught.value.field == field


def test_what_can_be_recorded() -> None:
    check(ConsentIn("sms", "opted_in", "form", SMS_EVIDENCE), {}, NOW)
    check(ConsentIn("sms", "opted_in", "sms", {"keyword": "JOBS", "disclosure": "v2"}), {}, NOW)
    check(ConsentIn("email", "opted_in", "form", basis="consent"), {"country": "FR"}, NOW)
    lia = ConsentIn("email", "opted_in", "crm", basis="legitimate_interest", basis_ref="LIA-7")
    check(lia, {"country": "FR"}, NOW)
    check(ConsentIn("email", "objected", "email reply"), {"country": "FR"}, NOW)
    check(ConsentIn("all", "opted_out", "phone call"), {}, NOW)


# -------------------------------------------------------------------------------- the API


@pytest.fixture
def engine(store: Store, shipped_models) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(
        store,
        shipped_models,
        AudienceMap((AudienceRule("candidate", types=("job.*", "sms.*")),), ("employer",)),
    )


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, clock=lambda: NOW)) as test_client:
        yield test_client


def keys(engine: Engine, *scopes: str) -> dict[str, str]:
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "test " + "+".join(scopes), list(scopes), NOW)
    return {"Authorization": f"Bearer {secret}"}


def candidate(engine: Engine, email: str = "cy@mail.com", **traits: object) -> str:
    attributes = {"state": "FL", "mobile_phone": "+1 305 555 0100", **traits}
    return engine.identify(PersonRef(email=email), attributes, NOW - DAY)


def sms_opt_in() -> dict[str, object]:
    return {"channel": "sms", "status": "opted_in", "source": "form", "evidence": SMS_EVIDENCE}


def test_consent_is_recorded_and_read_through_the_api(client: TestClient, engine: Engine) -> None:
    person = candidate(engine)
    writer, reader = keys(engine, "write"), keys(engine, "read")
    url = f"/v1/people/{person}/consent"
    before = client.get(url, headers=reader).json()
    assert before["channels"]["sms"]["status"] == "unknown"
    assert before["contact"]["sms"]["code"] == "no_consent"
    assert before["contact"]["email"]["allowed"] is True
    made = client.post(url, json={"id": "form-881", **sms_opt_in()}, headers=writer)
    assert made.status_code == 201
    body = made.json()
    assert body["replayed"] is False
    assert body["consent"]["evidence"] == SMS_EVIDENCE
    assert body["consent"]["at"] == "2026-10-01T16:00:00+00:00"
    assert body["channels"]["sms"]["status"] == "opted_in"
    again = client.post(url, json={"id": "form-881", **sms_opt_in()}, headers=writer)
    assert (again.status_code, again.json()["replayed"]) == (200, True)
    after = client.get(url, headers=reader).json()
    assert len(after["ledger"]) == 1
    assert after["contact"]["sms"]["allowed"] is True
    assert after["contact"]["sms"]["time_zones"] == ["America/Chicago", "America/New_York"]
    assert after["contact"]["sms"]["window"] == "08:00–20:00"  # Florida's
    # By e-mail too; a read key may not write.
    assert client.get("/v1/people/cy@mail.com/consent", headers=reader).status_code == 200
    assert client.post(url, json=sms_opt_in(), headers=reader).status_code == 403
    assert client.get(url).status_code == 401


def test_bad_consent_is_refused_with_the_path_of_the_field(
    client: TestClient, engine: Engine
) -> None:
    person = candidate(engine)
    eu = candidate(engine, "eu@mail.de", country="DE", state=None)
    writer = keys(engine, "write")

    def post(who: str, body: dict[str, object]) -> tuple[int, Any]:
        answer = client.post(f"/v1/people/{who}/consent", json=body, headers=writer)
        return answer.status_code, answer.json()

    status, body = post(person, {"channel": "sms", "status": "opted_in", "source": "form"})
    assert status == 422
    assert body["detail"][0]["path"] == "$.evidence.disclosure"
    status, body = post(person, {"channel": "fax", "status": "opted_in", "source": "form"})
    assert (status, body["detail"][0]["path"]) == (422, "body:$.channel")
    status, body = post(eu, {"channel": "email", "status": "opted_in", "source": "form"})
    assert (status, body["detail"][0]["path"]) == (422, "$.basis")
    status, body = post(
        eu, {"channel": "email", "status": "opted_in", "source": "form", "basis": "consent"}
    )
    assert status == 201
    status, body = post("nobody", {"channel": "email", "status": "opted_out", "source": "api"})
    assert status == 404
    post(person, {"id": "shared-id", "channel": "email", "status": "opted_out", "source": "api"})
    status, body = post(
        eu, {"id": "shared-id", "channel": "email", "status": "opted_out", "source": "api"}
    )
    assert (status, body["detail"][0]["path"]) == (409, "$.id")


def test_an_objection_holds_through_a_later_opt_in(client: TestClient, engine: Engine) -> None:
    person = candidate(engine)
    writer = keys(engine, "write", "read")
    url = f"/v1/people/{person}/consent"
    objection = {"channel": "email", "status": "objected", "source": "email reply"}
    assert client.post(url, json=objection, headers=writer).status_code == 201
    assert client.post(url, json=sms_opt_in(), headers=writer).status_code == 201
    shown = client.get(url, headers=writer).json()
    assert shown["objected"] is True
    assert {c["status"] for c in shown["channels"].values()} == {"objected"}
    assert {c["code"] for c in shown["contact"].values()} == {"objected"}


# -------------------------------------------------------------------------- the gate


def queue(engine: Engine, person: str, channel: str, message: str, at: float = NOW) -> Any:
    with engine.store.transaction() as conn:
        return enqueue_to_person(
            conn,
            SENDER,
            RULES,
            person,
            channel,
            "sender",
            "candidate.reengagement",
            message,
            {"template": "reengage-1"},
            at,
        )


def queued(engine: Engine) -> list[Any]:
    with engine.store.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.created_at)))


def consent_for(engine: Engine, person: str, change: ConsentIn) -> None:
    from leadgrade.privacy.consent import record_consent

    with engine.store.transaction() as conn:
        record_consent(conn, person, change, NOW - 3600)


def test_done_when_a_candidate_who_texts_stop_is_suppressed_in_the_same_request(
    client: TestClient, engine: Engine
) -> None:
    """The issue's done-when, through the API: the candidate has given written consent to
    texts; they text "Stop"; when that request returns they are opted out of every channel,
    and the outbox refuses to queue a re-engagement SMS for them."""
    person = candidate(engine)
    writer, ingest = keys(engine, "write", "read"), keys(engine, "ingest")
    url = f"/v1/people/{person}/consent"
    applied = {**sms_opt_in(), "at": "2026-09-20T10:00:00Z"}  # ticked on the application form
    assert client.post(url, json=applied, headers=writer).status_code == 201
    waiting = queue(engine, person, "sms", "reengage:before")  # queued before the stop
    assert waiting.queued
    stop = {
        "id": "twilio-SM81f3",
        "type": "sms.reply",
        "occurred_at": "2026-10-01T15:59:00Z",
        "email": "cy@mail.com",
        "properties": {"text": "Stop"},
    }
    answer = client.post("/v1/events", json=stop, headers=ingest)
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    # The request has returned: the opt-out is stored, on every channel.
    shown = client.get(url, headers=writer).json()
    assert {c: s["status"] for c, s in shown["channels"].items()} == {
        "email": "opted_out",
        "sms": "opted_out",
        "phone": "opted_out",
    }
    assert shown["ledger"][0]["evidence"]["keyword"] == "stop"
    assert not any(c["allowed"] for c in shown["contact"].values())
    assert queued(engine) == []  # the message queued before the stop is not sent after it
    refused = queue(engine, person, "sms", "reengage:after")
    assert not refused.queued
    assert (refused.decision.code, refused.decision.allowed) == ("opted_out", False)
    assert queued(engine) == []
    assert not queue(engine, person, "email", "reengage:after-email").queued


def test_the_gate_keeps_quiet_hours_and_says_when(engine: Engine, caplog: Any) -> None:
    person = candidate(engine, "ny@mail.com", state="NY", mobile_phone="+1 212 555 0100")
    consent_for(engine, person, ConsentIn("sms", "opted_in", "form", SMS_EVIDENCE))
    night = NOW + 14 * 3600  # 02:00 in New York
    with caplog.at_level(logging.WARNING, logger="leadgrade.handoff.outbox"):
        refused = queue(engine, person, "sms", "m1", at=night)
    assert (refused.queued, refused.decision.code) == (False, "quiet_hours")
    assert refused.decision.next_allowed_at == NOW + DAY - 4 * 3600  # 08:00 EDT next day
    assert "not queued" in caplog.text
    assert "quiet hours" in caplog.text
    assert queued(engine) == []
    assert queue(engine, person, "email", "m2", at=night).queued  # e-mail has no quiet hours
    later = queue(engine, person, "sms", "m1", at=NOW + DAY - 4 * 3600)
    assert later.queued
    (sms,) = [row for row in queued(engine) if row.channel == "sms"]
    assert (sms.person_id, sms.destination, sms.event_type) == (
        person,
        "sender",
        "candidate.reengagement",
    )
    assert sms.payload["data"] == {"template": "reengage-1", "person_id": person, "channel": "sms"}
    replay = queue(engine, person, "sms", "m1", at=NOW + DAY)
    assert (replay.replayed, replay.message_id) == (True, later.message_id)


def test_the_gate_counts_floridas_three_a_day(engine: Engine) -> None:
    person = candidate(engine)
    consent_for(engine, person, ConsentIn("sms", "opted_in", "form", SMS_EVIDENCE))
    for i in range(3):
        assert queue(engine, person, "sms", f"m{i}", at=NOW + i * 600).queued
    fourth = queue(engine, person, "sms", "m3", at=NOW + 3 * 600)
    assert (fourth.queued, fourth.decision.code) == (False, "too_many")
    assert fourth.decision.next_allowed_at == NOW + DAY
    assert queue(engine, person, "sms", "m4", at=NOW + DAY).queued


def test_notifications_to_reps_are_not_gated_and_people_need_a_webhook(engine: Engine) -> None:
    person = candidate(engine)
    consent_for(engine, person, ConsentIn("all", "objected", "email reply"))
    with engine.store.transaction() as conn:
        sent = enqueue(conn, SENDER, "lead.mql", "mql:1", {"lead_id": "l1"}, NOW, lead_id="l1")
    assert sent == 2  # the Slack channel and the webhook: reps hear of the lead
    assert {row.person_id for row in queued(engine)} == {None}
    with (
        pytest.raises(ValueError, match="not a webhook destination"),
        engine.store.transaction() as conn,
    ):
        enqueue_to_person(conn, SENDER, RULES, person, "sms", "bd", "x.y", "e1", {}, NOW)
    with pytest.raises(ValueError, match="not a channel"), engine.store.transaction() as conn:
        enqueue_to_person(conn, SENDER, RULES, person, "fax", "sender", "x.y", "e1", {}, NOW)
    assert queue(engine, "nobody", "email", "e2").decision.code == "unknown_person"


# --------------------------------------------------------------------------------- the CLI

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_the_command_line_shows_and_sets_consent(
    in_tmp: Path, write: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    assert invoke("init", "firm").exit_code == 0
    workspace = in_tmp / "firm"
    # A CRM export with an opt-out flag imports as suppression.
    people = write(
        "people.csv", "email,state,mobile_phone,DoNotCall\ncy@mail.com,FL,3055550100,true\n"
    )
    imported = invoke("ingest", "--workspace", workspace, people)
    assert imported.exit_code == 0, imported.output
    shown = invoke("consent", "show", "cy@mail.com", "--json", "--workspace", workspace)
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["channels"]["phone"]["status"] == "opted_out"
    assert report["ledger"][0]["evidence"] == {"attribute": "do_not_call", "value": "true"}
    refused = invoke(
        "consent", "set", "cy@mail.com", "--channel", "sms", "--status", "opted_in",
        "--source", "form", "--workspace", workspace,
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "--evidence" in refused.stderr
    assert "disclosure" in refused.stderr
    made = invoke(
        "consent", "set", "cy@mail.com", "--channel", "sms", "--status", "opted_in",
        "--source", "form", "--evidence", "disclosure=sms-v3", "--evidence", "form=apply",
        "--id", "form-1", "--workspace", workspace,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "recorded: opted in (sms)" in made.stderr
    table = invoke("consent", "show", "cy@mail.com", "--workspace", workspace)
    assert table.exit_code == 0
    assert "opted_in" in table.stdout
    assert "disclosure=sms-v3" in table.stdout
    missing = invoke("consent", "show", "who@nowhere.example", "--workspace", workspace)
    assert missing.exit_code == 2
    assert "no person" in missing.stderr

"""Opt-outs: what an SMS reply means (a table of real-world replies), and the opt-outs the
engine records in the transaction that brings them in — replies, unsubscribes and CRM
flags — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from leadgrade.engine import AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.privacy import optout
from leadgrade.privacy.consent import records_of, states_of
from leadgrade.privacy.optout import crm_opt_outs, read_reply
from leadgrade.store import Store
from leadgrade.store.schema import consents, outbox, review_flags
from leadgrade.times import utc

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z

STOPS = [
    "STOP",
    "Stop",
    "stop",
    "stop.",
    "Stop please",
    "please stop",
    "STOP ALL",
    "stop all",
    "STOPALL",
    "no más",
    "NO MAS",
    "No más mensajes",
    "stop!!!",
    "  STOP  ",
    "STOP\n",
    "Stop 🛑",
    "STOP STOP STOP",
    "Stop. Stop. Stop.",
    "Stop texting me",
    "please stop texting me",
    "pls stop sending me these",
    "Stop all messages",
    "stop it",
    "I said stop",
    "No, stop",
    "can you stop?",
    "stop sending me jobs",
    "QUIT",
    "quit texting me",
    "END",
    "end",
    "Revoke",
    "revoke my consent",
    "opt out",
    "OPT-OUT",
    "optout",
    "Opt me out",
    "how do I opt out",
    "CANCEL",
    "cancel please",
    "UNSUBSCRIBE",
    "Unsubscribe me from this list",
    "unsub",
    # small misspellings
    "unsuscribe",
    "unsubscibe",
    "stpo",
    "stoop",
    "Stopp",
    "Stooooop",
    "cancle",
    "cancell",
    "revok",
    # said in other words
    "Remove me from your list",
    "take me off your list",
    "leave me alone",
    "please don't text me anymore",
    "Do not contact me again",
    # Spanish
    "para",
    "PARA YA",
    "para por favor",
    "Para de enviarme mensajes",
    "cancelar",
    "Cancelar suscripción",
    "baja",
    "darme de baja",
    "quiero darme de baja",
    "basta",
    "alto",
]

NOT_STOPS = [
    "don't stop",
    "Don’t stop!",
    "dont stop",
    "please do not stop texting me",
    "I don't want to unsubscribe",
    "no pares",
    "yes",
    "Yes I'm interested",
    "Sounds good, what time?",
    "I'll stop by the office tomorrow",
    "see you at the end of the day",
    "When does the job end",
    "I quit my job last week, looking for work",
    "para mañana?",
    "Who is this?",
    "thanks!",
    "HELP",
    "My mom has cancer so I need flexible hours",
    "",
]

FOR_A_HUMAN = [
    "stop calling me at work, text instead",
    "Stop calling me",
    "stop emailing me",
    "Cancel my interview tomorrow",
    "stop, but text me next month",
    "don't stop, actually stop",
    "not interested",
    "no thanks",
    "no me interesa",
]


@pytest.mark.parametrize("text", STOPS)
def test_a_reply_that_means_stop_is_read_as_stop(text: str) -> None:
    reading = read_reply(text)
    assert reading.outcome == "stop", reading
    assert reading.keyword


@pytest.mark.parametrize("text", NOT_STOPS)
def test_a_reply_that_does_not_mean_stop_is_not_an_opt_out(text: str) -> None:
    assert read_reply(text).outcome == "none", read_reply(text)


@pytest.mark.parametrize("text", FOR_A_HUMAN)
def test_an_ambiguous_reply_is_for_a_human(text: str) -> None:
    reading = read_reply(text)
    assert reading.outcome == "review", reading
    assert reading.reason


def test_other_readings() -> None:
    assert read_reply("wrong number").outcome == "wrong_number"
    assert read_reply("Wrong #").outcome == "wrong_number"
    assert read_reply("número equivocado").outcome == "wrong_number"
    assert read_reply("START").outcome == "restart"
    assert read_reply("unstop").outcome == "restart"
    hedged = read_reply("stop calling me at work, text instead")
    assert "'instead'" in hedged.reason


def test_crm_flags_name_their_channel() -> None:
    found = crm_opt_outs(
        {
            "Email Opt Out": "true",
            "DoNotCall": True,
            "HasOptedOutOfEmail": "1",
            "sms_opt_out": "false",
            "Do Not Contact": "yes",
            "job_title": "Nurse",
        }
    )
    assert sorted((c, a) for c, a, _ in found) == [
        ("all", "Do Not Contact"),
        ("email", "Email Opt Out"),
        ("email", "HasOptedOutOfEmail"),
        ("phone", "DoNotCall"),
    ]


# ------------------------------------------------------------------------- the engine


@pytest.fixture
def engine(store: Store, shipped_models) -> Engine:  # type: ignore[no-untyped-def]
    made = Engine(
        store,
        shipped_models,
        AudienceMap((AudienceRule("candidate", types=("job.*", "sms.*")),), ("employer",)),
    )
    optout.install(made)
    return made


def reply(event_id: str, text: str, email: str = "cy@mail.com", at: float = NOW) -> EventIn:
    return EventIn(
        event_id, "sms.reply", at - 60, PersonRef(email=email), properties={"text": text}
    )


def person_of(engine: Engine, email: str = "cy@mail.com") -> str:
    return engine.identify(PersonRef(email=email), {}, NOW - 3600)


def statuses(engine: Engine, person: str) -> dict[str, str]:
    with engine.store.engine.connect() as conn:
        state = states_of(conn, [person])[person]
    return {c: state.status(c) for c in ("email", "sms", "phone")}


def rows(store: Store, table: sa.Table) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def queue_for(store: Store, person: str, channel: str, event_id: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            sa.insert(outbox).values(
                id=f"msg_{event_id}",
                destination="sender",
                channel=channel,
                event_type="nurture.message",
                event_id=event_id,
                lead_id=None,
                person_id=person,
                payload={},
                status="pending",
                attempts=0,
                next_attempt_at=utc(NOW),
                last_error=None,
                created_at=utc(NOW - 7200),
                delivered_at=None,
            )
        )


def test_a_stop_reply_opts_out_of_every_channel_in_its_own_transaction(engine: Engine) -> None:
    person = person_of(engine)
    queue_for(engine.store, person, "sms", "n1")
    queue_for(engine.store, person, "email", "n2")
    result = engine.ingest([reply("r1", "Stop please")], NOW)
    assert result.accepted == 1
    assert [row["id"] for row in result.consent_events] == ["r1"]
    assert statuses(engine, person) == {
        "email": "opted_out",
        "sms": "opted_out",
        "phone": "opted_out",
    }
    with engine.store.engine.connect() as conn:
        (record,) = records_of(conn, person)
    assert (record.channel, record.status, record.source) == ("all", "opted_out", "sms")
    assert record.evidence == {"event_id": "r1", "keyword": "stop", "text": "Stop please"}
    assert record.at == NOW - 60  # when the reply was sent
    assert rows(engine.store, outbox) == []  # what was waiting is not sent after the stop
    assert engine.ingest([reply("r1", "Stop please")], NOW).duplicates == 1
    assert len(rows(engine.store, consents)) == 1


def test_a_negated_stop_changes_nothing_and_an_ambiguous_one_is_flagged(engine: Engine) -> None:
    person = person_of(engine)
    engine.ingest([reply("r1", "don't stop")], NOW)
    assert statuses(engine, person) == {"email": "unknown", "sms": "unknown", "phone": "unknown"}
    assert rows(engine.store, review_flags) == []
    engine.ingest([reply("r2", "stop calling me at work, text instead")], NOW)
    assert statuses(engine, person)["sms"] == "unknown"
    (flag,) = rows(engine.store, review_flags)
    assert (flag.person_id, flag.kind, flag.resolved_at) == (person, "sms_reply", None)
    assert "stop calling me at work, text instead" in flag.text
    assert "'instead'" in flag.text


def test_a_wrong_number_stops_the_texts_and_asks_a_human(engine: Engine) -> None:
    person = person_of(engine)
    engine.ingest([reply("r1", "wrong number")], NOW)
    assert statuses(engine, person) == {"email": "unknown", "sms": "opted_out", "phone": "unknown"}
    assert [f.kind for f in rows(engine.store, review_flags)] == ["sms_wrong_number"]


def test_an_unsubscribe_is_an_email_opt_out(engine: Engine) -> None:
    person = person_of(engine)
    queue_for(engine.store, person, "sms", "n1")
    queue_for(engine.store, person, "email", "n2")
    event = EventIn(
        "u1", "email.unsubscribe", NOW - 30, PersonRef(email="cy@mail.com"), campaign="jobs-weekly"
    )
    engine.ingest([event], NOW)
    assert statuses(engine, person) == {"email": "opted_out", "sms": "unknown", "phone": "unknown"}
    assert [row.channel for row in rows(engine.store, outbox)] == ["sms"]


def test_crm_opt_out_flags_import_as_suppression(engine: Engine) -> None:
    # A people file row: `leadgrade ingest` records it with Engine.identify.
    person = engine.identify(
        PersonRef(email="hm@acme.com"), {"DoNotCall": "true", "email_opt_out": "false"}, NOW
    )
    assert statuses(engine, person) == {"email": "unknown", "sms": "unknown", "phone": "opted_out"}
    with engine.store.engine.connect() as conn:
        (record,) = records_of(conn, person)
    assert (record.source, record.evidence) == (
        "import",
        {"attribute": "DoNotCall", "value": "true"},
    )
    # Importing the same flag again records nothing more.
    engine.identify(PersonRef(email="hm@acme.com"), {"job_title": "VP Talent"}, NOW + 60)
    assert len(rows(engine.store, consents)) == 1
    # Attributes set through the API (PUT /v1/people/{id}), and traits on an event.
    assert engine.set_attributes(person, {"Email Opt Out": "TRUE"}, NOW + 120)
    assert statuses(engine, person)["email"] == "opted_out"
    event = EventIn(
        "t1",
        "web.page_view",
        NOW + 180,
        PersonRef(email="hm@acme.com"),
        traits={"global_opt_out": True},
    )
    engine.ingest([event], NOW + 180)
    assert statuses(engine, person) == {
        "email": "opted_out",
        "sms": "opted_out",
        "phone": "opted_out",
    }


def test_a_flag_still_set_after_an_opt_in_opts_out_again(engine: Engine) -> None:
    person = engine.identify(PersonRef(email="hm@acme.com"), {"do_not_call": "yes"}, NOW)
    with engine.store.transaction() as conn:
        from leadgrade.privacy.consent import ConsentIn, record_consent

        record_consent(conn, person, ConsentIn("phone", "opted_in", "phone call"), NOW + 60)
    assert statuses(engine, person)["phone"] == "opted_in"
    engine.identify(
        PersonRef(email="hm@acme.com"), {"title": "CHRO", "do_not_call": "yes"}, NOW + 120
    )
    assert statuses(engine, person)["phone"] == "opted_out"  # the CRM still says so


def test_a_merged_persons_consent_follows_them(engine: Engine) -> None:
    anonymous = engine.ingest(
        [
            EventIn(
                "a1",
                "sms.reply",
                NOW - 50,
                PersonRef(anonymous_id="anon-1"),
                properties={"text": "STOP"},
            )
        ],
        NOW,
    )
    assert anonymous.accepted == 1
    kept = person_of(engine, "cy@mail.com")
    # The visitor identifies: their opt-out becomes the known person's.
    engine.ingest(
        [EventIn("f1", "form.submit", NOW, PersonRef(email="cy@mail.com", anonymous_id="anon-1"))],
        NOW,
    )
    assert statuses(engine, kept)["sms"] == "opted_out"
    assert {row.person_id for row in rows(engine.store, consents)} == {kept}

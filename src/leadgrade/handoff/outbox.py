"""The outbox: notifications written in the transaction of the change that caused them
(DESIGN §7), one row per destination that subscribes to the change's type.

A message is ``{"type", "timestamp", "data"}`` (the Standard Webhooks payload shape) and
carries ids, score, grade, reasons and links — never a lead's personal data (DESIGN §9).
Its row id is the message id receivers deduplicate on; retries keep it.

A message *to a person* — a nurture or re-engagement text or e-mail, handed to the firm's
sending platform through a webhook — names the person (``outbox.person_id``) and passes
the consent gate when it is queued (:func:`enqueue_to_person`); notifications to reps do
not.
"""

from __future__ import annotations

import fnmatch
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.privacy.consent import CHANNELS as CONTACT_CHANNELS
from leadgrade.privacy.consent import ContactDecision, check_contact, resolve_person
from leadgrade.privacy.quiet import ContactRules
from leadgrade.settings import NotificationsSection
from leadgrade.store.bulk import Bulk
from leadgrade.store.schema import outbox, people
from leadgrade.times import utc

logger = logging.getLogger(__name__)

CHANNELS = {"slack": "slack", "webhooks": "webhook", "email": "email"}


def channel_of(settings: NotificationsSection, destination: str) -> str | None:
    for field, channel in CHANNELS.items():
        if any(d.name == destination for d in getattr(settings, field)):
            return channel
    return None


def message(event_type: str, at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": utc(at).isoformat(), "data": dict(data)}


@dataclass(frozen=True)
class Pending:
    """A change to tell subscribers about: its type, its id (queueing it twice adds
    nothing), its data, and the lead it is about."""

    event_type: str
    event_id: str
    data: Mapping[str, Any]
    lead_id: str | None = None


def enqueue(
    conn: sa.Connection,
    settings: NotificationsSection,
    event_type: str,
    event_id: str,
    data: Mapping[str, Any],
    at: float,
    *,
    lead_id: str | None = None,
) -> int:
    """Queue one change for every destination subscribed to ``event_type``, in the
    caller's transaction; ``event_id`` names the change, so queueing it again adds
    nothing. Returns how many messages were queued."""
    return enqueue_many(conn, settings, [Pending(event_type, event_id, data, lead_id)], at)


def enqueue_many(
    conn: sa.Connection, settings: NotificationsSection, changes: Sequence[Pending], at: float
) -> int:
    """:func:`enqueue` for many changes, in one statement."""
    rows = []
    for change in changes:
        payload = message(change.event_type, at, change.data)
        for field, channel in CHANNELS.items():
            for destination in getattr(settings, field):
                if not any(fnmatch.fnmatchcase(change.event_type, p) for p in destination.events):
                    continue
                rows.append(
                    {
                        "id": f"msg_{uuid.uuid4().hex}",
                        "destination": destination.name,
                        "channel": channel,
                        "event_type": change.event_type,
                        "event_id": change.event_id,
                        "lead_id": change.lead_id,
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": utc(at),
                        "last_error": None,
                        "created_at": utc(at),
                        "delivered_at": None,
                    }
                )
    if rows:
        Bulk(conn).insert(outbox, rows, skip_conflicts_on=("destination", "event_id"))
    return len(rows)


@dataclass(frozen=True)
class ToPerson:
    """What became of a message to a person: queued (``message_id``), or refused —
    ``decision`` says why, and from when it would be allowed."""

    decision: ContactDecision
    message_id: str | None = None
    replayed: bool = False  # queued before, under the same destination and event id

    @property
    def queued(self) -> bool:
        return self.message_id is not None


def enqueue_to_person(
    conn: sa.Connection,
    settings: NotificationsSection,
    rules: ContactRules,
    person_id: str,
    channel: str,
    destination: str,
    event_type: str,
    event_id: str,
    data: Mapping[str, Any],
    at: float,
    *,
    lead_id: str | None = None,
) -> ToPerson:
    """Queue a message *to a person* (``channel``: email, sms or phone) for the webhook
    ``destination`` that sends it — if :func:`leadgrade.privacy.consent.can_contact`
    allows it at ``at``: consent, quiet hours in their local time, the daily cap. A
    refused message is not queued; the refusal is logged with its reason and returned.
    ``event_id`` names the message: queueing it again adds nothing."""
    if channel not in CONTACT_CHANNELS:
        raise ValueError(f"{channel!r} is not a channel: use one of {', '.join(CONTACT_CHANNELS)}")
    if not any(d.name == destination for d in settings.webhooks):
        raise ValueError(
            f"{destination!r} is not a webhook destination in [notifications]: messages to a "
            "person go to the platform that sends them through a webhook"
        )
    stored = conn.execute(
        sa.select(outbox.c.id).where(
            outbox.c.destination == destination, outbox.c.event_id == event_id
        )
    ).scalar_one_or_none()
    if stored is not None:
        done = ContactDecision(True, "queued", "queued before", channel, at)
        return ToPerson(done, stored, replayed=True)
    person = resolve_person(conn, person_id) or person_id
    if conn.dialect.name == "postgresql":  # one writer at a time counts a person's messages
        conn.execute(sa.select(people.c.id).where(people.c.id == person).with_for_update())
    decision = check_contact(conn, rules, person, channel, at)
    if not decision.allowed:
        logger.warning(
            "not queued: %s %s to person %s by %s: %s",
            channel,
            event_type,
            person_id,
            destination,
            decision.reason,
        )
        return ToPerson(decision)
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = message(event_type, at, {**data, "person_id": person, "channel": channel})
    Bulk(conn).insert(
        outbox,
        [
            {
                "id": message_id,
                "destination": destination,
                "channel": channel,
                "event_type": event_type,
                "event_id": event_id,
                "lead_id": lead_id,
                "person_id": person,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": utc(at),
                "last_error": None,
                "created_at": utc(at),
                "delivered_at": None,
            }
        ],
    )
    return ToPerson(decision, message_id)

"""The outbox: notifications written in the transaction of the change that caused them
(DESIGN §7), one row per destination that subscribes to the change's type.

A message is ``{"type", "timestamp", "data"}`` (the Standard Webhooks payload shape) and
carries ids, score, grade, reasons and links — never a lead's personal data (DESIGN §9).
Its row id is the message id receivers deduplicate on; retries keep it.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from leadgrade.settings import NotificationsSection
from leadgrade.store.bulk import Bulk
from leadgrade.store.schema import outbox
from leadgrade.times import utc

CHANNELS = {"slack": "slack", "webhooks": "webhook", "email": "email"}


def channel_of(settings: NotificationsSection, destination: str) -> str | None:
    for field, channel in CHANNELS.items():
        if any(d.name == destination for d in getattr(settings, field)):
            return channel
    return None


def message(event_type: str, at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": utc(at).isoformat(), "data": dict(data)}


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
    rows = []
    payload = message(event_type, at, data)
    for field, channel in CHANNELS.items():
        for destination in getattr(settings, field):
            if not any(fnmatch.fnmatchcase(event_type, p) for p in destination.events):
                continue
            rows.append(
                {
                    "id": f"msg_{uuid.uuid4().hex}",
                    "destination": destination.name,
                    "channel": channel,
                    "event_type": event_type,
                    "event_id": event_id,
                    "lead_id": lead_id,
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

"""Export and erasure (GDPR articles 15, 17 and 20; DESIGN §9).

:func:`export` gathers everything held about a person — profile, identities, events,
leads with their scores, stage history, assignments, touches, feedback, consent, review
flags, messages, segment memberships, demographics — as one JSON-ready document.

:func:`erase` removes the person (and the records merged into them) from every table, in
one transaction, and leaves a tombstone (:mod:`leadgrade.privacy.tombstones`): salted
hashes of their e-mails and phones, when, on what basis and from where. A later event
naming them is refused by the engine, and their suppression holds.

Records the law says to keep (``[privacy] holds``: for example a federal contractor's
job applications, kept two years) survive an erasure request until their hold ends,
detached from anything that names the person; the erasure reports them, and finishes
when the hold is over.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadgrade.core.conditions import is_missing
from leadgrade.engine import PHONE_TRAITS, Engine
from leadgrade.privacy import tombstones
from leadgrade.settings import HoldRule
from leadgrade.store.bulk import among, chunked
from leadgrade.store.schema import (
    assignments,
    consents,
    demographics,
    events,
    feedback,
    identities,
    leads,
    outbox,
    people,
    review_flags,
    segment_members,
    shadow_scores,
    stage_changes,
    timers,
    touches,
)
from leadgrade.times import epoch, utc

#: Tables keyed by lead, emptied of an erased person's leads before the leads go.
BY_LEAD = (shadow_scores, stage_changes, assignments, touches, feedback, timers, segment_members)
#: Tables keyed by person.
BY_PERSON = (consents, review_flags, demographics, identities)
EMAIL_KEYS = ("email",)
PHONE_KEYS = PHONE_TRAITS


class UnknownPerson(KeyError):
    """No such person (or only a tombstone is left of them)."""


@dataclass
class Erasure:
    person_id: str
    people: int = 0  # records removed: the person and those merged into them
    events: int = 0
    leads: int = 0
    tombstones: int = 0
    held: int = 0  # events kept under a legal hold
    held_until: float | None = None
    holds: list[str] = field(default_factory=list)  # why, one line a hold

    def report(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "erased": {"people": self.people, "events": self.events, "leads": self.leads},
            "tombstones": self.tombstones,
            "held": {
                "events": self.held,
                "until": None if self.held_until is None else utc(self.held_until).isoformat(),
                "why": self.holds,
            },
            "complete": self.held == 0,
        }


def family(conn: sa.Connection, person_id: str) -> list[str]:
    """The person and every record merged into them, directly or not."""
    found = [person_id]
    frontier = [person_id]
    while frontier:
        merged = list(
            conn.scalars(sa.select(people.c.id).where(people.c.merged_into.in_(frontier)))
        )
        found.extend(merged)
        frontier = merged
    return found


def _contacts(attributes: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    values = []
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and not is_missing(value):
            values.append(value)
    return values


def held_events(
    rows: Iterable[Any], holds: Sequence[HoldRule], now: float
) -> tuple[set[str], float | None, list[str]]:
    """The events a hold keeps at ``now``, until when, and why."""
    kept: set[str] = set()
    until: float | None = None
    why: list[str] = []
    for row in rows:
        for hold in holds:
            if not any(fnmatch.fnmatchcase(row.type, p) for p in hold.event_types):
                continue
            properties = row.properties if isinstance(row.properties, dict) else {}
            if any(properties.get(k) != v for k, v in hold.where.items()):
                continue
            ends = epoch(row.occurred_at) + hold.keep
            if ends <= now:
                continue
            kept.add(row.id)
            until = ends if until is None else max(until, ends)
            if hold.reason not in why:
                why.append(hold.reason)
    return kept, until, why


def erase(
    engine: Engine,
    person_id: str,
    now: float,
    *,
    basis: str,
    source: str,
    holds: Sequence[HoldRule] = (),
) -> Erasure:
    """Erase a person in one transaction; see the module docstring. Raises
    :class:`UnknownPerson` for an id that is not a person (any more)."""
    with engine.store.transaction() as conn:
        return erase_in(conn, engine, person_id, now, basis=basis, source=source, holds=holds)


def erase_in(
    conn: sa.Connection,
    engine: Engine,
    person_id: str,
    now: float,
    *,
    basis: str,
    source: str,
    holds: Sequence[HoldRule] = (),
) -> Erasure:
    """:func:`erase` in the caller's transaction."""
    row = conn.execute(sa.select(people).where(people.c.id == person_id)).one_or_none()
    if row is None:
        raise UnknownPerson(person_id)
    if row.merged_into is not None:  # erase whom they became: the same human
        return erase_in(conn, engine, row.merged_into, now, basis=basis, source=source, holds=holds)
    ids = family(conn, person_id)
    records = conn.execute(sa.select(people).where(people.c.id.in_(ids))).all()
    names: list[tuple[str, str]] = []
    for record in records:
        names += [("email", v) for v in _contacts(record.attributes or {}, EMAIL_KEYS)]
        names += [("phone", v) for v in _contacts(record.attributes or {}, PHONE_KEYS)]
    names += [
        (kind, value)
        for kind, value in conn.execute(
            sa.select(identities.c.kind, identities.c.value).where(identities.c.person_id.in_(ids))
        )
    ]
    result = Erasure(person_id, people=len(records))
    their_events = conn.execute(
        sa.select(events.c.id, events.c.type, events.c.occurred_at, events.c.properties).where(
            events.c.person_id.in_(ids)
        )
    ).all()
    kept, until, why = held_events(their_events, holds, now)
    lead_rows = conn.execute(
        sa.select(leads.c.id, leads.c.account_id).where(leads.c.person_id.in_(ids))
    ).all()
    lead_ids = [r.id for r in lead_rows]
    accounts_touched = {r.account_id for r in lead_rows if r.account_id is not None}
    for chunk in chunked(conn, lead_ids):
        for table in BY_LEAD:
            conn.execute(sa.delete(table).where(among(conn, table.c.lead_id, chunk)))
        conn.execute(sa.delete(outbox).where(among(conn, outbox.c.lead_id, chunk)))
    conn.execute(sa.delete(outbox).where(outbox.c.person_id.in_(ids)))
    for chunk in chunked(conn, lead_ids):
        conn.execute(sa.delete(leads).where(among(conn, leads.c.id, chunk)))
    for table in BY_PERSON:
        conn.execute(sa.delete(table).where(table.c.person_id.in_(ids)))
    gone = [r.id for r in their_events if r.id not in kept]
    for chunk in chunked(conn, gone):
        conn.execute(sa.delete(events).where(among(conn, events.c.id, chunk)))
    result.events, result.leads = len(gone), len(lead_ids)
    if kept:
        # The held events stay, on one record that names nobody; the rest goes now.
        conn.execute(
            sa.update(events).where(events.c.id.in_(sorted(kept))).values(person_id=person_id)
        )
        conn.execute(
            sa.update(people)
            .where(people.c.id.in_(ids))
            .values(
                merged_into=None,
                attributes={"erasure": {"held_until": utc(until or now).isoformat()}},
                updated_at=utc(now),
            )
        )
        conn.execute(sa.delete(people).where(people.c.id.in_([i for i in ids if i != person_id])))
        result.held, result.held_until, result.holds = len(kept), until, why
    else:
        conn.execute(sa.update(people).where(people.c.id.in_(ids)).values(merged_into=None))
        conn.execute(sa.delete(people).where(people.c.id.in_(ids)))
    result.tombstones = tombstones.bury(conn, names, now, basis=basis, source=source)
    if accounts_touched:  # their companies' numbers without them
        engine.roll_up(conn, accounts_touched, now)
    return result


def held_people(conn: sa.Connection, now: float) -> list[str]:
    """People kept only for a legal hold whose hold is over (to erase for good)."""
    due = []
    for person_id, attributes in conn.execute(sa.select(people.c.id, people.c.attributes)):
        erasure = (attributes or {}).get("erasure") if isinstance(attributes, dict) else None
        until = erasure.get("held_until") if isinstance(erasure, dict) else None
        if isinstance(until, str) and datetime.fromisoformat(until).timestamp() <= now:
            due.append(person_id)
    return due


# --------------------------------------------------------------------------- export


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [_plain(dict(row._mapping)) for row in conn.execute(query)]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(epoch(value)).isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def export(conn: sa.Connection, person_id: str) -> dict[str, Any]:
    """Everything held about a person, as JSON-ready data. Raises :class:`UnknownPerson`."""
    row = conn.execute(sa.select(people).where(people.c.id == person_id)).one_or_none()
    if row is None:
        raise UnknownPerson(person_id)
    if row.merged_into is not None:
        return export(conn, row.merged_into)
    ids = family(conn, person_id)
    lead_ids = list(conn.scalars(sa.select(leads.c.id).where(leads.c.person_id.in_(ids))))

    def by_lead(table: sa.Table) -> list[dict[str, Any]]:
        return _rows(conn, sa.select(table).where(table.c.lead_id.in_(lead_ids)))

    lead_rows = _rows(
        conn,
        sa.select(leads).where(leads.c.id.in_(lead_ids)).order_by(leads.c.audience),
    )
    return {
        "person_id": person_id,
        "profile": _rows(conn, sa.select(people).where(people.c.id.in_(ids))),
        "identities": _rows(conn, sa.select(identities).where(identities.c.person_id.in_(ids))),
        "events": _rows(
            conn,
            sa.select(events).where(events.c.person_id.in_(ids)).order_by(events.c.occurred_at),
        ),
        "leads": lead_rows,
        "stage_changes": by_lead(stage_changes),
        "assignments": by_lead(assignments),
        "touches": by_lead(touches),
        "feedback": by_lead(feedback),
        "segments": by_lead(segment_members),
        "scheduled": by_lead(timers),
        "messages": _rows(
            conn,
            sa.select(outbox).where(
                sa.or_(outbox.c.lead_id.in_(lead_ids), outbox.c.person_id.in_(ids))
            ),
        ),
        "consent": _rows(conn, sa.select(consents).where(consents.c.person_id.in_(ids))),
        "review_flags": _rows(
            conn, sa.select(review_flags).where(review_flags.c.person_id.in_(ids))
        ),
        "demographics": _rows(
            conn, sa.select(demographics).where(demographics.c.person_id.in_(ids))
        ),
    }

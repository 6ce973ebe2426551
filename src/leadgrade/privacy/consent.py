"""The consent ledger and ``can_contact`` (DESIGN §9.2).

The ledger (table ``consents``) is append-only: every change of a person's consent is a
row with its channel (``email``, ``sms``, ``phone`` or ``all``), its status (``opted_in``,
``opted_out`` or ``objected``), its evidence (source, form or URL, disclosure version,
IP, keyword …), its time, and for EU records the lawful basis. A person's status on a
channel is the newest row for that channel or ``all``; at the same instant an opt-out
beats an opt-in. An objection to direct marketing (GDPR art. 21) suppresses every channel
for good: no later opt-in undoes it.

The top half of this module is pure (records in, decisions out, time a parameter); the
bottom half reads and writes the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade.privacy.quiet import (
    ContactRules,
    Place,
    country_code,
    locate,
    max_per_day,
    quiet_hours,
)
from leadgrade.settings import EU_COUNTRIES
from leadgrade.store.bulk import Bulk, among, chunked
from leadgrade.store.schema import consents, identities, outbox, people, review_flags
from leadgrade.times import epoch, utc

CHANNELS = ("email", "sms", "phone")
SCOPES = (*CHANNELS, "all")
STATUSES = ("opted_in", "opted_out", "objected")
BASES = ("consent", "legitimate_interest")
#: Channels that quiet hours and caps govern: texts and calls.
TELEPHONE = ("sms", "phone")
#: Evidence of prior express written consent to texts: the disclosure shown, and where.
WRITTEN_WHERE = ("form", "url", "keyword", "document")
DAY = 86_400.0
#: An instant a little ahead of the clock is tolerated (a client's clock runs fast).
SKEW = 300.0

_RANK = {"opted_in": 0, "opted_out": 1}  # at the same instant an opt-out wins


class ConsentError(ValueError):
    """A consent change leadgrade refuses; ``field`` is the JSON path of the bad value
    (``evidence.disclosure``), ``status`` the HTTP status (404 unknown person, 409 an id
    used for another person, 422 a bad value)."""

    def __init__(self, message: str, *, field: str = "", status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


# -------------------------------------------------------------------------------- pure


@dataclass(frozen=True)
class ConsentRecord:
    """One row of the ledger."""

    id: str
    person_id: str
    channel: str
    status: str
    source: str
    at: float
    recorded_at: float
    evidence: Mapping[str, Any] = field(default_factory=dict)
    basis: str | None = None
    basis_ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person_id": self.person_id,
            "channel": self.channel,
            "status": self.status,
            "basis": self.basis,
            "basis_ref": self.basis_ref,
            "source": self.source,
            "evidence": dict(self.evidence),
            "at": utc(self.at).isoformat(),
            "recorded_at": utc(self.recorded_at).isoformat(),
        }

    def describe(self) -> str:
        where = ", ".join(f"{k} {v}" for k, v in self.evidence.items() if k != "text")
        said = self.evidence.get("text")
        if said:
            where += f"{'; ' if where else ''}said {str(said)[:80]!r}"
        return (
            f"{self.status.replace('_', ' ')} ({self.channel}) on "
            f"{utc(self.at).isoformat(timespec='seconds')} via {self.source}"
            + (f" ({where})" if where else "")
        )


@dataclass(frozen=True)
class ChannelStatus:
    status: str  # opted_in, opted_out, objected, unknown
    record: ConsentRecord | None = None  # the row that decided it


@dataclass(frozen=True)
class ConsentState:
    """A person's consent now: per channel, and their objection if they made one."""

    channels: Mapping[str, ChannelStatus]
    objection: ConsentRecord | None = None

    def status(self, channel: str) -> str:
        return self.channels[channel].status

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for channel, found in self.channels.items():
            record = found.record
            out[channel] = {
                "status": found.status,
                "since": None if record is None else utc(record.at).isoformat(),
                "consent_id": None if record is None else record.id,
                "source": None if record is None else record.source,
                "basis": None if record is None else record.basis,
            }
        return out


def _newest(record: ConsentRecord) -> tuple[float, int, float, str]:
    return (record.at, _RANK.get(record.status, 2), record.recorded_at, record.id)


def consent_state(records: Iterable[ConsentRecord]) -> ConsentState:
    """The state a ledger adds up to: per channel the newest row for it or for ``all``
    (an opt-out wins a tie); the first objection, if any, on every channel for good."""
    rows = list(records)
    objections = sorted((r for r in rows if r.status == "objected"), key=_newest)
    if objections:
        first = objections[0]
        return ConsentState({c: ChannelStatus("objected", first) for c in CHANNELS}, first)
    channels = {}
    for channel in CHANNELS:
        mine = [r for r in rows if r.channel in (channel, "all")]
        newest = max(mine, key=_newest, default=None)
        channels[channel] = ChannelStatus("unknown" if newest is None else newest.status, newest)
    return ConsentState(channels)


@dataclass(frozen=True)
class Recipient:
    """What ``can_contact`` needs to know of a person: their attributes (address and
    phone), their consent, and when they were last texted or called (the instants of the
    texts and calls queued to them; those of the last 24 hours suffice)."""

    attributes: Mapping[str, Any]
    consent: ConsentState
    sent: Sequence[float] = ()


@dataclass(frozen=True)
class ContactDecision:
    """May we contact this person on this channel now? If not, why — and, when only the
    clock stands in the way (quiet hours, the daily cap), from when."""

    allowed: bool
    code: str  # ok, objected, opted_out, no_consent, quiet_hours, too_many, no_window, …
    reason: str
    channel: str
    at: float
    next_allowed_at: float | None = None
    place: Place | None = None
    window: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "allowed": self.allowed,
            "code": self.code,
            "reason": self.reason,
            "channel": self.channel,
            "next_allowed_at": None
            if self.next_allowed_at is None
            else utc(self.next_allowed_at).isoformat(),
        }
        if self.place is not None:
            out["time_zones"] = list(self.place.zones)
            out["zone_source"] = self.place.source
            out["window"] = self.window
        return out


def _when(seconds: float) -> str:
    return utc(seconds).isoformat(timespec="seconds")


def can_contact(
    person: Recipient, channel: str, at: float, rules: ContactRules | None = None
) -> ContactDecision:
    """Whether ``person`` may be sent a marketing message on ``channel`` at ``at``.

    - An objection to direct marketing refuses every channel, for good.
    - An opt-out (of the channel, or of ``all``) refuses the channel.
    - SMS needs a recorded opt-in: prior express written consent (TCPA).
    - Texts and calls only within quiet hours in the recipient's local time, in every
      zone they may be in; and no more than the state's cap in any 24 hours.
    - E-mail needs nothing more than no opt-out (CAN-SPAM).
    """
    if channel not in CHANNELS:
        raise ValueError(f"{channel!r} is not a channel: use one of {', '.join(CHANNELS)}")
    rules = rules or ContactRules()
    consent = person.consent
    if consent.objection is not None:
        return ContactDecision(
            False,
            "objected",
            "objected to direct marketing: suppressed on every channel for good "
            f"({consent.objection.describe()})",
            channel,
            at,
        )
    found = consent.channels[channel]
    if found.status == "opted_out":
        assert found.record is not None
        return ContactDecision(False, "opted_out", found.record.describe(), channel, at)
    if channel == "sms" and found.status != "opted_in":
        return ContactDecision(
            False,
            "no_consent",
            "no recorded prior express written consent to texts (record an SMS opt-in with "
            "its evidence first)",
            channel,
            at,
        )
    if channel not in TELEPHONE:
        return ContactDecision(True, "ok", "no opt-out on record", channel, at)
    place = locate(person.attributes)
    hours = quiet_hours(place, rules, at)
    window = None if hours.window is None else str(hours.window)
    rule = "" if hours.rule_of == "the default" else f" ({hours.rule_of} rule)"
    if hours.window is None:
        return ContactDecision(
            False,
            "no_window",
            f"no hour is allowed in every zone the person may be in: {place.describe()}",
            channel,
            at,
            None,
            place,
            window,
        )
    if not hours.allowed:
        local = "; ".join(f"{t:%H:%M} in {z}" for z, t in hours.local.items())
        next_at = hours.next_allowed_at
        return ContactDecision(
            False,
            "quiet_hours",
            f"quiet hours: texts and calls only {window}{rule} recipient local time, and it "
            f"is {local}"
            + ("" if next_at is None else f"; next allowed {_when(next_at)}")
            + f" [{place.describe()}]",
            channel,
            at,
            next_at,
            place,
            window,
        )
    cap, whose = max_per_day(place, rules)
    recent = sorted(t for t in person.sent if at - DAY < t <= at)
    if cap is not None and len(recent) >= cap:
        freed = recent[len(recent) - cap] + DAY  # when the oldest that counts leaves the day
        later = quiet_hours(place, rules, freed).next_allowed_at
        return ContactDecision(
            False,
            "too_many",
            f"{len(recent)} texts or calls in the last 24 hours; "
            f"{'the ' + whose + ' rule' if whose != 'the default' else 'the cap'} allows {cap}"
            + ("" if later is None else f"; next allowed {_when(later)}"),
            channel,
            at,
            later,
            place,
            window,
        )
    return ContactDecision(
        True,
        "ok",
        f"consent on record; {window}{rule} recipient local time [{place.describe()}]",
        channel,
        at,
        None,
        place,
        window,
    )


@dataclass(frozen=True)
class ConsentIn:
    """A consent change to record. ``id`` is its idempotency key (made up when None);
    ``at`` is when it happened (None: now)."""

    channel: str
    status: str
    source: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    at: float | None = None
    basis: str | None = None
    basis_ref: str | None = None
    id: str | None = None


def is_eu(attributes: Mapping[str, Any]) -> bool:
    """Whether the person's ``country`` is in the EU/EEA (the UK and Switzerland too)."""
    return country_code(attributes.get("country")) in EU_COUNTRIES


def check(change: ConsentIn, attributes: Mapping[str, Any], now: float) -> None:
    """Refuse a change that cannot be recorded, naming the field (ConsentError)."""
    if change.channel not in SCOPES:
        raise ConsentError(f"use one of {', '.join(SCOPES)}", field="channel")
    if change.status not in STATUSES:
        raise ConsentError(f"use one of {', '.join(STATUSES)}", field="status")
    if not change.source.strip() or len(change.source) > 100:
        raise ConsentError(
            "say where the change comes from (form, sms, crm, api…), in 100 characters at most",
            field="source",
        )
    if change.id is not None and not 0 < len(change.id) <= 200:
        raise ConsentError("an id has 1 to 200 characters", field="id")
    if change.basis_ref is not None and len(change.basis_ref) > 300:
        raise ConsentError("300 characters at most", field="basis_ref")
    if change.basis is not None and change.basis not in BASES:
        raise ConsentError(f"use one of {', '.join(BASES)}", field="basis")
    if change.basis == "legitimate_interest" and not (change.basis_ref or "").strip():
        raise ConsentError(
            "legitimate interest needs a reference to its assessment", field="basis_ref"
        )
    if change.at is not None and change.at > now + SKEW:
        raise ConsentError("a consent change cannot be in the future", field="at")
    if change.status != "opted_in":
        return
    if change.basis is None and is_eu(attributes):
        raise ConsentError(
            "an EU person's opt-in needs its lawful basis: consent, or legitimate_interest "
            "with basis_ref",
            field="basis",
        )
    if change.channel in ("sms", "all"):
        evidence = change.evidence
        if not str(evidence.get("disclosure") or "").strip():
            raise ConsentError(
                "prior express written consent to texts needs the version of the disclosure "
                "the person agreed to",
                field="evidence.disclosure",
            )
        if not any(str(evidence.get(k) or "").strip() for k in WRITTEN_WHERE):
            raise ConsentError(
                "prior express written consent to texts needs where it was given: "
                + ", ".join(WRITTEN_WHERE),
                field="evidence",
            )


# ------------------------------------------------------------------------------- store


def _record(row: Any) -> ConsentRecord:
    return ConsentRecord(
        row.id,
        row.person_id,
        row.channel,
        row.status,
        row.source,
        epoch(row.at),
        epoch(row.recorded_at),
        row.evidence or {},
        row.basis,
        row.basis_ref,
    )


def resolve_person(conn: sa.Connection, ref: str) -> str | None:
    """The id of the person ``ref`` names — their id, or an e-mail — following merges."""
    person = ref
    if "@" in ref:
        found = conn.scalar(
            sa.select(identities.c.person_id).where(
                identities.c.kind == "email", identities.c.value == ref.strip().lower()
            )
        )
        if found is None:
            return None
        person = found
    for _ in range(20):  # a chain of merges is short; a loop would be a bug
        merged = conn.execute(
            sa.select(people.c.merged_into).where(people.c.id == person)
        ).one_or_none()
        if merged is None:
            return None
        if merged.merged_into is None:
            return person
        person = merged.merged_into
    return None


def records_of(conn: sa.Connection, person_id: str) -> list[ConsentRecord]:
    """The person's ledger, newest first."""
    rows = conn.execute(
        sa.select(consents)
        .where(consents.c.person_id == person_id)
        .order_by(consents.c.at.desc(), consents.c.recorded_at.desc(), consents.c.id)
    )
    return [_record(row) for row in rows]


def states_of(conn: sa.Connection, person_ids: Iterable[str]) -> dict[str, ConsentState]:
    """The consent state of each of these people (one query)."""
    ids = sorted(set(person_ids))
    found: dict[str, list[ConsentRecord]] = {p: [] for p in ids}
    for chunk in chunked(conn, ids):
        for row in conn.execute(
            sa.select(consents).where(among(conn, consents.c.person_id, chunk))
        ):
            found[row.person_id].append(_record(row))
    return {p: consent_state(records) for p, records in found.items()}


def insert(conn: sa.Connection, records: Sequence[ConsentRecord]) -> list[str]:
    """Append ``records`` to the ledger; ids already stored are skipped. Returns the ids
    inserted."""
    rows = [
        {
            "id": r.id,
            "person_id": r.person_id,
            "channel": r.channel,
            "status": r.status,
            "basis": r.basis,
            "basis_ref": r.basis_ref,
            "source": r.source,
            "evidence": dict(r.evidence),
            "at": utc(r.at),
            "recorded_at": utc(r.recorded_at),
        }
        for r in records
    ]
    return [
        str(i) for i in Bulk(conn).insert(consents, rows, skip_conflicts_on="id", returning="id")
    ]


def record_consent(
    conn: sa.Connection, person_ref: str, change: ConsentIn, now: float
) -> tuple[ConsentRecord, bool]:
    """Record a consent change for the person ``person_ref`` names; returns the record
    and whether it was a replay (its ``id`` already recorded: nothing changes)."""
    person = resolve_person(conn, person_ref)
    if person is None:
        raise ConsentError(f"no person {person_ref!r}", status=404)
    if change.id is not None:
        stored = conn.execute(sa.select(consents).where(consents.c.id == change.id)).one_or_none()
        if stored is not None:
            if stored.person_id != person:
                raise ConsentError(
                    f"the id {change.id!r} is another person's consent", field="id", status=409
                )
            return _record(stored), True
    attributes = conn.scalar(sa.select(people.c.attributes).where(people.c.id == person)) or {}
    check(change, attributes, now)
    record = ConsentRecord(
        change.id or f"consent_{uuid.uuid4().hex}",
        person,
        change.channel,
        change.status,
        change.source.strip(),
        now if change.at is None else change.at,
        now,
        dict(change.evidence),
        change.basis,
        (change.basis_ref or "").strip() or None,
    )
    if not insert(conn, [record]):  # another writer stored the same id meanwhile
        stored = conn.execute(sa.select(consents).where(consents.c.id == record.id)).one()
        return _record(stored), True
    return record, False


def sent_to(conn: sa.Connection, person_id: str, at: float) -> list[float]:
    """When the texts and calls queued to the person in the 24 hours up to ``at`` were
    queued (every status: a message sent and one waiting both count)."""
    rows = conn.scalars(
        sa.select(outbox.c.created_at).where(
            outbox.c.person_id == person_id,
            outbox.c.channel.in_(TELEPHONE),
            outbox.c.created_at > utc(at - DAY),
            outbox.c.created_at <= utc(at),
        )
    )
    return [epoch(moment) for moment in rows]


def recipient(conn: sa.Connection, person_id: str, at: float) -> Recipient | None:
    """What ``can_contact`` needs, read from the store; None for an unknown person."""
    attributes = conn.execute(
        sa.select(people.c.attributes).where(people.c.id == person_id)
    ).one_or_none()
    if attributes is None:
        return None
    state = states_of(conn, [person_id])[person_id]
    return Recipient(attributes.attributes or {}, state, sent_to(conn, person_id, at))


def check_contact(
    conn: sa.Connection, rules: ContactRules, person_id: str, channel: str, at: float
) -> ContactDecision:
    """:func:`can_contact` for a stored person (merges followed)."""
    person = resolve_person(conn, person_id)
    found = None if person is None else recipient(conn, person, at)
    if found is None:
        return ContactDecision(False, "unknown_person", f"no person {person_id!r}", channel, at)
    return can_contact(found, channel, at, rules)


def open_flags(conn: sa.Connection, person_id: str) -> list[dict[str, Any]]:
    """The person's review flags no human has resolved yet, oldest first."""
    rows = conn.execute(
        sa.select(review_flags)
        .where(review_flags.c.person_id == person_id, review_flags.c.resolved_at.is_(None))
        .order_by(review_flags.c.at, review_flags.c.id)
    )
    return [
        {"id": r.id, "kind": r.kind, "text": r.text, "at": utc(epoch(r.at)).isoformat()}
        for r in rows
    ]


def consent_report(
    conn: sa.Connection, rules: ContactRules, person_ref: str, now: float
) -> dict[str, Any]:
    """A person's consent as the API and the CLI show it: status per channel, whether
    each channel may be used ``now`` and why, the ledger (newest first), and the replies
    waiting for a human."""
    person = resolve_person(conn, person_ref)
    if person is None:
        raise ConsentError(f"no person {person_ref!r}", status=404)
    ledger = records_of(conn, person)
    state = consent_state(ledger)
    return {
        "person_id": person,
        "objected": state.objection is not None,
        "channels": state.to_dict(),
        "contact": {c: check_contact(conn, rules, person, c, now).to_dict() for c in CHANNELS},
        "ledger": [record.to_dict() for record in ledger],
        "review": open_flags(conn, person),
    }

"""The engine: applies the pure core to the store, one transaction a batch (DESIGN §3).

``Engine.ingest`` takes events, drops the ones already stored (an event's id is its
idempotency key), resolves the person each names (creating people, merging an anonymous
visitor into the person they turn out to be), files each event under its audiences, and
rescores the affected leads incrementally from their stored state. A lead whose score
meets its model's ``mql.when`` becomes an MQL, with a stage-history row; the lifecycle
changes come back as domain events for notifications and the audit log to subscribe to.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadgrade.core import EngagementState, Event, Model, score_reaches
from leadgrade.core.accounts import ContactSums, account_card, account_domain
from leadgrade.core.attributes import enrich
from leadgrade.core.scoring import (
    anchor_factor,
    anchored,
    assemble,
    engagement_at,
    engagement_value,
    fit_contributions,
    numbers,
)
from leadgrade.privacy import tombstones
from leadgrade.store import Store
from leadgrade.store.bulk import Bulk, among, chunked
from leadgrade.store.schema import (
    accounts,
    events,
    identities,
    leads,
    people,
    shadow_scores,
    stage_changes,
)
from leadgrade.times import epoch, utc

logger = logging.getLogger(__name__)

#: Events that change a person's consent (docs/compliance.md).
CONSENT_EVENTS = frozenset({"sms.reply", "email.unsubscribe"})

STAGES = ("lead", "mql", "sal", "sql", "opportunity", "won", "recycled", "disqualified")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PersonRef:
    """How an event names its person: leadgrade's id, an e-mail, an anonymous web id, or
    an id in another system (``system="bullhorn", external_id="123"``)."""

    person_id: str | None = None
    email: str | None = None
    anonymous_id: str | None = None
    system: str | None = None
    external_id: str | None = None

    def identities(self) -> list[tuple[str, str]]:
        """(kind, value) pairs, strongest first."""
        found = []
        if self.person_id:
            found.append(("person", self.person_id))
        if self.system and self.external_id:
            found.append((self.system.lower(), self.external_id))
        if self.email:
            found.append(("email", self.email.strip().lower()))
        if self.anonymous_id:
            found.append(("anonymous", self.anonymous_id))
        return found


@dataclass(frozen=True)
class EventIn:
    id: str
    type: str
    occurred_at: float  # seconds since the epoch, UTC
    person: PersonRef
    audience: str | None = None
    properties: Mapping[str, object] = field(default_factory=dict)
    traits: Mapping[str, object] = field(default_factory=dict)  # person attributes to record
    channel: str | None = None
    source: str | None = None
    campaign: str | None = None


@dataclass(frozen=True)
class AudienceRule:
    """Events of these types (shell patterns: ``job.*``), on pages under these paths, or
    from these forms, belong to ``audience``."""

    audience: str
    types: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()

    def holds(self, event: EventIn) -> bool:
        if any(fnmatch.fnmatchcase(event.type, pattern) for pattern in self.types):
            return True
        path = event.properties.get("path")
        if isinstance(path, str) and any(path.startswith(p) for p in self.path_prefixes):
            return True
        form = event.properties.get("form")
        return isinstance(form, str) and form in self.forms


@dataclass(frozen=True)
class AudienceMap:
    """Which audiences an event feeds: its own ``audience`` if it names one; none if its
    type is about the person rather than an action (``person.*``: identify, group and
    alias calls — kept on the person's timeline, scored nowhere, making no lead); else
    every rule that holds, else the defaults. An event can feed several."""

    rules: tuple[AudienceRule, ...] = ()
    default: tuple[str, ...] = ()
    personal: tuple[str, ...] = ("person.*",)

    def audiences_of(self, event: EventIn) -> tuple[str, ...]:
        if event.audience:
            return (event.audience,)
        if any(fnmatch.fnmatchcase(event.type, pattern) for pattern in self.personal):
            return ()
        chosen = tuple(dict.fromkeys(r.audience for r in self.rules if r.holds(event)))
        return chosen or self.default


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class LeadBecameMQL:
    lead_id: str
    person_id: str
    audience: str
    at: float
    score: float
    grade: str


@dataclass(frozen=True)
class MQLExpired:
    lead_id: str
    person_id: str
    audience: str
    at: float  # the crossing time, not when the tick noticed


@dataclass(frozen=True)
class AccountBecameMQA:
    account_id: str
    audience: str
    at: float
    score: float
    grade: str


@dataclass(frozen=True)
class PeopleMerged:
    kept: str
    merged: str
    at: float


DomainEvent = LeadBecameMQL | MQLExpired | AccountBecameMQA | PeopleMerged


@dataclass
class IngestResult:
    now: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    leads_scored: int = 0
    inserted: set[str] = field(default_factory=set)  # ids of the events stored
    domain_events: list[DomainEvent] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # ids of the leads written
    refused: set[str] = field(default_factory=set)  # ids of events naming an erased person
    #: The stored events of type ``touch.*``: sales touches logged in a CRM or ATS, which
    #: the handoff records against the person's leads (docs/handoff.md).
    touches: list[dict[str, Any]] = field(default_factory=list)
    #: The stored events a person's consent depends on (``CONSENT_EVENTS``: an SMS reply
    #: may mean stop, an unsubscribe is an e-mail opt-out), and the people whose attributes
    #: were set or changed, with their attributes now (CRM opt-out flags):
    #: leadgrade.privacy.optout records them as opt-outs.
    consent_events: list[dict[str, Any]] = field(default_factory=list)
    reattributed: dict[str, Mapping[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- engine


class Engine:
    def __init__(
        self,
        store: Store,
        models: Mapping[str, Model],
        audiences: AudienceMap,
        shadows: Mapping[str, tuple[str, Model]] | None = None,
    ) -> None:
        self.store = store
        self.models = dict(models)
        self.audiences = audiences
        #: audience → (version id, model) of a version scoring in shadow: its numbers
        #: are kept apart (``shadow_scores``) and never move a stage.
        self.shadows: dict[str, tuple[str, Model]] = dict(shadows or {})
        self._subscribers: list[Callable[[DomainEvent], None]] = []
        self._within: list[Callable[[sa.Connection, IngestResult], None]] = []
        #: What rides on this engine's transactions (the handoff, segments), by name, so
        #: that an engine has one of each however many callers ask for it.
        self.services: dict[str, object] = {}

    def within(self, handler: Callable[[sa.Connection, IngestResult], None]) -> None:
        """Call ``handler(conn, result)`` inside every transaction that writes leads,
        before it commits: what the handler writes (an assignment, an outbox message)
        commits with the change that caused it, or not at all."""
        self._within.append(handler)

    def _before_commit(self, conn: sa.Connection, result: IngestResult) -> None:
        if (
            result.written
            or result.domain_events
            or result.touches
            or result.consent_events
            or result.reattributed
        ):
            for handler in self._within:
                handler(conn, result)

    def subscribe(self, handler: Callable[[DomainEvent], None]) -> None:
        """Call ``handler`` with every lifecycle change, after the transaction that made
        it commits (so a handler never sees a change that was rolled back)."""
        self._subscribers.append(handler)

    def _publish(self, changes: Iterable[DomainEvent]) -> None:
        for change in changes:
            for handler in self._subscribers:
                try:
                    handler(change)
                except Exception:  # one failing subscriber must not stop the others
                    logger.exception("a subscriber failed on %r", change)

    def ingest(self, batch: Sequence[EventIn], now: float) -> IngestResult:
        """Store and score ``batch`` in one transaction; replays change nothing. The
        lifecycle changes are published to subscribers once the transaction commits.

        Two writers that meet the same new person at once (another process ingesting, a
        second server) both try to create their identity; the one that loses the race
        has its transaction rolled back and runs the batch again, which then finds the
        person. Events are idempotent, so a retry stores nothing twice."""
        for attempt in range(3):
            try:
                return self._ingest(batch, now)
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
                logger.info("a concurrent writer created the same rows; retrying the batch")
        raise AssertionError("unreachable")

    def _ingest(self, batch: Sequence[EventIn], now: float) -> IngestResult:
        result = IngestResult(now=now)
        with self.store.transaction() as conn:
            fresh = self._new_events(conn, batch)
            result.duplicates = len(batch) - len(fresh)
            fresh = self._refuse_erased(conn, fresh, result)
            if not fresh:
                return result
            people_of, known, refit = self._resolve_people(conn, fresh, now, result)
            result.reattributed.update({p: known.get(p, {}) for p in refit})
            received = utc(now)
            placed: dict[tuple[str, str | None, str | None], list[str]] = {}
            rows: list[dict[str, Any]] = []
            for event in fresh:
                rows.append(
                    {
                        "id": event.id,
                        "person_id": people_of[event.id],
                        "type": event.type,
                        "occurred_at": utc(event.occurred_at),
                        "received_at": received,
                        "audiences": self._placed(event, placed),
                        "properties": dict(event.properties),
                        "channel": event.channel,
                        "source": event.source,
                        "campaign": event.campaign,
                    }
                )
            inserted = self._insert_events(conn, rows)
            result.accepted = len(inserted)
            result.inserted = inserted
            result.duplicates = len(batch) - len(inserted) - len(result.refused)
            touched: dict[tuple[str, str], list[Event]] = {}
            for event, row in zip(fresh, rows, strict=True):
                if event.id not in inserted:
                    continue
                if event.type.startswith("touch."):
                    result.touches.append(row)
                elif event.type in CONSENT_EVENTS:
                    result.consent_events.append(row)
                core = Event(event.id, event.type, event.occurred_at, event.properties)
                for audience in row["audiences"]:
                    touched.setdefault((row["person_id"], audience), []).append(core)
            self._score_all(conn, touched, known, refit, now, result)
            self._before_commit(conn, result)
        self._publish(result.domain_events)
        return result

    def _placed(
        self, event: EventIn, seen: dict[tuple[str, str | None, str | None], list[str]]
    ) -> list[str]:
        """The audiences with a model that ``event`` feeds; events alike in what the
        audience rules read share one answer within a batch."""
        path, form = event.properties.get("path"), event.properties.get("form")
        key = (
            event.type + "\0" + (event.audience or ""),
            path if isinstance(path, str) else None,
            form if isinstance(form, str) else None,
        )
        found = seen.get(key)
        if found is None:
            found = seen[key] = [a for a in self.audiences.audiences_of(event) if a in self.models]
        return found

    # -- idempotency and erasure

    def _refuse_erased(
        self, conn: sa.Connection, fresh: list[EventIn], result: IngestResult
    ) -> list[EventIn]:
        """Leave out the events that name an erased person (by any id their tombstone
        holds: e-mail, phone, anonymous id, ATS id): an erased person is not brought back
        by a later import or webhook."""
        named = {event.id: _names(event) for event in fresh}
        gone = tombstones.buried(conn, {name for names in named.values() for name in names})
        if not gone:
            return fresh
        kept = []
        for event in fresh:
            if named[event.id] & gone:
                result.refused.add(event.id)
            else:
                kept.append(event)
        logger.info("refused %d events naming erased people", len(result.refused))
        return kept

    def _new_events(self, conn: sa.Connection, batch: Sequence[EventIn]) -> list[EventIn]:
        """The events of ``batch`` not stored yet, each id once (the first wins)."""
        unique = list({event.id: event for event in reversed(batch)}.values())[::-1]
        known: set[str] = set()
        ids = [event.id for event in unique]
        for chunk in chunked(conn, ids):
            known.update(
                conn.scalars(sa.select(events.c.id).where(among(conn, events.c.id, chunk)))
            )
        return [event for event in unique if event.id not in known]

    def _insert_events(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert, skipping ids another writer stored meanwhile; returns the ids inserted."""
        return set(Bulk(conn).insert(events, rows, skip_conflicts_on="id", returning="id"))

    # -- identity

    def _resolve_people(
        self, conn: sa.Connection, batch: Sequence[EventIn], now: float, result: IngestResult
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]], set[str]]:
        """Event id → person id, and the attributes of
        the people whose attributes were read or written. People and identities are
        created as events name them, and two people are merged when one event names both
        (an anonymous visitor who fills in a form with their e-mail). Lookups and inserts
        are made for the whole batch at once."""
        known = self._known_identities(conn, batch)
        new_people: list[str] = []
        new_identities: list[dict[str, object]] = []
        traits: dict[str, dict[str, object]] = {}
        attributes: dict[str, dict[str, Any]] = {}
        owners: dict[str, str] = {}
        merged: dict[str, str] = {}
        moment = utc(now)

        def flush() -> None:
            """Store the people and identities met so far; a new person is stored with
            the traits gathered for them."""
            bulk = Bulk(conn)
            if new_people:
                rows = []
                for person in new_people:
                    attributes[person] = traits.pop(person, {})
                    if attributes[person]:  # a new person's first attributes
                        result.reattributed[person] = attributes[person]
                    rows.append(
                        {
                            "id": person,
                            "attributes": attributes[person],
                            "created_at": moment,
                            "updated_at": moment,
                        }
                    )
                bulk.insert(people, rows)
                new_people.clear()
            if new_identities:
                bulk.insert(identities, new_identities)
                new_identities.clear()

        for event in batch:
            names = event.person.identities()
            if not names:
                raise ValueError(f"event {event.id!r} names no person")
            found = [known.get(name) for name in names]
            persons = list(dict.fromkeys(p for p in found if p is not None))
            if not persons:
                person = str(uuid.uuid4())
                new_people.append(person)
            else:
                person = persons[0]  # the strongest identity wins
                for other in persons[1:]:
                    flush()  # the merge works on stored rows
                    result.domain_events.append(PeopleMerged(person, other, now))
                    self._merge(conn, keep=person, merge=other, result=result)
                    attributes.pop(person, None)
                    attributes.pop(other, None)
                    known = {k: person if v == other else v for k, v in known.items()}
                    traits[person] = {**traits.pop(other, {}), **traits.get(person, {})}
                    merged[other] = person
            for name, owner in zip(names, found, strict=True):
                if owner is None and name[0] != "person" and known.get(name) is None:
                    new_identities.append({"kind": name[0], "value": name[1], "person_id": person})
                known[name] = person
            update = dict(event.traits)
            if event.person.email:
                update.setdefault("email", event.person.email.strip().lower())
            if update:
                traits.setdefault(person, {}).update(update)
            owners[event.id] = person
        flush()
        recorded, changed = self._record_traits(conn, traits, now)
        attributes.update(recorded)

        def final(person: str) -> str:
            while person in merged:
                person = merged[person]
            return person

        people_of = {event_id: final(person) for event_id, person in owners.items()}
        return people_of, attributes, {final(person) for person in changed}

    def _known_identities(
        self, conn: sa.Connection, batch: Sequence[EventIn]
    ) -> dict[tuple[str, str], str]:
        names = {name for event in batch for name in event.person.identities()}
        by_kind: dict[str, list[str]] = {}
        for kind, value in names:
            if kind != "person":
                by_kind.setdefault(kind, []).append(value)
        known: dict[tuple[str, str], str] = {}
        for kind, values in sorted(by_kind.items()):
            values.sort()
            for chunk in chunked(conn, values):
                # kind = … AND value IN (…): lookups in the (kind, value) primary key.
                rows = conn.execute(
                    sa.select(identities.c.value, identities.c.person_id).where(
                        identities.c.kind == kind, among(conn, identities.c.value, chunk)
                    )
                )
                known.update({(kind, value): person for value, person in rows})
        ids = sorted(value for kind, value in names if kind == "person")
        for chunk in chunked(conn, ids):
            found = conn.scalars(sa.select(people.c.id).where(among(conn, people.c.id, chunk)))
            known.update({("person", person): person for person in found})
        return {name: person for name, person in known.items() if name in names}

    def _attributes(self, conn: sa.Connection, persons: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(set(persons))
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(conn, ids):
            rows = conn.execute(
                sa.select(people.c.id, people.c.attributes).where(among(conn, people.c.id, chunk))
            )
            found.update({person: attributes or {} for person, attributes in rows})
        return found

    def _record_traits(
        self, conn: sa.Connection, traits: Mapping[str, Mapping[str, object]], now: float
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Merge ``traits`` into stored people's attributes; returns their attributes, and
        the people whose attributes changed."""
        current = self._attributes(conn, traits)
        changes = []
        moment = utc(now)
        for person, update in traits.items():
            before = current.get(person, {})
            after = {**before, **update}
            if after != before:
                current[person] = after
                changes.append({"id": person, "attributes": after, "updated_at": moment})
        Bulk(conn).update(people, "id", changes)
        return current, {str(change["id"]) for change in changes}

    def _merge(self, conn: sa.Connection, keep: str, merge: str, result: IngestResult) -> None:
        """Fold person ``merge`` into ``keep``: identities, attributes, events; their leads
        are rescored from the whole event history, so earlier events count."""
        kept_attrs = conn.scalar(sa.select(people.c.attributes).where(people.c.id == keep)) or {}
        merged_attrs = conn.scalar(sa.select(people.c.attributes).where(people.c.id == merge)) or {}
        conn.execute(
            sa.update(people)
            .where(people.c.id == keep)
            .values(attributes={**merged_attrs, **kept_attrs}, updated_at=utc(result.now))
        )
        conn.execute(
            sa.update(identities).where(identities.c.person_id == merge).values(person_id=keep)
        )
        conn.execute(sa.update(events).where(events.c.person_id == merge).values(person_id=keep))
        merged_leads = conn.execute(
            sa.select(leads.c.id, leads.c.audience).where(leads.c.person_id == merge)
        ).all()
        kept_leads = dict(
            conn.execute(
                sa.select(leads.c.audience, leads.c.id).where(leads.c.person_id == keep)
            ).all()
        )
        for lead_id, audience in merged_leads:
            kept = kept_leads.get(audience)
            if kept is None:  # the lead changes hands, with its history
                conn.execute(sa.update(leads).where(leads.c.id == lead_id).values(person_id=keep))
                continue
            # Both had a lead here: one lead remains, with both histories.
            conn.execute(
                sa.update(stage_changes)
                .where(stage_changes.c.lead_id == lead_id)
                .values(lead_id=kept)
            )
            conn.execute(sa.delete(shadow_scores).where(shadow_scores.c.lead_id == lead_id))
            conn.execute(sa.delete(leads).where(leads.c.id == lead_id))
        conn.execute(
            sa.update(people)
            .where(people.c.id == merge)
            .values(merged_into=keep, attributes={}, updated_at=utc(result.now))
        )
        for _lead_id, audience in merged_leads:
            if audience in self.models:
                self._rescore_from_history(conn, keep, audience, result)

    # -- scoring

    def _score_all(
        self,
        conn: sa.Connection,
        touched: Mapping[tuple[str, str], list[Event]],
        known: Mapping[str, dict[str, Any]],
        refit: set[str],
        now: float,
        result: IngestResult,
    ) -> None:
        """Rescore every (person, audience) the batch touched, and refit the other leads
        of people whose attributes it changed: leads and people are read in a few
        queries, scored in Python, and written back in a few more."""
        persons = {person for person, _ in touched} | refit
        attributes = {p: known[p] for p in persons if p in known}
        attributes.update(self._attributes(conn, persons - attributes.keys()))
        stored = self._leads_of(conn, persons)
        plans = []
        for (person, audience), new in touched.items():
            model = self.models[audience]
            lead = stored.get((person, audience))
            if lead is not None and lead.model_digest == model.digest:
                state = EngagementState.from_dict(model, lead.state)
                for event in new:
                    state.add(model, event)
            elif lead is None:
                # A lead is written with every event that feeds it, in the event's own
                # transaction (a merge rescores the kept person's leads from the log): no
                # lead means no earlier event in this audience.
                state = EngagementState()
                for event in new:
                    state.add(model, event)
            else:  # scored by another model version, or events from before: the whole log
                state = self._history_state(conn, person, audience, model)
            plans.append(
                self._plan(
                    person, audience, model, state, attributes.get(person, {}), lead, now, result
                )
            )
            result.leads_scored += 1
        for (person, audience), lead in stored.items():
            other = self.models.get(audience)
            if person not in refit or (person, audience) in touched or other is None:
                continue
            if lead.model_digest == other.digest:
                state = EngagementState.from_dict(other, lead.state)
            else:
                state = self._history_state(conn, person, audience, other)
            plans.append(
                self._plan(
                    person, audience, other, state, attributes.get(person, {}), lead, now, result
                )
            )
        self._write(conn, plans, result)
        if self.shadows:
            self._score_shadows(
                conn,
                [(plan, touched.get((plan.person, plan.audience), [])) for plan in plans],
                now,
            )

    def _rescore_from_history(
        self, conn: sa.Connection, person: str, audience: str, result: IngestResult
    ) -> None:
        model = self.models[audience]
        state = self._history_state(conn, person, audience, model)
        lead = self._leads_of(conn, [person]).get((person, audience))
        attributes = self._attributes(conn, [person]).get(person, {})
        plan = self._plan(person, audience, model, state, attributes, lead, result.now, result)
        self._write(conn, [plan], result)
        if audience in self.shadows:
            self._score_shadows(conn, [(plan, None)], result.now)

    # -- shadow versions

    def _score_shadows(
        self,
        conn: sa.Connection,
        items: Sequence[tuple[_Plan, Sequence[Event] | None]],
        now: float,
    ) -> None:
        """Score planned leads with their audience's shadow version, from its stored state
        plus the new events (``None``: rebuild from the event log). Nothing else moves."""
        for audience, (version_id, model) in self.shadows.items():
            mine = [(plan, new) for plan, new in items if plan.audience == audience]
            if not mine:
                continue
            ids = [f"{version_id}:{plan.lead_id}" for plan, _ in mine]
            stored: dict[str, Any] = {}
            for chunk in chunked(conn, ids):
                rows = conn.execute(
                    sa.select(shadow_scores.c.id, shadow_scores.c.state).where(
                        among(conn, shadow_scores.c.id, chunk)
                    )
                )
                stored.update({row.id: row.state for row in rows})
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for (plan, new), row_id in zip(mine, ids, strict=True):
                if row_id in stored and new is not None:
                    state = EngagementState.from_dict(model, stored[row_id])
                    for event in new:
                        state.add(model, event)
                elif plan.new and new is not None:
                    state = EngagementState()
                    for event in new:
                        state.add(model, event)
                else:
                    state = self._history_state(conn, plan.person, audience, model)
                row = _shadow_row(model, state, plan.attributes, plan.lead_id, version_id, now)
                (updates if row_id in stored else inserts).append(row)
            bulk = Bulk(conn)
            bulk.insert(shadow_scores, inserts)
            bulk.update(shadow_scores, "id", updates)

    def start_shadow(
        self,
        version_id: str,
        model: Model,
        now: float,
        *,
        chunk: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Run ``model`` in shadow for its audience: score every lead of the audience
        with it from the event log (kept apart, no stage moves), then keep scoring each
        new event with it. Returns the number of leads scored."""
        audience = model.audience
        self.shadows[audience] = (version_id, model)
        with self.store.transaction() as conn:
            conn.execute(sa.delete(shadow_scores).where(shadow_scores.c.version_id == version_id))
        done, after = 0, ""
        total = self._count_leads(audience)
        while True:
            with self.store.transaction() as conn:
                rows = conn.execute(
                    sa.select(leads.c.id, leads.c.person_id)
                    .where(leads.c.audience == audience, leads.c.person_id > after)
                    .order_by(leads.c.person_id)
                    .limit(chunk)
                ).all()
                if not rows:
                    break
                after = rows[-1].person_id
                persons = [row.person_id for row in rows]
                states = self._history_states(conn, persons, audience, model)
                attributes = self._attributes(conn, persons)
                Bulk(conn).insert(
                    shadow_scores,
                    [
                        _shadow_row(
                            model,
                            states[row.person_id],
                            attributes.get(row.person_id, {}),
                            row.id,
                            version_id,
                            now,
                        )
                        for row in rows
                    ],
                )
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return done

    def stop_shadow(self, audience: str) -> None:
        """Stop the audience's shadow version and drop its numbers."""
        found = self.shadows.pop(audience, None)
        if found is not None:
            with self.store.transaction() as conn:
                conn.execute(sa.delete(shadow_scores).where(shadow_scores.c.version_id == found[0]))

    def _count_leads(self, audience: str) -> int:
        with self.store.engine.connect() as conn:
            return (
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(leads)
                    .where(leads.c.audience == audience)
                )
                or 0
            )

    def _history_state(
        self, conn: sa.Connection, person: str, audience: str, model: Model
    ) -> EngagementState:
        return self._history_states(conn, [person], audience, model)[person]

    def _history_states(
        self, conn: sa.Connection, persons: Sequence[str], audience: str, model: Model
    ) -> dict[str, EngagementState]:
        """These people's engagement in ``audience``, rebuilt from the whole event log.
        Rescoring after an activation reads every event of the audience this way, so the
        JSON columns come as text and only the events some rule of the model reads are
        decoded."""
        states = {person: EngagementState() for person in persons}
        marker = json.dumps(audience)  # how the audience appears in the audiences JSON
        sqlite = conn.dialect.name == "sqlite"
        occurred = sa.cast(events.c.occurred_at, sa.Text) if sqlite else events.c.occurred_at
        for chunk in chunked(conn, persons):
            rows = conn.execute(
                sa.select(
                    events.c.id,
                    events.c.type,
                    occurred,
                    sa.cast(events.c.properties, sa.Text),
                    sa.cast(events.c.audiences, sa.Text),
                    events.c.person_id,
                ).where(among(conn, events.c.person_id, chunk))
            )
            for event_id, kind, at, properties, audiences, person in rows:
                if marker not in audiences or kind not in model.by_event:
                    continue  # another audience's event, or one no rule of the model reads
                when = (
                    datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp()
                    if sqlite
                    else epoch(at)
                )
                states[person].add(model, Event(event_id, kind, when, json.loads(properties)))
        return states

    def _leads_of(self, conn: sa.Connection, persons: Iterable[str]) -> dict[tuple[str, str], Any]:
        """The stored leads of these people, by (person, audience), locked on PostgreSQL so
        that concurrent writers to one lead lose nothing."""
        ids = sorted(set(persons))
        found: dict[tuple[str, str], Any] = {}
        for chunk in chunked(conn, ids):
            query = sa.select(
                leads.c.id,
                leads.c.person_id,
                leads.c.audience,
                leads.c.stage,
                leads.c.model_digest,
                leads.c.state,
                leads.c.account_id,
                leads.c.mql_expires_at,
                leads.c.fit,
                leads.c.engagement_anchored,
                leads.c.engagement_static,
                leads.c.mql_blocked_until,
            ).where(among(conn, leads.c.person_id, chunk))
            if self.store.dialect == "postgresql":
                query = query.order_by(leads.c.id).with_for_update()
            found.update({(row.person_id, row.audience): row for row in conn.execute(query)})
        return found

    def _plan(
        self,
        person: str,
        audience: str,
        model: Model,
        state: EngagementState,
        attributes: Mapping[str, Any],
        lead: Any,
        now: float,
        result: IngestResult,
    ) -> _Plan:
        """What to write for one lead: its numbers now, and any stage change."""
        at = max(now, state.as_of or now)
        card = numbers(model, enrich(attributes), state, at)  # the scorecard's, bit for bit
        decaying, static = state.split(model)
        values = {
            "fit": card.fit,
            "engagement": card.engagement,
            "engagement_as_of": utc(at),
            "engagement_anchored": anchored(model, decaying, state.as_of or at),
            "engagement_static": static,
            "score": card.score,
            "grade": card.grade,
            "state": state.to_dict(model),
            "model_digest": model.digest,
            "updated_at": utc(now),
        }
        history: list[dict[str, object]] = []
        if lead is None:
            lead_id, stage = str(uuid.uuid4()), "lead"
            history.append(
                {
                    "lead_id": lead_id,
                    "at": utc(now),
                    "from_stage": None,
                    "to_stage": "lead",
                    "actor": "engine",
                    "reason": "first event",
                }
            )
        else:
            lead_id, stage = lead.id, lead.stage
        if card.mql and (stage == "lead" or (stage == "recycled" and _may_return(model, lead, at))):
            history.append(
                {
                    "lead_id": lead_id,
                    "at": utc(now),
                    "from_stage": stage,
                    "to_stage": "mql",
                    "actor": "engine",
                    "reason": f"score {card.score:.2f}, grade {card.grade}: {model.mql.describe()}",
                }
            )
            stage = "mql"
            result.domain_events.append(
                LeadBecameMQL(lead_id, person, audience, now, card.score, card.grade)
            )
        expires = None
        if stage == "mql" and model.expire_below is not None:
            expires = score_reaches(model, state, card.fit, model.expire_below, after=at)
        values["stage"] = stage
        values["mql_expires_at"] = None if expires is None else utc(expires)
        if lead is None:
            values |= {
                "id": lead_id,
                "person_id": person,
                "audience": audience,
                "created_at": utc(now),
                "owner": None,
            }
        values["account_id"] = None  # set by _write when the model rolls leads up
        return _Plan(
            lead_id,
            lead is None,
            values,
            history,
            person,
            audience,
            attributes,
            None if lead is None else lead.account_id,
            lead,
        )

    def identify(self, person: PersonRef, traits: Mapping[str, object], now: float) -> str:
        """Record who someone is (merging an anonymous visitor into the person their e-mail
        names) and what we know of them; their leads are refitted. Returns the person id."""
        probe = EventIn("", "identify", now, person, traits=traits)
        result = IngestResult(now=now)
        with self.store.transaction() as conn:
            owners, known, changed = self._resolve_people(conn, [probe], now, result)
            result.reattributed.update({p: known.get(p, {}) for p in changed})
            person_id = owners[""]
            self._refit(conn, person_id, result)
            self._before_commit(conn, result)
        self._publish(result.domain_events)
        return person_id

    def set_attributes(self, person_id: str, attributes: Mapping[str, object], now: float) -> bool:
        """Replace a person's attributes and refit their leads; False for an unknown person."""
        result = IngestResult(now=now)
        with self.store.transaction() as conn:
            changed = conn.execute(
                sa.update(people)
                .where(people.c.id == person_id, people.c.merged_into.is_(None))
                .values(attributes=dict(attributes), updated_at=utc(now))
            ).rowcount
            if not changed:
                return False
            result.reattributed[person_id] = dict(attributes)
            self._refit(conn, person_id, result)
            self._before_commit(conn, result)
        self._publish(result.domain_events)
        return True

    def _refit(self, conn: sa.Connection, person: str, result: IngestResult) -> None:
        """Rescore a person's leads after their attributes changed (fit moves; engagement
        comes from the stored state)."""
        attributes = self._attributes(conn, [person]).get(person, {})
        plans = []
        for (_, audience), lead in self._leads_of(conn, [person]).items():
            model = self.models.get(audience)
            if model is None:
                continue
            if lead.model_digest == model.digest:
                state = EngagementState.from_dict(model, lead.state)
            else:
                state = self._history_state(conn, person, audience, model)
            plans.append(
                self._plan(person, audience, model, state, attributes, lead, result.now, result)
            )
        self._write(conn, plans, result)

    def rescore(
        self,
        audience: str,
        now: float,
        *,
        chunk: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Rescore every lead of ``audience`` with its current model, from the event log
        (after a model version is activated). One transaction per ``chunk`` leads, each
        read and written in a few queries; returns the number of leads rescored."""
        model = self.models[audience]
        with self.store.engine.connect() as conn:
            total = (
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(leads)
                    .where(leads.c.audience == audience)
                )
                or 0
            )
        done, after = 0, ""
        rolled: set[str] = set()
        while True:
            result = IngestResult(now=now)
            with self.store.transaction() as conn:
                ids = list(
                    conn.scalars(
                        sa.select(leads.c.person_id)
                        .where(leads.c.audience == audience, leads.c.person_id > after)
                        .order_by(leads.c.person_id)
                        .limit(chunk)
                    )
                )
                if not ids:
                    break
                after = ids[-1]
                states = self._history_states(conn, ids, audience, model)
                stored = self._leads_of(conn, ids)
                attributes = self._attributes(conn, ids)
                plans = [
                    self._plan(
                        person,
                        audience,
                        model,
                        states[person],
                        attributes.get(person, {}),
                        stored[(person, audience)],
                        now,
                        result,
                    )
                    for person in ids
                ]
                rolled |= self._write(conn, plans, result, roll_up=False)
                self._before_commit(conn, result)
            self._publish(result.domain_events)
            done += len(ids)
            if progress is not None:
                progress(done, total)
        if rolled:  # the accounts, once, when every contact has its new numbers
            result = IngestResult(now=now)
            with self.store.transaction() as conn:
                self._roll_up(conn, rolled, result)
                self._before_commit(conn, result)
            self._publish(result.domain_events)
        return done

    def tick(self, now: float) -> list[MQLExpired]:
        """Expire the MQLs whose decaying score has fallen below their model's
        ``expire_below`` by ``now`` (recycled, with a history row). Due leads are found by
        their stored crossing time and claimed with row locks, so several workers can tick
        at once and none expires a lead twice."""
        expired: list[MQLExpired] = []
        result = IngestResult(now=now)
        with self.store.transaction() as conn:
            query = (
                sa.select(leads, people.c.attributes)
                .join(people, people.c.id == leads.c.person_id)
                .where(leads.c.stage == "mql", leads.c.mql_expires_at <= utc(now))
            )
            if self.store.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True, of=leads)
            for row in conn.execute(query).all():
                model = self.models.get(row.audience)
                if model is None or model.expire_below is None or row.model_digest != model.digest:
                    continue
                state = EngagementState.from_dict(model, row.state)
                at = max(now, state.as_of or now)
                card = state.scorecard(model, enrich(row.attributes), at)
                if card.score > model.expire_below + 1e-6:  # rescored upwards meanwhile
                    when = score_reaches(model, state, card.fit, model.expire_below, after=at)
                    conn.execute(
                        sa.update(leads)
                        .where(leads.c.id == row.id)
                        .values(mql_expires_at=None if when is None else utc(when))
                    )
                    continue
                due = epoch(row.mql_expires_at)
                conn.execute(
                    sa.update(leads)
                    .where(leads.c.id == row.id)
                    .values(stage="recycled", mql_expires_at=None, updated_at=utc(now))
                )
                conn.execute(
                    sa.insert(stage_changes).values(
                        lead_id=row.id,
                        at=utc(due),
                        from_stage="mql",
                        to_stage="recycled",
                        actor="engine",
                        reason=f"expired: the score fell below "
                        f"{model.expire_below:g} before sales acted",
                    )
                )
                expired.append(MQLExpired(row.id, row.person_id, row.audience, due))
                result.written.add(row.id)
            result.domain_events.extend(expired)
            self._before_commit(conn, result)
        self._publish(expired)
        return expired

    def _write(
        self,
        conn: sa.Connection,
        plans: list[_Plan],
        result: IngestResult,
        *,
        roll_up: bool = True,
    ) -> set[str]:
        """Write planned leads (and their stage history), filing employer leads under
        their accounts and (unless ``roll_up`` is false: the caller rolls up once at the
        end) rolling the accounts' numbers up. Returns the accounts whose numbers moved."""
        rolled = self._file_under_accounts(conn, plans, result)
        result.written.update(plan.lead_id for plan in plans)
        bulk = Bulk(conn)
        bulk.insert(leads, [plan.values for plan in plans if plan.new])
        bulk.update(leads, "id", [plan.changes() for plan in plans if not plan.new])
        bulk.insert(stage_changes, [row for plan in plans for row in plan.history])
        if rolled and roll_up:
            self._roll_up(conn, rolled, result)
        return rolled

    # -- accounts

    def _file_under_accounts(
        self, conn: sa.Connection, plans: list[_Plan], result: IngestResult
    ) -> set[str]:
        """Set each planned lead's account (created on first sight, by domain); returns
        the accounts whose numbers change: those gaining or losing a lead."""
        wanted: dict[tuple[str, str], list[_Plan]] = {}
        names: dict[tuple[str, str], str | None] = {}
        changed: set[str] = set()
        for plan in plans:
            model = self.models.get(plan.audience)
            rule = None if model is None else model.accounts
            domain = None if rule is None else account_domain(rule, plan.attributes)
            if domain is not None:
                key = (plan.audience, domain)
                wanted.setdefault(key, []).append(plan)
                company = plan.attributes.get("company") or plan.attributes.get("company_name")
                if isinstance(company, str) and company.strip():
                    names.setdefault(key, company.strip()[:300])
            if plan.account_before is not None:
                changed.add(plan.account_before)
        if not wanted:
            return changed
        found: dict[tuple[str, str], str] = {}
        domains = sorted({domain for _, domain in wanted})
        for chunk in chunked(conn, domains):
            rows = conn.execute(
                sa.select(accounts.c.id, accounts.c.audience, accounts.c.domain).where(
                    among(conn, accounts.c.domain, chunk)
                )
            )
            found.update({(audience, domain): id_ for id_, audience, domain in rows})
        moment = utc(result.now)
        fresh = []
        for key in wanted:
            if key not in found:
                found[key] = str(uuid.uuid4())
                fresh.append(
                    {
                        "id": found[key],
                        "audience": key[0],
                        "domain": key[1],
                        "name": names.get(key),
                        "fit": 0.0,
                        "engagement": 0.0,
                        "score": 0.0,
                        "grade": "D4",
                        "contacts": 0,
                        "engaged": 0,
                        "scored_at": moment,
                        "mqa_since": None,
                        "created_at": moment,
                        "updated_at": moment,
                    }
                )
        created = set(
            Bulk(conn).insert(
                accounts, fresh, skip_conflicts_on=("audience", "domain"), returning="id"
            )
        )
        if len(created) < len(fresh):  # another writer created some of them meanwhile
            for row in fresh:
                if row["id"] not in created:
                    found[(str(row["audience"]), str(row["domain"]))] = conn.execute(
                        sa.select(accounts.c.id).where(
                            accounts.c.audience == row["audience"],
                            accounts.c.domain == row["domain"],
                        )
                    ).scalar_one()
        for key, filed in wanted.items():
            for plan in filed:
                plan.values["account_id"] = found[key]
            changed.add(found[key])
        return changed

    def roll_up(self, conn: sa.Connection, account_ids: set[str], now: float) -> None:
        """Recompute these accounts from their contacts' leads (after contacts leave them:
        an erasure), in the caller's transaction."""
        self._roll_up(conn, account_ids, IngestResult(now=now))

    def _roll_up(self, conn: sa.Connection, account_ids: set[str], result: IngestResult) -> None:
        """Recompute these accounts from all their contacts' leads, valued now (two stored
        numbers a contact, no state to decode); an account meeting its model's
        ``accounts.mqa`` becomes an MQA (a domain event)."""
        ids = sorted(account_ids)
        stored: dict[str, Any] = {}
        for chunk in chunked(conn, ids):
            stored.update(
                {
                    row.id: row
                    for row in conn.execute(
                        sa.select(accounts.c.id, accounts.c.audience, accounts.c.mqa_since).where(
                            among(conn, accounts.c.id, chunk)
                        )
                    )
                }
            )
        sums = account_sums(conn, self.models, result.now, account_ids=ids)
        moment = utc(result.now)
        updates = []
        for id_ in ids:
            account = stored.get(id_)
            model = None if account is None else self.models.get(account.audience)
            if account is None or model is None or model.accounts is None:
                continue
            card = account_card(model, sums.get(id_, ContactSums()))
            since = account.mqa_since
            if card.mqa and since is None:
                since = moment
                result.domain_events.append(
                    AccountBecameMQA(id_, account.audience, result.now, card.score, card.grade)
                )
            elif not card.mqa:
                since = None
            updates.append(
                {
                    "id": id_,
                    "fit": card.fit,
                    "engagement": card.engagement,
                    "score": card.score,
                    "grade": card.grade,
                    "contacts": card.contacts,
                    "engaged": card.engaged,
                    "scored_at": moment,
                    "mqa_since": since,
                    "updated_at": moment,
                }
            )
        Bulk(conn).update(accounts, "id", updates)


@dataclass
class _Plan:
    lead_id: str
    new: bool
    values: dict[str, Any]
    history: list[dict[str, object]]
    person: str = ""
    audience: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    account_before: str | None = None
    before: Any = None  # the stored lead row, when there is one

    def changes(self) -> dict[str, Any]:
        """The values to write over the stored lead: the numbers always; the stage, the
        expiry, the account and the model digest only when they change (each is in an
        index, and an UPDATE naming a column rewrites its index entries)."""
        values = dict(self.values)
        before = self.before
        if before is not None:
            for column in ("stage", "account_id", "model_digest"):
                if values.get(column) == getattr(before, column):
                    del values[column]
            old, new = before.mql_expires_at, values.get("mql_expires_at")
            if (old is None and new is None) or (
                old is not None and new is not None and epoch(old) == epoch(new)
            ):
                del values["mql_expires_at"]
        return values | {"id": self.lead_id}


PHONE_TRAITS = ("phone", "mobile_phone", "mobile", "phone_number")


def _names(event: EventIn) -> set[tuple[str, str]]:
    """Every way an event names its person: its ids, and the e-mail and phones in its
    traits."""
    names = {name for name in event.person.identities() if name[0] != "person"}
    email = event.traits.get("email")
    if isinstance(email, str) and email.strip():
        names.add(("email", email))
    for trait in PHONE_TRAITS:
        value = event.traits.get(trait)
        if isinstance(value, str) and value.strip():
            names.add(("phone", value))
    return names


def _may_return(model: Model, lead: Any, at: float) -> bool:
    """Whether a recycled lead that meets the MQL condition is an MQL again: after a
    rejection's cool-down, as soon as it is over; otherwise only when its score crosses
    the threshold anew (:func:`_was_mql`)."""
    blocked = lead.mql_blocked_until
    if blocked is not None:
        return at >= epoch(blocked)
    return not _was_mql(model, lead, at)


def _was_mql(model: Model, lead: Any, at: float) -> bool:
    """Whether a stored lead's numbers, valued at ``at`` before the new events, meet the
    MQL condition: a recycled lead is an MQL again only when its score crosses the
    threshold anew (sales recycled it above the threshold: it must fall below first)."""
    if lead is None or lead.engagement_anchored is None or lead.model_digest != model.digest:
        return False
    engagement = engagement_at(model, lead.engagement_anchored, lead.engagement_static, at)
    score = lead.fit + engagement
    return model.is_mql(score, lead.fit, engagement, model.grade(lead.fit, engagement))


def account_sums(
    conn: sa.Connection,
    models: Mapping[str, Model],
    now: float,
    *,
    account_ids: Sequence[str] | None = None,
    audience: str | None = None,
) -> dict[str, ContactSums]:
    """Each account's contacts summed up, valued ``now``: one aggregate query per audience
    over the leads' closed-form engagement (``engagement_anchored``, ``engagement_static``),
    plus, for the rare lead stored without it, its state. Leads scored by another model
    version than the audience's current one (a rescore in progress) are left out."""
    least = sa.func.least if conn.dialect.name == "postgresql" else sa.func.min
    found: dict[str, ContactSums] = {}
    for name, model in models.items():
        if model.accounts is None or (audience is not None and name != audience):
            continue
        base = [
            leads.c.audience == name,
            leads.c.model_digest == model.digest,
            leads.c.account_id.is_not(None),
        ]
        chunks: list[Sequence[str] | None] = (
            [None] if account_ids is None else list(chunked(conn, account_ids))
        )
        value = least(
            leads.c.engagement_static
            + leads.c.engagement_anchored * sa.bindparam("k", anchor_factor(model, now)),
            sa.bindparam("top", model.engagement_max),
        )
        for chunk in chunks:
            where = [*base] if chunk is None else [*base, among(conn, leads.c.account_id, chunk)]
            query = (
                sa.select(
                    leads.c.account_id,
                    sa.func.max(leads.c.fit),
                    sa.func.sum(value),
                    sa.func.count(),
                    sa.func.sum(sa.case((value > 0, 1), else_=0)),
                )
                .where(*where, leads.c.engagement_anchored.is_not(None))
                .group_by(leads.c.account_id)
            )
            for account_id, fit, engagement, contacts, engaged in conn.execute(query):
                found[account_id] = ContactSums(fit, engagement or 0.0, contacts, engaged or 0)
            stale = conn.execute(
                sa.select(leads.c.account_id, leads.c.fit, leads.c.state).where(
                    *where, leads.c.engagement_anchored.is_(None)
                )
            )
            for account_id, fit, state_data in stale:
                state = EngagementState.from_dict(model, state_data)
                value_now = engagement_value(model, state, max(now, state.as_of or now))
                found[account_id] = found.get(account_id, ContactSums()).plus(fit, value_now)
    return found


def _shadow_row(
    model: Model,
    state: EngagementState,
    attributes: Mapping[str, Any],
    lead_id: str,
    version_id: str,
    now: float,
) -> dict[str, Any]:
    at = max(now, state.as_of or now)
    card = assemble(
        model, fit_contributions(model, enrich(attributes)), state.totals(model, at), at
    )
    return {
        "id": f"{version_id}:{lead_id}",
        "version_id": version_id,
        "lead_id": lead_id,
        "fit": card.fit,
        "engagement": card.engagement,
        "score": card.score,
        "grade": card.grade,
        "mql": card.mql,
        "state": state.to_dict(model),
        "updated_at": utc(now),
    }

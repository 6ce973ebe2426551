"""Segments for nurture: membership kept current in ``segment_members`` as leads change and
as time passes; each entry and exit queued in the outbox (``segment.entered``,
``segment.left``) for the firm's e-mail or SMS platform to run its sequences; a segment
exported as CSV for ad platforms' custom audiences (docs/segments.md).

Nothing polls every lead. :meth:`Segments.refresh` evaluates the leads it is given, in a
few queries whatever their number, writes what changed, and leaves one timer per segment
and lead at the next instant membership would change without new data — an event leaving
its window, a date coming within range, engagement decaying past a grade or score bound.
The timer's handler refreshes that lead again.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from leadgrade.core import EngagementState, Model
from leadgrade.core.attributes import enrich
from leadgrade.core.scoring import Event, anchor_factor, engagement_at, numbers
from leadgrade.core.segments import Curve, LeadFacts, Segment, parse_segments
from leadgrade.engine import STAGES, Engine, IngestResult
from leadgrade.handoff import outbox
from leadgrade.handoff.timers import Due, Timers
from leadgrade.leads import LeadView, _query, _view
from leadgrade.settings import NotificationsSection
from leadgrade.store import Store
from leadgrade.store.bulk import Bulk, among, chunked
from leadgrade.store.schema import events, leads, people, segment_members, timers
from leadgrade.times import epoch, utc

SEGMENTS_FILE = "segments.yaml"
TIMER_KIND = "segment"
#: Timers are due this long after the instant membership changes, so that the store's
#: rounding of times to the microsecond never has one fire just before it.
TIMER_SLACK = 0.001


def timer_id(segment: str, lead_id: str) -> str:
    return f"{TIMER_KIND}:{segment}:{lead_id}"


@dataclass
class Changes:
    """What a refresh did: (segment, lead id) pairs that entered and left."""

    entered: list[tuple[str, str]] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)
    leads: int = 0  # leads evaluated

    def add(self, other: Changes) -> None:
        self.entered += other.entered
        self.left += other.left
        self.leads += other.leads


@dataclass(frozen=True)
class Member:
    """A lead in a segment: the lead as the API shows it (numbers now), and since when."""

    lead: LeadView
    entered_at: float

    def item(self) -> dict[str, Any]:
        return self.lead.item() | {"entered_at": _iso(self.entered_at)}


#: How members can be ordered: by score now (highest first) or by entry (newest first).
MEMBER_SORTS: dict[str, Callable[[Member], tuple[Any, ...]]] = {
    "score": lambda m: (-m.lead.card.score, m.lead.id),
    "entered": lambda m: (-m.entered_at, m.lead.id),
}


class Segments:
    """The workspace's segments over the engine's models (the same mapping, so that an
    activated model version is read at once), and where entries and exits are sent."""

    def __init__(
        self,
        segments: Sequence[Segment],
        models: Mapping[str, Model],
        notifications: NotificationsSection | None = None,
    ) -> None:
        self.models = models
        self.define(segments, notifications)

    def define(
        self, segments: Sequence[Segment], notifications: NotificationsSection | None = None
    ) -> None:
        """Take these definitions (a segments file read again) and destinations."""
        self.segments = tuple(segments)
        self.by_id = {segment.id: segment for segment in self.segments}
        self.notifications = notifications or NotificationsSection()
        self._by_audience: dict[str, tuple[Segment, ...]] = {}
        for segment in self.segments:
            self._by_audience[segment.audience] = (
                *self._by_audience.get(segment.audience, ()),
                segment,
            )

    @classmethod
    def of(cls, engine: Engine) -> Segments | None:
        """The segments kept current on ``engine`` (:func:`install`), if any."""
        found = engine.services.get("segments")
        return found if isinstance(found, Segments) else None

    def of_audience(self, audience: str) -> tuple[Segment, ...]:
        return self._by_audience.get(audience, ()) if audience in self.models else ()

    # ---------------------------------------------------------------------- refreshing

    def refresh(
        self,
        conn: sa.Connection,
        lead_ids: Iterable[str],
        now: float,
        *,
        sweep: bool = False,
        skip_locked: bool = False,
    ) -> Changes:
        """Evaluate these leads at ``now`` in the caller's transaction: enter and leave
        segments (with their outbox messages), and move each segment's timer for the lead
        to the next change. Refreshing again with nothing new changes nothing. Without
        segments this reads nothing, unless ``sweep``: then the leads leave the segments
        they are still in (the file lost them). With ``skip_locked``, leads another
        transaction is writing (on PostgreSQL) are left to it."""
        changes = Changes()
        if not self.segments and not sweep:
            return changes
        ids = sorted(set(lead_ids))
        for chunk in chunked(conn, ids):
            self._refresh(conn, chunk, now, changes, skip_locked)
        return changes

    def written(self, conn: sa.Connection, result: IngestResult) -> None:
        """:meth:`refresh` of the leads an engine transaction wrote, in it."""
        if result.written:
            self.refresh(conn, result.written, result.now)

    def leads_changed(self, conn: sa.Connection, lead_ids: set[str], now: float) -> None:
        """:meth:`refresh`, as a listener of changes made outside the engine."""
        self.refresh(conn, lead_ids, now)

    def on_timer(self, conn: sa.Connection, due: Due, now: float) -> None:
        """A segment timer is due: the lead's membership may have changed with time. A
        lead being written meanwhile is skipped, not waited for: that writer refreshes it
        (and the timer runner, holding the timer's row, would deadlock with it)."""
        if due.lead_id is not None:
            self.refresh(conn, [due.lead_id], now, skip_locked=True)

    def refresh_all(
        self,
        store: Store,
        now: float,
        *,
        chunk: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> Changes:
        """Refresh every lead, ``chunk`` leads a transaction: after the segments file
        changed. Members of segments no longer defined leave them."""
        with store.engine.connect() as conn:
            total = conn.scalar(sa.select(sa.func.count()).select_from(leads)) or 0
        changes, after = Changes(), ""
        while True:
            with store.transaction() as conn:
                ids = list(
                    conn.scalars(
                        sa.select(leads.c.id)
                        .where(leads.c.id > after)
                        .order_by(leads.c.id)
                        .limit(chunk)
                    )
                )
                if not ids:
                    break
                changes.add(self.refresh(conn, ids, now, sweep=True))
            after = ids[-1]
            if progress is not None:
                progress(changes.leads, total)
        return changes

    def _refresh(
        self,
        conn: sa.Connection,
        ids: Sequence[str],
        now: float,
        changes: Changes,
        skip_locked: bool = False,
    ) -> None:
        # JSON columns come as text and are decoded only where needed: the closed-form
        # engagement columns give the numbers now without the stored state.
        query = (
            sa.select(
                leads.c.id,
                leads.c.person_id,
                leads.c.audience,
                leads.c.stage,
                leads.c.model_digest,
                leads.c.fit,
                leads.c.engagement_anchored,
                leads.c.engagement_static,
                leads.c.engagement_as_of,
                leads.c.score,
                leads.c.grade,
                sa.cast(leads.c.state, sa.Text).label("state"),
                sa.cast(people.c.attributes, sa.Text).label("attributes"),
            )
            .join(people, people.c.id == leads.c.person_id)
            .where(among(conn, leads.c.id, ids))
        )
        if conn.dialect.name == "postgresql":  # one refresh of a lead at a time
            query = query.order_by(leads.c.id).with_for_update(of=leads, skip_locked=skip_locked)
        rows = conn.execute(query).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        current: dict[str, dict[str, float]] = {}
        for segment_id, lead_id, entered_at in conn.execute(
            sa.select(
                segment_members.c.segment, segment_members.c.lead_id, segment_members.c.entered_at
            ).where(among(conn, segment_members.c.lead_id, ids))
        ):
            current.setdefault(lead_id, {})[segment_id] = epoch(entered_at)
        scheduled: dict[str, dict[str, tuple[float, str]]] = {}
        for timer in conn.execute(
            sa.select(timers.c.id, timers.c.lead_id, timers.c.due_at, timers.c.status).where(
                among(conn, timers.c.lead_id, ids), timers.c.kind == TIMER_KIND
            )
        ):
            scheduled.setdefault(timer.lead_id, {})[timer.id] = (epoch(timer.due_at), timer.status)
        history = self._events(conn, rows, now)
        writes = _Writes(now)
        for row in rows:
            changes.leads += 1
            score, grade, verdicts = self._evaluate(row, history, now)
            was = current.get(row.id, {})
            lead = {"id": row.id, "audience": row.audience, "stage": row.stage}
            timed = scheduled.get(row.id, {})
            for segment_id, (member, until) in verdicts.items():
                if member and segment_id not in was:
                    writes.enter(segment_id, lead, score, grade)
                    changes.entered.append((segment_id, row.id))
                elif not member and segment_id in was:
                    writes.leave(segment_id, lead, score, grade, was[segment_id])
                    changes.left.append((segment_id, row.id))
                writes.timer(timer_id(segment_id, row.id), row.id, segment_id, until, timed)
            for segment_id, entered_at in was.items():
                if segment_id not in verdicts:  # no longer defined, or no model for it
                    writes.leave(segment_id, lead, score, grade, entered_at)
                    changes.left.append((segment_id, row.id))
            wanted = {timer_id(segment_id, row.id) for segment_id in verdicts}
            writes.cancel(
                [
                    name
                    for name, (_, status) in timed.items()
                    if name not in wanted and status == "pending"
                ]
            )
        writes.flush(conn, self.notifications)

    def _evaluate(
        self, row: Any, history: Mapping[str, list[tuple[str, Event]]], now: float
    ) -> tuple[float, str, dict[str, tuple[bool, float | None]]]:
        """A lead's score and grade now, and its verdict in each segment of its audience."""
        segments = self.of_audience(row.audience)
        model = self.models.get(row.audience)
        if not segments or model is None:
            return float(row.score), str(row.grade), {}
        needs_attributes = any(segment.attributes for segment in segments)
        attributes: Mapping[str, object] = {}
        if needs_attributes:
            attributes = enrich(json.loads(row.attributes))
        current = row.model_digest == model.digest
        if current and row.engagement_anchored is not None and row.engagement_static is not None:
            as_of = epoch(row.engagement_as_of)
            fit = float(row.fit)
            curve = Curve(
                row.engagement_static,
                row.engagement_anchored * anchor_factor(model, as_of),
                as_of,
                model.decay_rate,
            )
            engagement = engagement_at(
                model, row.engagement_anchored, row.engagement_static, max(now, as_of)
            )
            score, grade = fit + engagement, model.grade(fit, engagement)
        else:  # as leads are shown: the stored state, or none when another version scored it
            state = EngagementState.from_dict(model, json.loads(row.state)) if current else None
            state = state or EngagementState()
            attributes = attributes or enrich(json.loads(row.attributes))
            card = numbers(model, attributes, state, max(now, state.as_of or now))
            fit, curve, score, grade = card.fit, Curve.of(model, state), card.score, card.grade
        marker = json.dumps(row.audience)  # how the audience appears in an event's audiences
        events = [e for audiences, e in history.get(row.person_id, ()) if marker in audiences]
        facts = LeadFacts(model, row.stage, fit, curve, attributes, events)
        verdicts = {}
        for segment in segments:
            member, until = segment.evaluate(facts, now)
            verdicts[segment.id] = (member, until)
        return score, grade, verdicts

    def _events(
        self, conn: sa.Connection, rows: Sequence[Any], now: float
    ) -> dict[str, list[tuple[str, Event]]]:
        """The events the leads' segments count, by person, with the audiences each feeds:
        one query a chunk, only the types the segments name, only as far back as their
        windows reach."""
        persons: set[str] = set()
        types: set[str] = set()
        lookbacks: list[float | None] = []
        for row in rows:
            for segment in self.of_audience(row.audience):
                if segment.events:
                    persons.add(row.person_id)
                    types |= segment.event_types
                    lookbacks.append(segment.lookback)
        found: dict[str, list[tuple[str, Event]]] = {}
        if not persons:
            return found
        filtered = {t for s in self.segments for c in s.events if c.where for t in c.types}
        sqlite = conn.dialect.name == "sqlite"
        query = sa.select(
            events.c.id,
            events.c.person_id,
            events.c.type,
            sa.cast(events.c.occurred_at, sa.Text) if sqlite else events.c.occurred_at,
            sa.cast(events.c.audiences, sa.Text),
            sa.cast(events.c.properties, sa.Text),
        ).where(among(conn, events.c.person_id, sorted(persons)), events.c.type.in_(sorted(types)))
        if None not in lookbacks:
            # A second to spare: an event exactly at the window's edge is evaluated, not
            # left out by the rounding of a stored time.
            since = now - max(lb or 0.0 for lb in lookbacks) - 1.0
            query = query.where(events.c.occurred_at > utc(since))
        for event_id, kind, at, audiences, properties, person in (
            (r[0], r[2], r[3], r[4], r[5], r[1]) for r in conn.execute(query)
        ):
            when = (
                datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() if sqlite else epoch(at)
            )
            # Properties are read only for the types a where filter looks into.
            read = json.loads(properties) if kind in filtered and properties else {}
            found.setdefault(person, []).append((audiences, Event(event_id, kind, when, read)))
        return found

    # ------------------------------------------------------------------------- reading

    def counts(self, conn: sa.Connection) -> dict[str, int]:
        """Members per segment (segments with none are absent)."""
        query = sa.select(segment_members.c.segment, sa.func.count()).group_by(
            segment_members.c.segment
        )
        return {segment: int(count) for segment, count in conn.execute(query)}

    def members(self, conn: sa.Connection, segment_id: str, now: float) -> list[Member]:
        """The segment's members as last refreshed, their numbers valued at ``now``."""
        query = (
            _query()
            .add_columns(segment_members.c.entered_at)
            .join(segment_members, segment_members.c.lead_id == leads.c.id)
            .where(segment_members.c.segment == segment_id)
        )
        found = []
        for row in conn.execute(query):
            model = self.models.get(row.audience)
            if model is not None:
                found.append(Member(_view(row, model, now), epoch(row.entered_at)))
        return found


class _Writes:
    """A refresh's writes, made in a few statements at the end."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.entered_at = utc(now)
        self.joins: list[dict[str, Any]] = []
        self.exits: dict[str, list[str]] = {}
        self.messages: list[tuple[str, str, dict[str, Any]]] = []
        self.new_timers: list[dict[str, Any]] = []
        self.moved_timers: list[dict[str, Any]] = []
        self.cancelled: list[str] = []

    def _message(
        self, kind: str, segment: str, lead: dict[str, str], score: float, grade: str, since: float
    ) -> None:
        # The transition's id: the membership (segment, lead, when it began) and its end.
        event_id = f"{kind}:{segment}:{lead['id']}:{round(since * 1000)}"
        data = {
            "segment": segment,
            "lead_id": lead["id"],
            "audience": lead["audience"],
            "score": round(score, 4),
            "grade": grade,
            "stage": lead["stage"],
        }
        self.messages.append((kind, event_id, data))

    def enter(self, segment: str, lead: dict[str, str], score: float, grade: str) -> None:
        self.joins.append(
            {"segment": segment, "lead_id": lead["id"], "entered_at": self.entered_at}
        )
        self._message("segment.entered", segment, lead, score, grade, epoch(self.entered_at))

    def leave(
        self, segment: str, lead: dict[str, str], score: float, grade: str, entered_at: float
    ) -> None:
        self.exits.setdefault(segment, []).append(lead["id"])
        self._message("segment.left", segment, lead, score, grade, entered_at)

    def cancel(self, names: Iterable[str]) -> None:
        self.cancelled.extend(names)

    def timer(
        self,
        name: str,
        lead_id: str,
        segment: str,
        until: float | None,
        scheduled: Mapping[str, tuple[float, str]],
    ) -> None:
        known = scheduled.get(name)
        if until is None:
            if known is not None and known[1] == "pending":
                self.cancel([name])
            return
        due = until + TIMER_SLACK
        if known is None:
            self.new_timers.append(
                {
                    "id": name,
                    "kind": TIMER_KIND,
                    "lead_id": lead_id,
                    "due_at": utc(due),
                    "payload": {"segment": segment},
                    "status": "pending",
                    "created_at": utc(self.now),
                    "done_at": None,
                }
            )
        elif known[1] != "pending" or abs(known[0] - due) > 1e-3:
            self.moved_timers.append(
                {"id": name, "due_at": utc(due), "status": "pending", "done_at": None}
            )

    def flush(self, conn: sa.Connection, notifications: NotificationsSection) -> None:
        bulk = Bulk(conn)
        for segment, lead_ids in self.exits.items():
            conn.execute(
                sa.delete(segment_members).where(
                    segment_members.c.segment == segment,
                    among(conn, segment_members.c.lead_id, lead_ids),
                )
            )
        bulk.insert(segment_members, self.joins, skip_conflicts_on=("segment", "lead_id"))
        bulk.insert(timers, self.new_timers, skip_conflicts_on="id")
        bulk.update(timers, "id", self.moved_timers)
        if self.cancelled:
            conn.execute(
                sa.update(timers)
                .where(among(conn, timers.c.id, self.cancelled), timers.c.status == "pending")
                .values(status="cancelled", done_at=utc(self.now))
            )
        base = notifications.base_url.rstrip("/")
        changes = [
            outbox.Pending(
                kind,
                event_id,
                data | {"url": f"{base}/v1/leads/{data['lead_id']}"},
                data["lead_id"],
            )
            for kind, event_id, data in self.messages
        ]
        if changes:
            outbox.enqueue_many(conn, notifications, changes, self.now)


# ------------------------------------------------------------------------ wiring, files


def load_segments(
    path: Path,
    models: Mapping[str, Model],
    lists: Mapping[str, Iterable[str]] | None = None,
    notifications: NotificationsSection | None = None,
) -> Segments:
    """The segments of the file at ``path`` (none when it does not exist), checked against
    the workspace's audiences; raises :class:`leadgrade.core.segments.SegmentsError`."""
    found: list[Segment] = []
    if path.is_file():
        found = parse_segments(
            path.read_text(encoding="utf-8"),
            str(path),
            stages=STAGES,
            audiences={audience: model.kind for audience, model in models.items()},
            lists=lists,
        )
    return Segments(found, models, notifications)


def install(
    engine: Engine,
    runner: Timers,
    segments: Segments,
    lead_listeners: list[Callable[[sa.Connection, set[str], float], None]] | None = None,
) -> Segments:
    """Keep ``segments`` current (once per engine, however often asked: a second call
    gives the installed object the new definitions): refresh the leads every engine
    transaction writes, in it, before it commits; and the lead of every segment timer
    that comes due on ``runner``. Changes made outside the engine (sales feedback, stage
    moves) reach it through ``lead_listeners`` (the handoff's). Returns what is installed."""
    found = Segments.of(engine)
    if found is None:
        engine.services["segments"] = segments
        engine.within(segments.written)
        found = segments
    elif found is not segments:
        found.define(segments.segments, segments.notifications)
    runner.on(TIMER_KIND, found.on_timer)
    if lead_listeners is not None and found.leads_changed not in lead_listeners:
        lead_listeners.append(found.leads_changed)
    return found


# ----------------------------------------------------------------------------- export


def email_sha256(email: str) -> str:
    """The SHA-256 (hex) of an e-mail trimmed and lower-cased: the form Meta, Google and
    LinkedIn custom audiences match on."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


CSV_COLUMNS = ("lead_id", "audience", "score", "grade", "stage", "entered_at", "email_sha256")


def write_csv(members: Iterable[Member], handle: IO[str], *, plain: bool = False) -> None:
    """Members as CSV for an ad platform: the e-mail hashed, or as is with ``plain``."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS[:-1], "email" if plain else CSV_COLUMNS[-1]])
    for member in members:
        lead, email = member.lead, member.lead.email
        shown = "" if not email else (email.strip() if plain else email_sha256(email))
        writer.writerow(
            [
                lead.id,
                lead.audience,
                f"{lead.card.score:.2f}",
                lead.card.grade,
                lead.stage,
                _iso(member.entered_at),
                shown,
            ]
        )


def _iso(seconds: float) -> str:
    return utc(seconds).isoformat().replace("+00:00", "Z")

"""The handoff service: what happens to a lead once it is an MQL (DESIGN §7).

It rides on the engine's transactions (:meth:`Engine.within`): the moment a lead becomes
an MQL, in the same transaction, it is routed to an owner (``assignments``), its
first-touch SLA clock is set (a timer at the due instant), and a ``lead.mql`` message is
queued in the outbox. Nothing here polls every lead: breaches and re-engagements are
timers that fire at their instant (:class:`leadgrade.handoff.timers.Timers`).

Sales answer through :meth:`Handoff.touch` (a call, e-mail, SMS or meeting: the first one
stops the SLA clock) and :meth:`Handoff.decide` (accept, qualify, reject, disqualify).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.core.attributes import enrich
from leadgrade.engine import (
    AccountBecameMQA,
    Engine,
    IngestResult,
    LeadBecameMQL,
    MQLExpired,
)
from leadgrade.handoff import outbox, timers
from leadgrade.handoff.routing import Rep, Routing
from leadgrade.leads import StageMove, get_lead, get_leads, move_stages
from leadgrade.settings import NotificationsSection
from leadgrade.store.bulk import Bulk, among, chunked
from leadgrade.store.schema import (
    accounts,
    assignments,
    feedback,
    leads,
    people,
    routing_cursors,
    touches,
)
from leadgrade.store.schema import timers as timers_table
from leadgrade.times import epoch, utc

logger = logging.getLogger(__name__)

TOUCH_KINDS = ("call", "email", "sms", "meeting")
DECISIONS = {
    # decision: (stages it may be taken from, the stage it moves to)
    "accept": (("mql",), "sal"),
    "qualify": (("mql", "sal"), "sql"),
    "reject": (("mql", "sal"), "recycled"),
    "disqualify": (("lead", "mql", "sal", "sql", "opportunity", "recycled"), "disqualified"),
}
OPEN_STAGES = ("mql", "sal")  # an owner's open MQLs, what capacity counts


class HandoffError(ValueError):
    """A request the handoff refuses; ``field`` names what was wrong, ``status`` the HTTP
    status an API answers with (404 unknown lead, 409 a decision the stage does not
    allow, 422 a bad value)."""

    def __init__(self, message: str, *, field: str = "", status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Routed:
    owner: Rep | None
    team: str
    rule: str
    reason: str


@dataclass
class Decision:
    id: str
    lead_id: str
    decision: str
    reason: str | None
    from_stage: str
    to_stage: str
    at: float
    replayed: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Touch:
    id: str
    lead_id: str
    kind: str
    at: float
    first: bool  # the first touch since the assignment: it stopped the SLA clock
    replayed: bool = False


class Handoff:
    """Routing, SLA clocks, feedback and re-engagement over one engine."""

    def __init__(
        self,
        engine: Engine,
        routing: Routing,
        notifications: NotificationsSection | None = None,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.routing = routing
        self.notifications = notifications or NotificationsSection()
        self.timers = timers.Timers(
            self.store,
            {"sla": self._sla_due, "reengage": self._reengagement_due, "daily": self._daily_due},
        )
        self._daily: dict[str, Callable[[sa.Connection, float], object]] = {}
        #: Called with (conn, lead ids, now) inside a transaction that changed leads
        #: outside the engine (feedback, stage moves): segments keep current through it.
        self.lead_listeners: list[Callable[[sa.Connection, set[str], float], None]] = []
        if "handoff" in engine.services:
            raise ValueError("this engine has a handoff already: use Handoff.of(engine)")
        engine.services["handoff"] = self
        engine.within(self._after_write)

    @classmethod
    def of(cls, engine: Engine) -> Handoff | None:
        """The handoff riding on ``engine``, if one does."""
        found = engine.services.get("handoff")
        return found if isinstance(found, Handoff) else None

    # ------------------------------------------------------------------ scheduling

    def tick(self, now: float) -> dict[str, int]:
        """Expire due MQLs and fire due timers (SLA breaches, re-engagements, segment
        windows, the daily jobs): what ``serve``'s scheduler and ``leadgrade tick`` run."""
        expired = self.engine.tick(now)
        if self._daily:
            day = utc(now).date().isoformat()
            with self.store.transaction() as conn:
                for name in self._daily:  # one timer a job a day: the id says which day
                    timers.schedule(
                        conn, f"daily:{name}:{day}", "daily", now, now, payload={"job": name}
                    )
        fired = self.timers.run(now)
        return {"expired": len(expired), "timers": fired}

    def daily(self, name: str, job: Callable[[sa.Connection, float], object]) -> None:
        """Run ``job(conn, now)`` once a day from the scheduler (the first tick of each UTC
        day), in the transaction that marks its timer done: the retention job."""
        self._daily[name] = job

    def _daily_due(self, conn: sa.Connection, due: timers.Due, now: float) -> None:
        job = self._daily.get(str(due.payload.get("job")))
        if job is not None:
            job(conn, now)

    # --------------------------------------------------------------- engine changes

    def _after_write(self, conn: sa.Connection, result: IngestResult) -> None:
        now = result.now
        mqls = [c for c in result.domain_events if isinstance(c, LeadBecameMQL)]
        notes: list[Note] = []
        if mqls:
            made: dict[str, dict[str, Any]] = {}
            if self.routing.reps:  # no routing.yaml: nobody to route to, only messages
                lead_ids = [c.lead_id for c in mqls]
                routed = self.route_all(conn, lead_ids, now)
                grades = {c.lead_id: c.grade for c in mqls}
                made = self._assign_all(conn, routed, grades, now, "engine")
            notes += [
                Note("lead.mql", f"mql:{c.lead_id}:{c.at}", c.lead_id, made.get(c.lead_id))
                for c in mqls
            ]
        for change in result.domain_events:
            if isinstance(change, MQLExpired):
                timers.cancel_for_lead(conn, change.lead_id, "sla", now)
                notes.append(
                    Note(
                        "lead.mql_expired", f"expired:{change.lead_id}:{change.at}", change.lead_id
                    )
                )
            elif isinstance(change, AccountBecameMQA):
                data = {
                    "account_id": change.account_id,
                    "audience": change.audience,
                    "score": round(change.score, 2),
                    "grade": change.grade,
                    "url": f"{self._base}/v1/accounts/{change.account_id}",
                }
                outbox.enqueue(
                    conn,
                    self.notifications,
                    "account.mqa",
                    f"mqa:{change.account_id}:{change.at}",
                    data,
                    now,
                )
        self._notify(conn, notes, now)
        if result.touches:
            self._touches_from_events(conn, result.touches, now)

    # --------------------------------------------------------------------- routing

    def route_all(
        self,
        conn: sa.Connection,
        lead_ids: Sequence[str],
        now: float,
        *,
        exclude: Mapping[str, str] | None = None,
    ) -> dict[str, Routed]:
        """Who should own each lead, in order: the first rule that matches names a team
        (or the account's owner), round-robin within it skips reps away or at capacity;
        a team with nobody free gives way to the fallback team. ``exclude`` maps a lead
        to a rep it must not go to (the one who let its SLA lapse). The teams' rotation
        is read once, locked, and written back once."""
        facts: dict[str, Any] = {}
        for chunk in chunked(conn, sorted(set(lead_ids))):
            for row in conn.execute(
                sa.select(
                    leads.c.id,
                    leads.c.audience,
                    leads.c.account_id,
                    people.c.attributes,
                    accounts.c.owner,
                )
                .join(people, people.c.id == leads.c.person_id)
                .outerjoin(accounts, accounts.c.id == leads.c.account_id)
                .where(among(conn, leads.c.id, chunk))
            ):
                facts[row.id] = row
        rotation = self._rotation(conn, now)
        routed = {}
        for lead_id in lead_ids:
            row = facts[lead_id]
            owner = rotation.account_owners.get(row.account_id, row.owner)
            choice = self._route(
                rotation, row.audience, enrich(row.attributes), owner, (exclude or {}).get(lead_id)
            )
            if choice.owner is not None:
                rotation.counts[choice.owner.id] = rotation.counts.get(choice.owner.id, 0) + 1
                if row.account_id is not None and owner is None:
                    rotation.account_owners[row.account_id] = choice.owner.id
            routed[lead_id] = choice
        rotation.save(conn)
        return routed

    def _route(
        self,
        rotation: _Rotation,
        audience: str,
        attributes: Mapping[str, Any],
        account_owner: str | None,
        exclude: str | None,
    ) -> Routed:
        routing = self.routing
        for rule in routing.rules:
            if not rule.matches(audience, attributes, account_owner):
                continue
            if rule.account_owner:
                rep = routing.reps.get(account_owner or "")
                if rep is not None and rep.id != exclude and rotation.free(rep):
                    team = routing.team_of(rep.id) or ""
                    return Routed(rep, team, rule.id, f"rule {rule.id}: the account's owner")
                continue
            assert rule.team is not None
            rep = rotation.next_in(rule.team, exclude)
            if rep is not None:
                return Routed(rep, rule.team, rule.id, f"rule {rule.id}: team {rule.team}")
            break  # the matched team has nobody free: the fallback team
        if routing.fallback is not None:
            rep = rotation.next_in(routing.fallback, exclude)
            if rep is not None:
                return Routed(
                    rep, routing.fallback, "fallback", f"fallback team {routing.fallback}"
                )
        return Routed(None, routing.fallback or "", "none", "nobody free to take it")

    def _rotation(self, conn: sa.Connection, now: float) -> _Rotation:
        """The teams' round-robin positions (locked on PostgreSQL, so concurrent writers
        share one rotation) and the open MQLs of reps with a capacity."""
        teams = sorted(self.routing.teams)
        Bulk(conn).insert(
            routing_cursors,
            [{"team": team, "last_member": None} for team in teams],
            skip_conflicts_on="team",
        )
        query = sa.select(routing_cursors).order_by(routing_cursors.c.team)
        if self.store.dialect == "postgresql":
            query = query.with_for_update()
        cursors = {row.team: row.last_member for row in conn.execute(query)}
        capped = [r.id for r in self.routing.reps.values() if r.spec.capacity is not None]
        counts = self._open_counts(conn, capped) if capped else {}
        return _Rotation(self.routing, now, cursors, counts)

    def _open_counts(self, conn: sa.Connection, owners: Sequence[str]) -> dict[str, int]:
        rows = conn.execute(
            sa.select(leads.c.owner, sa.func.count())
            .where(leads.c.owner.in_(list(owners)), leads.c.stage.in_(OPEN_STAGES))
            .group_by(leads.c.owner)
        )
        return {owner: int(count) for owner, count in rows}

    def _assign_all(
        self,
        conn: sa.Connection,
        routed: Mapping[str, Routed],
        grades: Mapping[str, str],
        now: float,
        actor: str,
    ) -> dict[str, dict[str, Any]]:
        """Record assignments and start their SLA clocks, in a few statements whatever
        their number; returns each lead's assignment row."""
        rows: list[dict[str, Any]] = []
        for lead_id, choice in routed.items():
            owner = choice.owner.id if choice.owner is not None else None
            due = None if owner is None else self.routing.due_at(grades[lead_id], choice.team, now)
            rows.append(
                {
                    "lead_id": lead_id,
                    "owner": owner or "",
                    "team": choice.team,
                    "rule": choice.rule,
                    "at": utc(now),
                    "actor": actor,
                    "reason": choice.reason,
                    "due_at": None if due is None else utc(due),
                    "touched_at": None,
                    "breached_at": None,
                }
            )
        if not rows:
            return {}
        ids = conn.execute(
            sa.insert(assignments).returning(assignments.c.id, sort_by_parameter_order=True),
            rows,
        ).scalars()
        made = {str(row["lead_id"]): row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)}
        Bulk(conn).update(
            leads, "id", [{"id": r["lead_id"], "owner": r["owner"] or None} for r in rows]
        )
        firsts: dict[str, str] = {}
        for lead_id, choice in routed.items():
            if choice.owner is not None:
                firsts.setdefault(lead_id, choice.owner.id)
        if firsts:
            account_of = sa.select(leads.c.account_id).where(leads.c.id == sa.bindparam("l_id"))
            conn.execute(
                sa.update(accounts)
                .where(accounts.c.id == account_of.scalar_subquery(), accounts.c.owner.is_(None))
                .values(owner=sa.bindparam("l_owner")),
                [{"l_id": lead_id, "l_owner": owner} for lead_id, owner in firsts.items()],
            )
        lead_ids = list(made)
        for chunk in chunked(conn, lead_ids):
            conn.execute(
                sa.update(timers_table)
                .where(
                    among(conn, timers_table.c.lead_id, chunk),
                    timers_table.c.kind == "sla",
                    timers_table.c.status == "pending",
                )
                .values(status="cancelled", done_at=utc(now))
            )
        clocks = [
            {
                "id": f"sla:{row['id']}",
                "kind": "sla",
                "lead_id": row["lead_id"],
                "due_at": row["due_at"],
                "payload": {"assignment": row["id"]},
                "status": "pending",
                "created_at": utc(now),
                "done_at": None,
            }
            for row in made.values()
            if row["due_at"] is not None
        ]
        Bulk(conn).insert(timers_table, clocks, skip_conflicts_on="id")
        return made

    def reassign(
        self, lead_id: str, owner: str | None, now: float, *, actor: str, reason: str = ""
    ) -> dict[str, Any]:
        """Give a lead to ``owner`` (a rep id), or route it afresh when None, with a new
        SLA clock."""
        with self.store.transaction() as conn:
            lead = self._lead(conn, lead_id, now)
            if owner is None:
                routed = self.route_all(conn, [lead_id], now)[lead_id]
            else:
                rep = self.routing.reps.get(owner)
                if rep is None:
                    known = ", ".join(sorted(self.routing.reps)) or "none"
                    raise HandoffError(
                        f"no rep {owner!r} in routing.yaml (known: {known})", field="owner"
                    )
                team = self.routing.team_of(owner) or ""
                routed = Routed(rep, team, "manual", reason or f"assigned by {actor}")
            made = self._assign_all(conn, {lead_id: routed}, {lead_id: lead.card.grade}, now, actor)
            assignment = made[lead_id]
            audit.record(
                conn,
                actor,
                "lead.assigned",
                lead_id,
                {"owner": assignment["owner"], "team": assignment["team"], "reason": reason},
                now,
            )
            note = Note(
                "lead.assigned", f"assigned:{lead_id}:{assignment['id']}", lead_id, assignment
            )
            self._notify(conn, [note], now)
            self._changed(conn, {lead_id}, now)
        return assignment

    def roster(self, conn: sa.Connection, now: float) -> dict[str, Any]:
        """Teams and reps as routing sees them at ``now``: open MQLs, capacity, away."""
        counts = self._open_counts(conn, list(self.routing.reps)) if self.routing.reps else {}
        teams = []
        for team in self.routing.teams.values():
            today = self.routing.today(team.id, now)
            teams.append(
                {
                    "id": team.id,
                    "manager": team.manager,
                    "members": [
                        self.routing.reps[m].card()
                        | {
                            "open": counts.get(m, 0),
                            "capacity": self.routing.reps[m].spec.capacity,
                            "away": self.routing.reps[m].away_on(today),
                        }
                        for m in team.members
                    ],
                }
            )
        return {
            "teams": teams,
            "rules": [rule.id for rule in self.routing.rules],
            "fallback": self.routing.fallback,
        }

    # ------------------------------------------------------------------------ SLA

    def _sla_due(self, conn: sa.Connection, due: timers.Due, now: float) -> None:
        """An SLA clock ran out: a breach, unless the lead was touched or left the open
        stages meanwhile. The manager is told; per configuration the lead is reassigned
        to the team's next rep, with a new clock (once: a second breach only tells)."""
        row = conn.execute(
            sa.select(assignments, leads.c.stage, leads.c.owner.label("current_owner"))
            .join(leads, leads.c.id == assignments.c.lead_id)
            .where(assignments.c.id == due.payload["assignment"])
        ).one_or_none()
        if row is None or row.touched_at is not None or row.stage not in OPEN_STAGES:
            return
        if row.current_owner != row.owner:  # reassigned meanwhile: that clock counts
            return
        conn.execute(
            sa.update(assignments)
            .where(assignments.c.id == row.id)
            .values(breached_at=utc(due.due_at))
        )
        team = self.routing.teams.get(row.team)
        reassigned = None
        # Reassigned once an episode: a lead nobody in the team touches is the manager's
        # to sort out, not to bounce between reps every time a clock runs out.
        if team is not None and team.reassign_on_breach and row.rule != "breach":
            rotation = self._rotation(conn, now)
            next_rep = rotation.next_in(row.team, row.owner)
            rotation.save(conn)
            if next_rep is not None:
                lead = self._lead(conn, row.lead_id, now)
                routed = Routed(
                    next_rep, row.team, "breach", f"SLA breached by {row.owner}: reassigned"
                )
                reassigned = self._assign_all(
                    conn, {row.lead_id: routed}, {row.lead_id: lead.card.grade}, now, "engine"
                )[row.lead_id]
        extra = {
            "due_at": utc(due.due_at).isoformat(),
            "breached_owner": self._rep_card(row.owner),
            "reassigned_to": None if reassigned is None else self._rep_card(reassigned["owner"]),
        }
        if self.routing.sla.notify_manager:
            extra["manager"] = self._manager_card(row.team)
        note = Note(
            "lead.sla_breached",
            f"breach:{row.id}",
            row.lead_id,
            reassigned or dict(row._mapping),
            extra,
        )
        self._notify(conn, [note], now)

    def sla(self, conn: sa.Connection, lead_id: str, now: float) -> dict[str, Any] | None:
        """A lead's owner and SLA clock as the API shows them; None when never assigned."""
        row = conn.execute(
            sa.select(assignments)
            .where(assignments.c.lead_id == lead_id)
            .order_by(assignments.c.id.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            return None
        due = None if row.due_at is None else epoch(row.due_at)
        touched = None if row.touched_at is None else epoch(row.touched_at)
        stage = conn.scalar(sa.select(leads.c.stage).where(leads.c.id == lead_id))
        if due is None:
            status = "none"
        elif touched is not None:
            status = "met" if touched <= due else "late"
        elif row.breached_at is not None:
            status = "breached"
        elif stage not in OPEN_STAGES:  # rejected, disqualified, expired: the clock stopped
            status = "stopped"
        elif now > due:
            status = "breached"  # due, and the timer has not fired yet
        else:
            status = "running"
        cadence = self._cadence(conn, lead_id, epoch(row.at))
        return {
            "owner": row.owner or None,
            "team": row.team,
            "rule": row.rule,
            "assigned_at": utc(epoch(row.at)).isoformat(),
            "due_at": None if due is None else utc(due).isoformat(),
            "touched_at": None if touched is None else utc(touched).isoformat(),
            "status": status,
            "seconds_left": round(due - now, 1) if status == "running" and due else None,
            "cadence": cadence,
        }

    def _cadence(self, conn: sa.Connection, lead_id: str, since: float) -> dict[str, Any]:
        spec = self.routing.sla.cadence
        ends = since + spec.within
        done = conn.scalar(
            sa.select(sa.func.count())
            .select_from(touches)
            .where(
                touches.c.lead_id == lead_id,
                touches.c.at >= utc(since),
                touches.c.at <= utc(ends),
            )
        )
        return {
            "touches": int(done or 0),
            "target": spec.touches,
            "window_ends": utc(ends).isoformat(),
            "on_track": int(done or 0) >= spec.touches,
        }

    # --------------------------------------------------------------------- touches

    def touch(
        self,
        lead_id: str,
        kind: str,
        at: float,
        now: float,
        *,
        actor: str,
        source: str = "api",
        note: str | None = None,
        touch_id: str | None = None,
    ) -> Touch:
        """Record a touch; the first since the lead's assignment stops its SLA clock.
        ``touch_id`` is the idempotency key: a replay changes nothing."""
        if kind not in TOUCH_KINDS:
            raise HandoffError(
                f"{kind!r} is not a touch; use one of {', '.join(TOUCH_KINDS)}", field="kind"
            )
        if at > now + 300:
            raise HandoffError("a touch cannot be in the future", field="at")
        with self.store.transaction() as conn:
            self._lead_row(conn, lead_id)
            if touch_id is not None:
                stored = conn.execute(sa.select(touches).where(touches.c.id == touch_id)).first()
                if stored is not None:
                    if stored.lead_id != lead_id:
                        raise HandoffError(
                            f"touch id {touch_id!r} belongs to another lead",
                            field="id",
                            status=409,
                        )
                    return Touch(stored.id, lead_id, stored.kind, epoch(stored.at), False, True)
            made = self.record_touch(
                conn,
                touch_id or f"touch_{uuid.uuid4().hex}",
                lead_id,
                kind,
                at,
                now,
                actor,
                source,
                note,
            )
            self._changed(conn, {lead_id}, now)
        return made

    def record_touch(
        self,
        conn: sa.Connection,
        touch_id: str,
        lead_id: str,
        kind: str,
        at: float,
        now: float,
        actor: str,
        source: str,
        note: str | None,
    ) -> Touch:
        """Record a touch in the caller's transaction (its id must be new); the first
        since the lead's assignment stops the SLA clock."""
        conn.execute(
            sa.insert(touches).values(
                id=touch_id,
                lead_id=lead_id,
                kind=kind,
                at=utc(at),
                actor=actor,
                source=source,
                note=note,
            )
        )
        current = conn.execute(
            sa.select(assignments.c.id, assignments.c.at, assignments.c.touched_at)
            .where(assignments.c.lead_id == lead_id)
            .order_by(assignments.c.id.desc())
            .limit(1)
        ).one_or_none()
        first = (
            current is not None and current.touched_at is None and at >= epoch(current.at) - 1e-6
        )
        if first:
            assert current is not None
            conn.execute(
                sa.update(assignments)
                .where(assignments.c.id == current.id)
                .values(touched_at=utc(at))
            )
            timers.cancel(conn, f"sla:{current.id}", now)
        return Touch(touch_id, lead_id, kind, at, first)

    def _touches_from_events(
        self, conn: sa.Connection, stored: Sequence[Mapping[str, Any]], now: float
    ) -> None:
        """Touches logged in the CRM or ATS arrive as events ``touch.call``,
        ``touch.email``, ``touch.sms``, ``touch.meeting``; each touches the person's leads
        of the event's audiences (of every audience when it names none)."""
        persons = sorted({row["person_id"] for row in stored})
        by_person: dict[str, dict[str, str]] = {}
        for person, audience, lead_id in conn.execute(
            sa.select(leads.c.person_id, leads.c.audience, leads.c.id).where(
                among(conn, leads.c.person_id, persons)
            )
        ):
            by_person.setdefault(person, {})[audience] = lead_id
        changed = set()
        for row in stored:
            kind = row["type"].removeprefix("touch.")
            if kind not in TOUCH_KINDS:
                continue
            mine = by_person.get(row["person_id"], {})
            wanted = row["audiences"] or list(mine)
            actor = str(row["properties"].get("actor") or row["source"] or "crm")
            for audience in wanted:
                lead_id = mine.get(audience)
                if lead_id is None:
                    continue
                touch_id = f"{row['id']}:{audience}" if len(wanted) > 1 else row["id"]
                exists = conn.scalar(sa.select(touches.c.id).where(touches.c.id == touch_id))
                if exists is None:
                    at = epoch(row["occurred_at"])
                    self.record_touch(
                        conn,
                        touch_id,
                        lead_id,
                        kind,
                        at,
                        now,
                        actor[:200],
                        row["source"] or "crm",
                        None,
                    )
                    changed.add(lead_id)

    # -------------------------------------------------------------------- feedback

    def decide(
        self,
        lead_id: str,
        decision: str,
        now: float,
        *,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        decision_id: str | None = None,
    ) -> Decision:
        """Sales' answer on a lead: ``accept`` (→ sal), ``qualify`` (→ sql), ``reject``
        with a reason code (→ recycled, with a cool-down before it can be an MQL again),
        ``disqualify``. Recorded on the lead's timeline and in ``feedback`` for the
        analytics; ``decision_id`` makes a retry harmless."""
        if decision not in DECISIONS:
            raise HandoffError(
                f"{decision!r} is not a decision; use one of {', '.join(DECISIONS)}",
                field="decision",
            )
        spec = self.routing.feedback
        details = dict(details or {})
        with self.store.transaction() as conn:
            if decision_id is not None:
                stored = conn.execute(
                    sa.select(feedback).where(feedback.c.id == decision_id)
                ).first()
                if stored is not None:
                    if stored.lead_id != lead_id or stored.decision != decision:
                        raise HandoffError(
                            f"decision id {decision_id!r} was used for another decision",
                            field="id",
                            status=409,
                        )
                    return Decision(
                        stored.id,
                        lead_id,
                        stored.decision,
                        stored.reason,
                        stored.from_stage,
                        stored.to_stage,
                        epoch(stored.at),
                        True,
                        stored.details,
                    )
            lead = self._lead(conn, lead_id, now)
            allowed, to_stage = DECISIONS[decision]
            if lead.stage not in allowed:
                raise HandoffError(
                    f"cannot {decision} a lead in stage {lead.stage!r} "
                    f"(only from {', '.join(allowed)})",
                    field="decision",
                    status=409,
                )
            if decision == "reject":
                self._check_reason(reason, spec.reject_reasons)
            elif decision == "disqualify":
                self._check_reason(reason, spec.disqualify_reasons)
            elif decision == "qualify":
                missing = [
                    name
                    for name in spec.qualify_requires.get(lead.audience, [])
                    if details.get(name) in (None, "", False)
                ]
                if missing:
                    raise HandoffError(
                        f"qualifying a {lead.audience} lead needs {', '.join(missing)} in details",
                        field="details." + missing[0],
                    )
            made = Decision(
                decision_id or f"fb_{uuid.uuid4().hex}",
                lead_id,
                decision,
                reason,
                lead.stage,
                to_stage,
                now,
                details=details,
            )
            conn.execute(
                sa.insert(feedback).values(
                    id=made.id,
                    lead_id=lead_id,
                    decision=decision,
                    reason=reason,
                    details=details,
                    from_stage=lead.stage,
                    to_stage=to_stage,
                    actor=actor,
                    at=utc(now),
                    grade=lead.card.grade,
                    score=lead.card.score,
                )
            )
            words = {
                "accept": "accepted",
                "qualify": "qualified",
                "reject": "rejected",
                "disqualify": "disqualified",
            }[decision]
            text = words + (f": {reason}" if reason else "")
            if details.get("note"):
                text += f" ({details['note']})"
            move_stages(conn, [StageMove(lead_id, to_stage, actor, text, now)])
            audit.record(
                conn,
                actor,
                "lead.feedback",
                lead_id,
                {"decision": decision, "reason": reason, "from": lead.stage, "to": to_stage},
                now,
            )
            values: dict[str, Any] = {"mql_expires_at": None}
            if decision == "reject":
                values["mql_blocked_until"] = utc(now + spec.cooldown)
            conn.execute(sa.update(leads).where(leads.c.id == lead_id).values(values))
            if decision in ("reject", "disqualify"):
                timers.cancel_for_lead(conn, lead_id, "sla", now)
            self._notify1(
                conn,
                "lead.feedback",
                f"feedback:{made.id}",
                lead_id,
                now,
                extra={
                    "decision": decision,
                    "reason": reason,
                    "actor": actor,
                    "from_stage": lead.stage,
                },
            )
            self._changed(conn, {lead_id}, now)
        return made

    def _check_reason(self, reason: str | None, allowed: Sequence[str]) -> None:
        if reason is None or reason not in allowed:
            what = "a reason code" if reason is None else f"{reason!r} is not a reason code"
            raise HandoffError(
                f"{what}; use one of {', '.join(allowed)} (routing.yaml feedback)",
                field="reason",
            )

    # -------------------------------------------------------------- stage moves

    def move(
        self,
        lead_id: str,
        stage: str,
        now: float,
        *,
        actor: str,
        reason: str,
        placement_start: float | None = None,
        contract_end: float | None = None,
    ) -> str:
        """Move a lead by hand (or from the CRM/ATS), with a history row; a candidate
        moved to ``won`` (placed) is scheduled for re-engagement. Returns the stage left."""
        with self.store.transaction() as conn:
            self._lead_row(conn, lead_id)
            left = move_stages(conn, [StageMove(lead_id, stage, actor, reason, now)])[0]
            moved = {"from": left, "to": stage, "reason": reason}
            audit.record(conn, actor, "lead.stage_moved", lead_id, moved, now)
            if stage != "mql":
                conn.execute(
                    sa.update(leads).where(leads.c.id == lead_id).values(mql_expires_at=None)
                )
            if stage == "won":
                self.placed(conn, lead_id, placement_start or now, contract_end, now)
            elif stage in ("recycled", "disqualified", "lead"):
                timers.cancel_for_lead(conn, lead_id, "sla", now)
            if left != stage:
                self._notify1(
                    conn,
                    "lead.stage_changed",
                    f"stage:{lead_id}:{now}:{stage}",
                    lead_id,
                    now,
                    extra={"from_stage": left, "actor": actor, "reason": reason},
                )
            self._changed(conn, {lead_id}, now)
        return left

    def placed(
        self,
        conn: sa.Connection,
        lead_id: str,
        start: float,
        contract_end: float | None,
        now: float,
    ) -> float | None:
        """Schedule a placed candidate's re-engagement: ``after_start`` after the
        placement starts, or ``before_end`` before a known contract end, whichever the
        firm configured applies (the contract end wins when known). Returns the time."""
        spec = self.routing.reengagement
        audience = conn.scalar(sa.select(leads.c.audience).where(leads.c.id == lead_id))
        if not spec.enabled or audience != spec.audience:
            return None
        due = (
            contract_end - spec.before_end
            if contract_end is not None
            else start + (spec.after_start)
        )
        due = max(due, now)
        timers.schedule(
            conn,
            f"reengage:{lead_id}",
            "reengage",
            due,
            now,
            lead_id=lead_id,
            payload={
                "placement_start": utc(start).isoformat(),
                "contract_end": None if contract_end is None else utc(contract_end).isoformat(),
            },
            replace=True,
        )
        return due

    def _reengagement_due(self, conn: sa.Connection, due: timers.Due, now: float) -> None:
        """A placed candidate is due: back into the funnel (stage ``lead``, so their next
        engagement can make them an MQL), and their recruiter is told."""
        lead_id = due.lead_id or ""
        stage = conn.scalar(sa.select(leads.c.stage).where(leads.c.id == lead_id))
        if stage != "won":  # moved on by hand meanwhile
            return
        start = str(due.payload.get("placement_start", ""))[:10]
        end = due.payload.get("contract_end")
        why = f"re-engagement due: placed {start}" + (
            f", contract ends {str(end)[:10]}" if end else ""
        )
        move_stages(conn, [StageMove(lead_id, "lead", "engine", why, due.due_at)])
        conn.execute(sa.update(leads).where(leads.c.id == lead_id).values(mql_blocked_until=None))
        self._notify1(
            conn,
            "lead.reengagement_due",
            f"reengage:{lead_id}:{due.due_at}",
            lead_id,
            now,
            extra={"placement_start": due.payload.get("placement_start"), "contract_end": end},
        )
        self._changed(conn, {lead_id}, now)

    # ------------------------------------------------------------------- helpers

    @property
    def _base(self) -> str:
        return self.notifications.base_url.rstrip("/")

    def _lead_row(self, conn: sa.Connection, lead_id: str) -> Any:
        query = sa.select(leads.c.id, leads.c.stage).where(leads.c.id == lead_id)
        if self.store.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise HandoffError(f"no lead {lead_id!r}", field="lead", status=404)
        return row

    def _lead(self, conn: sa.Connection, lead_id: str, now: float) -> Any:
        self._lead_row(conn, lead_id)
        view = get_lead(conn, self.engine.models, lead_id, now)
        if view is None:
            raise HandoffError(f"no lead {lead_id!r}", field="lead", status=404)
        return view

    def _rep_card(self, rep_id: str | None) -> dict[str, Any] | None:
        rep = self.routing.reps.get(rep_id or "")
        if rep is not None:
            return rep.card()
        return None if not rep_id else {"id": rep_id, "name": rep_id}

    def _manager_card(self, team: str | None) -> dict[str, Any] | None:
        manager = self.routing.manager_of(team)
        return None if manager is None else manager.card()

    def _notify1(
        self,
        conn: sa.Connection,
        event_type: str,
        event_id: str,
        lead_id: str,
        now: float,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._notify(conn, [Note(event_type, event_id, lead_id, None, extra)], now)

    def _notify(self, conn: sa.Connection, notes: Sequence[Note], now: float) -> None:
        """Queue messages about leads: ids, numbers, reasons, owner and a link — never a
        lead's personal data (DESIGN §9). A note without its assignment gets the lead's
        latest one. A few queries whatever the number of notes."""
        if not notes or not self.notifications.destinations():
            return
        ids = sorted({note.lead_id for note in notes})
        views = {view.id: view for view in get_leads(conn, self.engine.models, ids, now)}
        missing = sorted({n.lead_id for n in notes if n.assignment is None})
        latest: dict[str, Any] = {}
        for chunk in chunked(conn, missing):
            for row in conn.execute(
                sa.select(assignments)
                .where(among(conn, assignments.c.lead_id, chunk))
                .order_by(assignments.c.id)
            ).mappings():
                latest[row["lead_id"]] = row
        messages = []
        for note in notes:
            view = views.get(note.lead_id)
            if view is None:
                continue
            assignment = note.assignment or latest.get(note.lead_id)
            owner = team = rule = due = None
            if assignment is not None:
                owner, team = assignment["owner"] or None, assignment["team"]
                rule, due = assignment["rule"], assignment["due_at"]
            data = {
                "lead_id": note.lead_id,
                "audience": view.audience,
                "score": round(view.card.score, 2),
                "fit": round(view.card.fit, 2),
                "engagement": round(view.card.engagement, 2),
                "grade": view.card.grade,
                "stage": view.stage,
                "reasons": [
                    {
                        "rule": c.rule_id,
                        "points": round(c.points, 2),
                        "why": c.description or c.rule_id,
                    }
                    for c in view.card.reasons(3)
                ],
                "owner": self._rep_card(owner),
                "manager": self._manager_card(team),
                "team": team,
                "rule": rule,
                "sla_due_at": None if due is None else utc(epoch(due)).isoformat(),
                "url": f"{self._base}/v1/leads/{note.lead_id}",
            }
            data.update(note.extra or {})
            messages.append(outbox.Pending(note.event_type, note.event_id, data, note.lead_id))
        outbox.enqueue_many(conn, self.notifications, messages, now)

    def _changed(self, conn: sa.Connection, lead_ids: set[str], now: float) -> None:
        for listener in self.lead_listeners:
            listener(conn, lead_ids, now)


@dataclass(frozen=True)
class Note:
    """A message to queue about a lead (its data is filled in by ``_notify``)."""

    event_type: str
    event_id: str
    lead_id: str
    assignment: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None


class _Rotation:
    """The teams' round-robin positions and reps' open MQLs within one transaction."""

    def __init__(
        self,
        routing: Routing,
        now: float,
        cursors: dict[str, str | None],
        counts: dict[str, int],
    ) -> None:
        self.routing = routing
        self.cursors = cursors
        self.counts = counts
        self.moved: set[str] = set()
        self.account_owners: dict[str, str] = {}
        self.days = {team: routing.today(team, now) for team in routing.teams}
        self.today = routing.today(None, now)

    def free(self, rep: Rep) -> bool:
        """Not away today (in their team's time zone) and under capacity."""
        if rep.away_on(self.days.get(self.routing.team_of(rep.id) or "", self.today)):
            return False
        capacity = rep.spec.capacity
        return capacity is None or self.counts.get(rep.id, 0) < capacity

    def next_in(self, team_id: str, exclude: str | None) -> Rep | None:
        """The team's next rep in turn who is free, advancing its position."""
        team = self.routing.teams[team_id]
        members = list(team.members)
        last = self.cursors.get(team_id)
        start = members.index(last) + 1 if last in members else 0
        for member in members[start:] + members[:start]:
            rep = self.routing.reps[member]
            if member == exclude or rep.away_on(self.days[team_id]):
                continue
            capacity = rep.spec.capacity
            if capacity is not None and self.counts.get(member, 0) >= capacity:
                continue
            self.cursors[team_id] = member
            self.moved.add(team_id)
            return rep
        return None

    def save(self, conn: sa.Connection) -> None:
        if self.moved:
            Bulk(conn).update(
                routing_cursors,
                "team",
                [{"team": t, "last_member": self.cursors[t]} for t in sorted(self.moved)],
            )

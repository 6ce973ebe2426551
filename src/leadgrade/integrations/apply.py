"""What a vendor record means for leadgrade, and applying it once.

Every integration reads its vendor's format into :class:`Change` objects (pure: events,
stage moves, identity links, erasures) and hands them to :class:`Applier`, which applies
them through the engine, the handoff and the privacy module — the same paths the API and
the CLI take. Applying a change twice changes nothing:

- events are stored once (their ids are idempotency keys);
- a stage move carries the id of the event that caused it, written into the history
  row's reason (``[greenhouse:4f1c…]``); a move whose key is already in the lead's
  history is not made again, so a webhook retried after a crash, or a Bullhorn batch
  fetched again, moves nothing twice;
- an erasure of someone already erased (or never known) leaves one tombstone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.engine import Engine, EventIn, PersonRef
from leadgrade.handoff.routing import EMPTY, compile_routing
from leadgrade.handoff.service import Handoff
from leadgrade.privacy import tombstones
from leadgrade.privacy.erasure import erase_in
from leadgrade.settings import HoldRule
from leadgrade.store.schema import identities, leads, people, stage_changes

logger = logging.getLogger(__name__)

#: How far along the funnel each stage is: moves an ATS implies only go forward (a
#: candidate hired stays placed when a late "application updated" names an older stage).
RANK = {
    "lead": 0,
    "recycled": 0,
    "disqualified": 0,
    "mql": 1,
    "sal": 2,
    "sql": 3,
    "opportunity": 4,
    "won": 5,
}


@dataclass(frozen=True)
class StageMove:
    """Move the lead of ``person`` in ``audience`` to ``stage``, once per ``key`` (the id
    of the event that means it). ``forward_only``: not if the lead is already as far."""

    person: PersonRef
    audience: str
    stage: str
    key: str
    reason: str
    placement_start: float | None = None
    contract_end: float | None = None
    forward_only: bool = True


@dataclass(frozen=True)
class Link:
    """Name the person ``person`` names by one more id, ``(system, external_id)``. With
    ``merge``, the one already known by that id is merged into them (an event ``key`` of
    type ``person.merge`` records it); without, an id that names someone else is left."""

    person: PersonRef
    system: str
    external_id: str
    key: str = ""
    merge: bool = False
    occurred_at: float = 0.0


@dataclass(frozen=True)
class Erase:
    """Erase the person known in ``system`` as ``external_id`` (a deletion or an
    anonymisation in the ATS), leaving a tombstone that refuses them from then on."""

    system: str
    external_id: str
    basis: str


@dataclass
class Change:
    """What one vendor record means: events to store, ids to link, stages to move, people
    to erase (applied in that order), and the protected fields stripped from it."""

    events: list[EventIn] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    moves: list[StageMove] = field(default_factory=list)
    erasures: list[Erase] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What applying changes did, for summaries, API answers and logs."""

    accepted: int = 0
    duplicates: int = 0
    refused: int = 0  # events naming an erased person
    moved: int = 0
    replayed: int = 0  # moves already made (a retry)
    kept: int = 0  # moves not made: the lead was already as far along
    linked: int = 0
    erased: int = 0
    stripped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        for name in ("accepted", "duplicates", "refused", "moved", "replayed", "kept"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.linked += other.linked
        self.erased += other.erased
        for key, n in other.stripped.items():
            self.stripped[key] = self.stripped.get(key, 0) + n
        self.notes += other.notes

    def report(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "moved": self.moved,
            "replayed": self.replayed,
            "kept": self.kept,
            "linked": self.linked,
            "erased": self.erased,
            "stripped": dict(sorted(self.stripped.items())),
            "notes": self.notes[:50],
        }


class Applier:
    """Applies changes for one source (``greenhouse``, ``bullhorn``, ``import:hubspot``…),
    which is the actor of its stage moves and erasures in the audit log."""

    def __init__(self, engine: Engine, source: str, *, holds: Sequence[HoldRule] = ()) -> None:
        self.engine = engine
        self.source = source
        self.holds = tuple(holds)
        found = Handoff.of(engine)
        self.handoff = found if found is not None else Handoff(engine, compile_routing(EMPTY))

    def apply(self, changes: Iterable[Change], now: float) -> Outcome:
        """Apply ``changes`` in order: their events in one transaction per run of changes
        without an erasure (an erasure is applied before the changes after it)."""
        outcome = Outcome()
        run: list[Change] = []
        for change in changes:
            run.append(change)
            if change.erasures:
                self._apply_run(run, now, outcome)
                run = []
        if run:
            self._apply_run(run, now, outcome)
        return outcome

    def _apply_run(self, run: list[Change], now: float, outcome: Outcome) -> None:
        batch = [event for change in run for event in change.events]
        if batch:
            result = self.engine.ingest(batch, now)
            outcome.accepted += result.accepted
            outcome.duplicates += result.duplicates
            outcome.refused += len(result.refused)
        for change in run:
            for name in change.stripped:
                outcome.stripped[name] = outcome.stripped.get(name, 0) + 1
            outcome.notes += change.notes
            for link in change.links:
                outcome.linked += self._link(link, now)
            for move in change.moves:
                done = self._move(move, now)
                if done == "moved":
                    outcome.moved += 1
                elif done == "replayed":
                    outcome.replayed += 1
                elif done == "kept":
                    outcome.kept += 1
                else:
                    outcome.notes.append(done)
            for erasure in change.erasures:
                outcome.erased += self._erase(erasure, now)

    # ------------------------------------------------------------------ people

    def person_of(self, conn: sa.Connection, ref: PersonRef) -> str | None:
        """The person ``ref`` names now (by its strongest id that is known), if any."""
        for kind, value in ref.identities():
            if kind == "person":
                row = conn.execute(
                    sa.select(people.c.id, people.c.merged_into).where(people.c.id == value)
                ).one_or_none()
                if row is not None:
                    return str(row.merged_into or row.id)
                continue
            found = conn.scalar(
                sa.select(identities.c.person_id).where(
                    identities.c.kind == kind, identities.c.value == value
                )
            )
            if found is not None:
                return str(found)
        return None

    def _link(self, link: Link, now: float) -> int:
        with self.engine.store.engine.connect() as conn:
            person = self.person_of(conn, link.person)
            other = self.person_of(
                conn, PersonRef(system=link.system, external_id=link.external_id)
            )
        if other is not None and other == person:
            return 0
        if person is None:
            if not (link.merge and other is not None and link.person.external_id):
                return 0
            # Only the other id is known: that person is who ``person`` names too.
            named = PersonRef(
                person_id=other, system=link.person.system, external_id=link.person.external_id
            )
        else:
            named = PersonRef(person_id=person, system=link.system, external_id=link.external_id)
            if other is None:
                self.engine.identify(named, {}, now)
                return 1
            if not link.merge:
                # The id already names someone else: not ours to merge on a guess.
                logger.info("%s %s names another person; not linked", link.system, link.external_id)
                return 0
        stages = self._stages(other) if other is not None and named.person_id != other else {}
        event = EventIn(link.key, "person.merge", link.occurred_at or now, named)
        result = self.engine.ingest([event], now)
        if not result.accepted:
            return 0
        if stages and named.person_id is not None:
            self._keep_furthest(named.person_id, stages, link.key, now)
        return 1

    def _stages(self, person: str) -> dict[str, str]:
        with self.engine.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(leads.c.audience, leads.c.stage).where(leads.c.person_id == person)
            )
            return {row.audience: row.stage for row in rows}

    def _keep_furthest(self, person: str, merged: dict[str, str], key: str, now: float) -> None:
        """After a merge the kept person's leads stand at the furthest stage either record
        had reached (the engine keeps the kept lead's stage; the ATS knew the other)."""
        for (audience, stage), (lead_id, kept) in self._pairs(person, merged).items():
            if RANK.get(stage, 0) <= RANK.get(kept, 0):
                continue
            if stage == "won":  # a placement needs its dates: the next placement event moves it
                logger.info(
                    "merged a placed record into lead %s; its placement is not copied", lead_id
                )
                continue
            self.handoff.move(
                lead_id,
                stage,
                now,
                actor=self.source,
                reason=f"merged with a record at {stage} [{key}:{audience}]",
            )

    def _pairs(self, person: str, merged: dict[str, str]) -> dict[tuple[str, str], tuple[str, str]]:
        with self.engine.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(leads.c.id, leads.c.audience, leads.c.stage).where(
                    leads.c.person_id == person
                )
            ).all()
        return {
            (row.audience, merged[row.audience]): (row.id, row.stage)
            for row in rows
            if row.audience in merged
        }

    # -------------------------------------------------------------- stage moves

    def _move(self, move: StageMove, now: float) -> str:
        """Make ``move`` unless its key is already in the lead's history: ``moved``,
        ``replayed``, ``kept`` (the lead is as far along already), or a note why not."""
        marker = f"[{move.key}]"
        with self.engine.store.engine.connect() as conn:
            person = self.person_of(conn, move.person)
            if person is None:
                return f"{move.key}: no such person (refused or not stored)"
            lead = conn.execute(
                sa.select(leads.c.id, leads.c.stage).where(
                    leads.c.person_id == person, leads.c.audience == move.audience
                )
            ).one_or_none()
            if lead is None:
                why = (
                    f"no model for the audience {move.audience!r}"
                    if move.audience not in self.engine.models
                    else "no lead yet"
                )
                return f"{move.key}: not moved to {move.stage}: {why}"
            done = conn.scalar(
                sa.select(stage_changes.c.id)
                .where(
                    stage_changes.c.lead_id == lead.id,
                    stage_changes.c.reason.contains(marker, autoescape=True),
                )
                .limit(1)
            )
        if done is not None:
            return "replayed"
        if move.forward_only and RANK.get(move.stage, 0) <= RANK.get(lead.stage, 0):
            return "kept"
        self.handoff.move(
            lead.id,
            move.stage,
            now,
            actor=self.source,
            reason=f"{move.reason} {marker}",
            placement_start=move.placement_start,
            contract_end=move.contract_end,
        )
        return "moved"

    # ----------------------------------------------------------------- erasure

    def _erase(self, erasure: Erase, now: float) -> int:
        """Erase the person the ATS deleted; an unknown one still gets a tombstone, so a
        late event about them is refused. Returns 1 when something was erased or buried."""
        name = (erasure.system, erasure.external_id)
        with self.engine.store.transaction() as conn:
            person = self.person_of(conn, PersonRef(system=name[0], external_id=name[1]))
            if person is None:
                if tombstones.buried(conn, [name]):
                    return 0  # erased already: a retry
                tombstones.bury(conn, [name], now, basis=erasure.basis, source=self.source)
                details: dict[str, Any] = {"basis": erasure.basis, "known": False}
                audit.record(conn, self.source, "person.erased", None, details, now)
                return 1
            done = erase_in(
                conn,
                self.engine,
                person,
                now,
                basis=erasure.basis,
                source=self.source,
                holds=self.holds,
            )
            report = done.report()
            audit.record(
                conn,
                self.source,
                "person.erased",
                done.person_id,
                {
                    "basis": erasure.basis,
                    **{k: report[k] for k in ("erased", "tombstones", "held")},
                },
                now,
            )
        return 1

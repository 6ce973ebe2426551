"""Building the demo firm into a store: its six months replayed through the engine, with
sales acting on the MQLs as they appear (``leadgrade demo``).

The events go in oldest first, in batches of at most 1,000 and at most one day, each
stored "as of" its last event, so every MQL, expiry and sales move in the store happens
at its time in the story. Between batches, the sales moves that fall due are made through
:func:`leadgrade.leads.move_stages` (as ``leadgrade stage`` makes them; actor
``sales (demo)``) and due MQLs expire (:meth:`Engine.tick`). Sales acts on an MQL only if
nothing happened to the lead since, and its moves are drawn from the person's latent
quality (:func:`leadgrade.synthetic.sales_moves`), so building twice — or finishing an
interrupted build — changes nothing that is done.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade.engine import Engine, EventIn
from leadgrade.handoff.service import Handoff
from leadgrade.leads import StageMove, move_stages
from leadgrade.store.schema import events, leads, people, stage_changes
from leadgrade.synthetic import ACTOR, DAY, Firm, Move, sales_moves
from leadgrade.times import epoch, utc

BATCH = 1000


@dataclass
class BuildResult:
    stored: int = 0  # events stored by this build
    replays: int = 0  # events already in the store
    mqls: int = 0  # MQL episodes seen
    moves: int = 0  # stage changes sales made
    expired: int = 0  # MQLs that expired before sales acted


@dataclass(order=True)
class _Due:
    at: float
    lead_id: str
    after_row: int = field(compare=False)  # the history row that must still be the last
    moves: tuple[Move, ...] = field(compare=False)
    first_row: int = field(default=0, compare=False)  # the MQL's history row


def batches(firm_events: Sequence[EventIn], size: int = BATCH) -> Iterator[list[EventIn]]:
    """Oldest first, at most ``size`` events and one day of them per batch."""
    batch: list[EventIn] = []
    for event in firm_events:
        if batch and (len(batch) >= size or event.occurred_at - batch[0].occurred_at >= DAY):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


def build(
    engine: Engine, firm: Firm, progress: Callable[[int, int], None] | None = None
) -> BuildResult:
    """Replay ``firm`` into ``engine``'s store; ``progress(done, total)`` after each batch.
    With a handoff on the engine, MQLs are routed as they appear, due timers (SLA
    breaches) fire at their time in the story, and a rep's first move on an MQL comes
    with their call (a touch, which stops the SLA clock)."""
    result = BuildResult()
    queue: list[_Due] = []
    episodes: Counter[str] = Counter()
    seen: set[int] = set()
    total, done, clock = len(firm.events), 0, firm.start
    for batch in batches(firm.events):
        first, last = batch[0].occurred_at, batch[-1].occurred_at
        _act(engine, queue, first, result)
        result.expired += _tick(engine, first)
        ingested = engine.ingest(batch, last)
        result.stored += ingested.accepted
        result.replays += ingested.duplicates
        _plan(engine, firm, queue, episodes, seen, clock, last, result)
        clock = last
        done += len(batch)
        if progress is not None:
            progress(done, total)
    _act(engine, queue, firm.now, result)
    result.expired += _tick(engine, firm.now)
    return result


def _tick(engine: Engine, now: float) -> int:
    """Expire due MQLs and, with a handoff, fire due timers; returns MQLs expired."""
    handoff = Handoff.of(engine)
    if handoff is None:
        return len(engine.tick(now))
    return handoff.tick(now)["expired"]


def _plan(
    engine: Engine,
    firm: Firm,
    queue: list[_Due],
    episodes: Counter[str],
    seen: set[int],
    after: float,
    upto: float,
    result: BuildResult,
) -> None:
    """Queue what sales does with the MQLs made in [after, upto] and not ``seen`` yet,
    read from the store (so a second build sees the MQLs of the first)."""
    query = (
        sa.select(
            stage_changes.c.id,
            stage_changes.c.lead_id,
            stage_changes.c.at,
            people.c.attributes,
        )
        .join(leads, leads.c.id == stage_changes.c.lead_id)
        .join(people, people.c.id == leads.c.person_id)
        .where(
            stage_changes.c.to_stage == "mql",
            stage_changes.c.at >= utc(after),
            stage_changes.c.at <= utc(upto),
        )
        .order_by(stage_changes.c.id)
    )
    with engine.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        if row.id in seen:
            continue
        seen.add(row.id)
        result.mqls += 1
        episode = episodes[row.lead_id]
        episodes[row.lead_id] += 1
        email = (row.attributes or {}).get("email")
        person = firm.person(email) if isinstance(email, str) else None
        if person is None:  # a visitor nobody knows: sales cannot call them
            continue
        moves = sales_moves(person, firm.seed, episode)
        if moves:
            at = epoch(row.at) + moves[0].after
            heapq.heappush(queue, _Due(at, row.lead_id, row.id, tuple(moves), row.id))


def _act(engine: Engine, queue: list[_Due], until: float, result: BuildResult) -> None:
    """Make the moves due by ``until``, each only if the lead's history has not moved on
    since the row it follows (the MQL, or sales' previous move). One lead's next move
    waits for the next round, so a round reads and writes in a few statements."""
    while queue and queue[0].at <= until:
        due: dict[str, _Due] = {}
        later: list[_Due] = []
        while queue and queue[0].at <= until:
            item = heapq.heappop(queue)
            if item.lead_id in due:
                later.append(item)
            else:
                due[item.lead_id] = item
        with engine.store.transaction() as conn:
            last = _last_rows(conn, due)
            ready = [item for item in due.values() if last.get(item.lead_id) == item.after_row]
            ready.sort()
            handoff = Handoff.of(engine)
            if handoff is not None:
                for item in ready:
                    if item.after_row == item.first_row:  # sales' first move: a call first
                        handoff.record_touch(
                            conn,
                            f"demo-call:{item.after_row}",
                            item.lead_id,
                            "call",
                            item.at,
                            item.at,
                            ACTOR,
                            "demo",
                            None,
                        )
            move_stages(
                conn,
                [
                    StageMove(
                        item.lead_id, item.moves[0].to_stage, ACTOR, item.moves[0].reason, item.at
                    )
                    for item in ready
                ],
            )
            result.moves += len(ready)
            last = _last_rows(conn, [item.lead_id for item in ready if len(item.moves) > 1])
        for item in ready:
            rest = item.moves[1:]
            if rest:
                heapq.heappush(
                    queue,
                    _Due(
                        item.at + rest[0].after,
                        item.lead_id,
                        last[item.lead_id],
                        rest,
                        item.first_row,
                    ),
                )
        for item in later:
            heapq.heappush(queue, item)


def _last_rows(conn: sa.Connection, lead_ids: Iterable[str]) -> dict[str, int]:
    """The id of each lead's newest history row."""
    ids = sorted(set(lead_ids))
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        query = (
            sa.select(stage_changes.c.lead_id, sa.func.max(stage_changes.c.id))
            .where(stage_changes.c.lead_id.in_(ids[start : start + 500]))
            .group_by(stage_changes.c.lead_id)
        )
        found.update(dict(conn.execute(query).all()))
    return found


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Outcomes:
    """For one audience: leads whose history ever reached each stage, by fit letter."""

    reached: dict[str, Counter[str]]  # fit letter → stage → leads

    def count(self, letter: str, stage: str = "mql") -> int:
        """Leads with this fit letter whose history reached ``stage``."""
        return self.reached.get(letter, Counter())[stage]

    def rate(self, letter: str, stage: str) -> float | None:
        """Share of the MQLs with this fit letter that reached ``stage``."""
        mqls = self.count(letter)
        return self.count(letter, stage) / mqls if mqls else None


@dataclass(frozen=True)
class Summary:
    people: int  # people now (merged ones not counted)
    merged: int  # anonymous visitors merged into the person they turned out to be
    anonymous: int  # people nobody has an e-mail for yet
    events: int
    leads: dict[str, int]  # audience → leads
    stages: dict[str, Counter[str]]  # audience → stage now → leads
    outcomes: dict[str, Outcomes]  # audience → what became of its MQLs


def summarize(engine: Engine) -> Summary:
    """Counts of what the store holds, for the demo's report."""
    with engine.store.engine.connect() as conn:
        everyone = conn.execute(sa.select(people.c.merged_into, people.c.attributes)).all()
        count = conn.scalar(sa.select(sa.func.count()).select_from(events)) or 0
        by_stage = conn.execute(
            sa.select(leads.c.audience, leads.c.stage, sa.func.count()).group_by(
                leads.c.audience, leads.c.stage
            )
        ).all()
        history = conn.execute(
            sa.select(leads.c.id, leads.c.audience, leads.c.grade, stage_changes.c.to_stage)
            .join(leads, leads.c.id == stage_changes.c.lead_id)
            .distinct()
        ).all()
    stages: dict[str, Counter[str]] = {}
    for audience, stage, n in by_stage:
        stages.setdefault(audience, Counter())[stage] = n
    outcomes: dict[str, dict[str, Counter[str]]] = {}
    for _lead, audience, grade, stage in history:
        outcomes.setdefault(audience, {}).setdefault(grade[0], Counter())[stage] += 1
    live = [attributes for merged, attributes in everyone if merged is None]
    return Summary(
        people=len(live),
        merged=len(everyone) - len(live),
        anonymous=sum(1 for a in live if not _email(a)),
        events=count,
        leads={audience: sum(c.values()) for audience, c in stages.items()},
        stages=stages,
        outcomes={audience: Outcomes(reached) for audience, reached in outcomes.items()},
    )


def _email(attributes: Any) -> str | None:
    email = (attributes or {}).get("email")
    return email if isinstance(email, str) else None

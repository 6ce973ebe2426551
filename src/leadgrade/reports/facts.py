"""Each lead as the reports see it, read from the store in a few queries: where it came
from (first touch), which stages its history reached and when, its grade at MQL time,
and the sales decisions on it.

Definitions (docs/reports.md says the same):

- **Reached.** A lead reached a stage of the main line ``lead → mql → sal → sql →
  opportunity → won`` when any stage change moved it there *or to a later stage of the
  line*, before ``until``: a lead moved by hand straight to ``sql`` reached ``mql`` and
  ``sal`` too, so counts never grow down the funnel (the fairness report counts MQLs the
  same way). It reached the stage at the first such move.
- **First touch.** A lead's ``channel``, ``source`` and ``campaign`` are those of its
  person's earliest event (by ``occurred_at``, then event id) that has any of the three;
  ``(none)`` when no event has one.
- **Grade at MQL.** The grade recorded with the first sales feedback on the lead (the
  grade it had when sales judged the MQL); the lead's current grade when there is none.
- **Sales decision.** A stage change out of ``mql`` made by anyone but the engine (a rep,
  the API, the CRM): to ``sal``, ``sql``, ``opportunity`` or ``won`` is an acceptance; to
  ``recycled``, ``disqualified`` or ``lead`` a rejection. The engine's own moves out of
  ``mql`` (an MQL that expired) are not decisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade.reports.base import NONE, month
from leadgrade.store.schema import events, feedback, leads, stage_changes
from leadgrade.times import epoch, utc

__all__ = ["LINE", "LeadFacts", "first_touch", "lead_filter", "load_leads"]

#: The main line of stages, in order.
LINE = ("lead", "mql", "sal", "sql", "opportunity", "won")
ACCEPTED = frozenset({"sal", "sql", "opportunity", "won"})
REJECTED = frozenset({"recycled", "disqualified", "lead"})
ENGINE = "engine"
_CHUNK = 500


@dataclass
class LeadFacts:
    id: str
    person_id: str
    audience: str
    grade: str  # now
    stage: str  # now
    owner: str | None
    created_at: float
    mql_grade: str = ""
    channel: str = NONE
    source: str = NONE
    campaign: str = NONE
    reached: dict[str, float] = field(default_factory=dict)  # stage → first reached
    accepted: int = 0  # sales decisions on an MQL of this lead
    rejected: int = 0

    @property
    def cohort(self) -> str:
        return month(self.created_at)

    def value(self, dimension: str) -> str:
        """The lead's value of a grouping dimension."""
        if dimension == "cohort":
            return self.cohort
        if dimension == "grade":
            return self.mql_grade
        found = getattr(self, dimension)
        return NONE if found is None else str(found)


def lead_filter(
    query: sa.Select[Any], audience: str | None, since: float | None, until: float | None
) -> sa.Select[Any]:
    if audience is not None:
        query = query.where(leads.c.audience == audience)
    if since is not None:
        query = query.where(leads.c.created_at >= utc(since))
    if until is not None:
        query = query.where(leads.c.created_at < utc(until))
    return query


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def load_leads(
    conn: sa.Connection,
    *,
    audience: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[LeadFacts]:
    """The leads created in [``since``, ``until``) (of ``audience``, or all), with their
    history up to ``until``."""
    query = lead_filter(
        sa.select(
            leads.c.id,
            leads.c.person_id,
            leads.c.audience,
            leads.c.grade,
            leads.c.stage,
            leads.c.owner,
            leads.c.created_at,
        ).order_by(leads.c.created_at, leads.c.id),
        audience,
        since,
        until,
    )
    found = {
        row.id: LeadFacts(
            row.id,
            row.person_id,
            row.audience,
            row.grade,
            row.stage,
            row.owner,
            epoch(row.created_at),
            mql_grade=row.grade,
        )
        for row in conn.execute(query)
    }
    ids = list(found)
    by_person: dict[str, list[LeadFacts]] = {}
    for lead in found.values():
        by_person.setdefault(lead.person_id, []).append(lead)
    for chunk in _chunks(ids):
        _history(conn, chunk, found, until)
        _feedback_grades(conn, chunk, found)
    first_touch(conn, list(by_person), by_person)
    return list(found.values())


def _history(
    conn: sa.Connection, ids: list[str], found: dict[str, LeadFacts], until: float | None
) -> None:
    query = (
        sa.select(
            stage_changes.c.lead_id,
            stage_changes.c.at,
            stage_changes.c.from_stage,
            stage_changes.c.to_stage,
            stage_changes.c.actor,
        )
        .where(stage_changes.c.lead_id.in_(ids))
        .order_by(stage_changes.c.at, stage_changes.c.id)
    )
    if until is not None:
        query = query.where(stage_changes.c.at < utc(until))
    for row in conn.execute(query):
        lead = found[row.lead_id]
        at = epoch(row.at)
        if row.to_stage in LINE:
            # Reaching a stage reaches every earlier stage of the line too.
            for stage in LINE[: LINE.index(row.to_stage) + 1]:
                if stage not in lead.reached or at < lead.reached[stage]:
                    lead.reached[stage] = at
        if row.from_stage == "mql" and row.actor != ENGINE:
            if row.to_stage in ACCEPTED:
                lead.accepted += 1
            elif row.to_stage in REJECTED:
                lead.rejected += 1
    for lead in found.values():
        lead.reached.setdefault("lead", lead.created_at)


def _feedback_grades(conn: sa.Connection, ids: list[str], found: dict[str, LeadFacts]) -> None:
    query = (
        sa.select(feedback.c.lead_id, feedback.c.grade)
        .where(feedback.c.lead_id.in_(ids))
        .order_by(feedback.c.lead_id, feedback.c.at.desc(), feedback.c.id.desc())
    )
    for row in conn.execute(query):  # the earliest comes last and wins
        found[row.lead_id].mql_grade = row.grade


def first_touch(
    conn: sa.Connection, persons: list[str], by_person: dict[str, list[LeadFacts]]
) -> None:
    touched = sa.or_(
        events.c.channel.is_not(None), events.c.source.is_not(None), events.c.campaign.is_not(None)
    )
    seen: set[str] = set()
    for chunk in _chunks(persons):
        query = (
            sa.select(events.c.person_id, events.c.channel, events.c.source, events.c.campaign)
            .where(events.c.person_id.in_(chunk), touched)
            .order_by(events.c.person_id, events.c.occurred_at, events.c.id)
        )
        for row in conn.execute(query):
            if row.person_id in seen:
                continue
            seen.add(row.person_id)
            for lead in by_person[row.person_id]:
                lead.channel = row.channel or NONE
                lead.source = row.source or NONE
                lead.campaign = row.campaign or NONE

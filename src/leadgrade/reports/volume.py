"""The ``volume`` report: MQLs made per ISO week, by audience and source.

Every move to ``mql`` in [``since``, ``until``) counts, so a lead that was recycled and
became an MQL again counts in both weeks; ``leads`` counts each lead once per row. The
sum of ``mqls`` over the weeks is the number of MQL moves in the store's history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from leadgrade.reports.base import ALL, Report, ReportParams, Section, iso_week
from leadgrade.reports.facts import LeadFacts, first_touch
from leadgrade.store.schema import leads, stage_changes
from leadgrade.times import epoch, utc

__all__ = ["VOLUME_DIMENSIONS", "volume_report"]

VOLUME_DIMENSIONS = ("audience", "channel", "source", "campaign", "grade", "owner", "cohort")
COLUMNS = ("mqls", "leads")


def volume_report(conn: sa.Connection, params: ReportParams) -> Report:
    """MQLs made per ISO week (Monday to Sunday, UTC), by audience and source (the
    default grouping)."""
    params.check(VOLUME_DIMENSIONS)
    by = params.by or ("audience", "source")
    query = (
        sa.select(
            stage_changes.c.lead_id,
            stage_changes.c.at,
            leads.c.person_id,
            leads.c.audience,
            leads.c.grade,
            leads.c.stage,
            leads.c.owner,
            leads.c.created_at,
        )
        .join(leads, leads.c.id == stage_changes.c.lead_id)
        .where(stage_changes.c.to_stage == "mql")
        .order_by(stage_changes.c.at, stage_changes.c.id)
    )
    if params.audience is not None:
        query = query.where(leads.c.audience == params.audience)
    if params.since is not None:
        query = query.where(stage_changes.c.at >= utc(params.since))
    if params.until is not None:
        query = query.where(stage_changes.c.at < utc(params.until))
    moves: list[tuple[float, LeadFacts]] = []
    facts: dict[str, LeadFacts] = {}
    for r in conn.execute(query):
        lead = facts.get(r.lead_id)
        if lead is None:
            lead = facts[r.lead_id] = LeadFacts(
                r.lead_id,
                r.person_id,
                r.audience,
                r.grade,
                r.stage,
                r.owner,
                epoch(r.created_at),
                mql_grade=r.grade,
            )
        moves.append((epoch(r.at), lead))
    by_person: dict[str, list[LeadFacts]] = {}
    for lead in facts.values():
        by_person.setdefault(lead.person_id, []).append(lead)
    first_touch(conn, list(by_person), by_person)
    counts: dict[tuple[str, ...], list[str]] = {}
    for at, lead in moves:
        key = (iso_week(at), *(lead.value(d) for d in by))
        counts.setdefault(key, []).append(lead.id)
    keys = ("week", *by)

    def figures(ids: list[str]) -> dict[str, Any]:
        return {"mqls": len(ids), "leads": len(set(ids))}

    rows = [{**dict.fromkeys(keys, ALL), **figures([lead.id for _, lead in moves])}]
    rows += [{**dict(zip(keys, k, strict=True)), **figures(counts[k])} for k in sorted(counts)]
    return Report(
        "volume",
        ReportParams(params.audience, by, params.since, params.until),
        (*keys, *COLUMNS),
        rows,
        (Section("MQLs per week", (*keys, *COLUMNS)),),
        {
            "window": "moves to mql made in [since, until)",
            "week": "the ISO 8601 week of the move (Monday to Sunday, UTC)",
            "mqls": "moves to mql: a lead that became an MQL again counts again",
            "leads": "distinct leads among them",
            "source": "first touch: the source of the person's earliest event that has a "
            "channel, source or campaign",
        },
    )

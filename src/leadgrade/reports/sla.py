"""The ``sla`` report: how fast owners first touched the MQLs routed to them, the share
touched within the SLA, and breaches — by owner and team.

Every assignment (a lead routed or re-routed to an owner) made in [``since``,
``until``) counts once. Time to first touch is ``touched_at − at`` in hours, over the
assignments touched. An assignment is *judged* against its SLA when it has a due time
and was touched, or its due time has passed (``now``); *within SLA* when touched at or
before the due time. A *breach* is one the SLA timer recorded (``breached_at``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.reports.base import ALL, NONE, Report, ReportParams, Section, quantile, rate
from leadgrade.store.schema import assignments, leads
from leadgrade.times import epoch, utc

__all__ = ["SLA_DIMENSIONS", "sla_report", "sla_rows"]

SLA_DIMENSIONS = ("owner", "team", "audience", "rule", "grade")
HOUR = 3600.0


@dataclass(frozen=True)
class Clock:
    owner: str
    team: str
    audience: str
    rule: str
    grade: str
    at: float
    due_at: float | None
    touched_at: float | None
    breached_at: float | None

    def value(self, dimension: str) -> str:
        return str(getattr(self, dimension) or NONE)


def sla_rows(clocks: Sequence[Clock], now: float) -> dict[str, Any]:
    touched = [c for c in clocks if c.touched_at is not None]
    hours = [(c.touched_at - c.at) / HOUR for c in touched if c.touched_at is not None]
    judged = [
        c for c in clocks if c.due_at is not None and (c.touched_at is not None or c.due_at <= now)
    ]
    within = [
        c
        for c in judged
        if c.touched_at is not None and c.due_at is not None and c.touched_at <= c.due_at
    ]
    return {
        "assignments": len(clocks),
        "touched": len(touched),
        "hours_to_first_touch_median": quantile(hours, 0.5),
        "hours_to_first_touch_p90": quantile(hours, 0.9),
        "judged": len(judged),
        "within_sla": len(within),
        "within_sla_share": rate(len(within), len(judged)),
        "breaches": sum(1 for c in clocks if c.breached_at is not None),
        "open": sum(
            1 for c in clocks if c.touched_at is None and (c.due_at is None or c.due_at > now)
        ),
    }


COLUMNS = tuple(sla_rows([], 0.0))


def _when(moment: Any) -> float | None:
    return None if moment is None else epoch(moment)


def sla_report(conn: sa.Connection, params: ReportParams, now: float) -> Report:
    """Time to first touch (median, p90 hours), the share of MQLs touched within the
    SLA, and SLA breaches, by owner and team (the default grouping)."""
    params.check(SLA_DIMENSIONS)
    by = params.by or ("team", "owner")
    query = sa.select(
        assignments.c.owner,
        assignments.c.team,
        assignments.c.rule,
        assignments.c.at,
        assignments.c.due_at,
        assignments.c.touched_at,
        assignments.c.breached_at,
        leads.c.audience,
        leads.c.grade,
    ).join(leads, leads.c.id == assignments.c.lead_id)
    if params.audience is not None:
        query = query.where(leads.c.audience == params.audience)
    if params.since is not None:
        query = query.where(assignments.c.at >= utc(params.since))
    if params.until is not None:
        query = query.where(assignments.c.at < utc(params.until))
    clocks = [
        Clock(
            r.owner,
            r.team,
            r.audience,
            r.rule,
            r.grade,
            epoch(r.at),
            _when(r.due_at),
            _when(r.touched_at),
            _when(r.breached_at),
        )
        for r in conn.execute(query)
    ]
    groups: dict[tuple[str, ...], list[Clock]] = {}
    for clock in clocks:
        groups.setdefault(tuple(clock.value(d) for d in by), []).append(clock)
    rows = [{**dict.fromkeys(by, ALL), **sla_rows(clocks, now)}]
    rows += [{**dict(zip(by, k, strict=True)), **sla_rows(groups[k], now)} for k in sorted(groups)]
    return Report(
        "sla",
        ReportParams(params.audience, by, params.since, params.until),
        (*by, *COLUMNS),
        rows,
        (Section("first touch and SLA", (*by, *COLUMNS)),),
        {
            "window": "assignments made in [since, until)",
            "hours_to_first_touch": "touched_at − assigned at, over the assignments touched",
            "judged": "assignments with a due time that were touched or are past due",
            "within_sla_share": "touched by the due time ÷ judged",
            "breaches": "assignments the SLA timer marked breached",
            "open": "not touched and not yet due (or with no SLA)",
        },
    )

"""The ``funnel`` and ``grades`` reports: how many leads reached each stage, how many of
them went on, how long that took, and how each A1–D4 cell converts. The figures are
computed by :func:`funnel_rows` and :func:`grade_rows` from :class:`LeadFacts`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from leadgrade.reports.base import (
    ALL,
    DAY,
    Report,
    ReportParams,
    Section,
    quantile,
    rate,
)
from leadgrade.reports.facts import LINE, LeadFacts, load_leads

__all__ = [
    "DIMENSIONS",
    "DURATIONS",
    "GRADES",
    "funnel_report",
    "funnel_rows",
    "grade_rows",
    "grades_report",
    "group",
]

#: What leads can be grouped by.
DIMENSIONS = ("audience", "channel", "source", "campaign", "grade", "owner", "cohort")
#: The stretches of the funnel timed, from → to.
DURATIONS = (
    ("lead", "mql"),
    ("mql", "sal"),
    ("mql", "sql"),
    ("sql", "won"),
    ("mql", "won"),
)
GRADES = tuple(f"{letter}{digit}" for letter in "ABCD" for digit in "1234")
STEPS = tuple(itertools.pairwise(LINE))

FUNNEL_COLUMNS = (
    *(f"{stage}s" if stage != "won" else "won" for stage in LINE),
    *(f"{a}_to_{b}" for a, b in STEPS),
    "mql_to_sql",
    "mql_to_won",
    "decided",
    "accepted",
    "acceptance_rate",
    *(f"days_{a}_to_{b}_{q}" for a, b in DURATIONS for q in ("median", "p90")),
)


def _count_key(stage: str) -> str:
    return "won" if stage == "won" else f"{stage}s"


def group(
    facts: Sequence[LeadFacts], by: Sequence[str]
) -> list[tuple[dict[str, str], list[LeadFacts]]]:
    """The total (every dimension ``(all)``) and then each group, sorted by its values."""
    groups: dict[tuple[str, ...], list[LeadFacts]] = {}
    for lead in facts:
        groups.setdefault(tuple(lead.value(d) for d in by), []).append(lead)
    made = [(dict.fromkeys(by, ALL), list(facts))]
    if not by:
        return made
    for values in sorted(groups):
        made.append((dict(zip(by, values, strict=True)), groups[values]))
    return made


def funnel_rows(facts: Sequence[LeadFacts]) -> dict[str, Any]:
    """The funnel figures of a set of leads."""
    row: dict[str, Any] = {}
    reached = {stage: sum(1 for f in facts if stage in f.reached) for stage in LINE}
    for stage in LINE:
        row[_count_key(stage)] = reached[stage]
    for a, b in STEPS:
        row[f"{a}_to_{b}"] = rate(reached[b], reached[a])
    row["mql_to_sql"] = rate(reached["sql"], reached["mql"])
    row["mql_to_won"] = rate(reached["won"], reached["mql"])
    accepted = sum(f.accepted for f in facts)
    decided = accepted + sum(f.rejected for f in facts)
    row["decided"], row["accepted"] = decided, accepted
    row["acceptance_rate"] = rate(accepted, decided)
    for a, b in DURATIONS:
        days = [
            (f.reached[b] - f.reached[a]) / DAY for f in facts if a in f.reached and b in f.reached
        ]
        row[f"days_{a}_to_{b}_median"] = quantile(days, 0.5)
        row[f"days_{a}_to_{b}_p90"] = quantile(days, 0.9)
    return row


def grade_rows(facts: Sequence[LeadFacts]) -> dict[str, Any]:
    leads_, mqls = len(facts), sum(1 for f in facts if "mql" in f.reached)
    sqls = sum(1 for f in facts if "sql" in f.reached)
    won = sum(1 for f in facts if "won" in f.reached)
    accepted = sum(f.accepted for f in facts)
    decided = accepted + sum(f.rejected for f in facts)
    return {
        "leads": leads_,
        "mqls": mqls,
        "sqls": sqls,
        "won": won,
        "lead_to_mql": rate(mqls, leads_),
        "mql_to_sql": rate(sqls, mqls),
        "mql_to_won": rate(won, mqls),
        "acceptance_rate": rate(accepted, decided),
    }


GRADE_COLUMNS = tuple(grade_rows([]))

DEFINITIONS = {
    "reached": "a lead reached a stage of lead → mql → sal → sql → opportunity → won when "
    "its history moved it there or to a later stage of that line, before `until`",
    "first touch": "channel, source and campaign of the person's earliest event that has "
    "any of them; (none) when none has",
    "grade": "the grade recorded with the first sales feedback on the lead, else its current grade",
    "cohort": "the calendar month (UTC) the lead was created in",
    "acceptance_rate": "sales decisions on MQLs that accepted (mql → sal, sql, "
    "opportunity, won) ÷ all decisions (those and mql → recycled, disqualified, lead), not "
    "counting MQLs the engine expired",
    "days": "between the first time a lead reached each stage; median and p90 with linear "
    "interpolation, over the leads that reached both",
    "window": "leads created in [since, until)",
}


def _report(
    name: str,
    conn: sa.Connection,
    params: ReportParams,
    figures: Callable[[Sequence[LeadFacts]], dict[str, Any]],
    columns: tuple[str, ...],
    sections: tuple[Section, ...],
    by: tuple[str, ...],
) -> Report:
    facts = load_leads(conn, audience=params.audience, since=params.since, until=params.until)
    rows = [{**values, **figures(members)} for values, members in group(facts, by)]
    return Report(
        name,
        params,
        (*by, *columns),
        rows,
        tuple(Section(s.title, (*by, *s.columns)) for s in sections),
        DEFINITIONS,
    )


def funnel_report(conn: sa.Connection, params: ReportParams) -> Report:
    """Leads reaching each stage, the conversion between consecutive stages, the sales
    acceptance rate, MQL→SQL and MQL→won rates, and days between stages (median, p90)."""
    params.check(DIMENSIONS)
    sections = (
        Section("stages reached", tuple(_count_key(s) for s in LINE)),
        Section(
            "conversion",
            (*(f"{a}_to_{b}" for a, b in STEPS), "mql_to_sql", "mql_to_won", "acceptance_rate"),
        ),
        Section(
            "days between stages",
            tuple(f"days_{a}_to_{b}_{q}" for a, b in DURATIONS for q in ("median", "p90")),
        ),
    )
    return _report("funnel", conn, params, funnel_rows, FUNNEL_COLUMNS, sections, params.by)


def grades_report(conn: sa.Connection, params: ReportParams) -> Report:
    """Leads, MQLs and conversion per A1–D4 cell (the grade at MQL time), within any
    other grouping asked for."""
    params.check(tuple(d for d in DIMENSIONS if d != "grade"))
    by = (*params.by, "grade")
    made = _report(
        "grades",
        conn,
        params,
        grade_rows,
        GRADE_COLUMNS,
        (Section("per grade", GRADE_COLUMNS),),
        by,
    )
    # Without other groups every cell is shown, with zeros where no lead fell.
    total, *rows = made.rows
    if not params.by:
        present = {r["grade"] for r in rows}
        rows += [{"grade": g, **grade_rows([])} for g in GRADES if g not in present]
        rows.sort(key=lambda r: GRADES.index(r["grade"]) if r["grade"] in GRADES else len(GRADES))
    return Report(made.name, params, made.columns, [total, *rows], made.sections, made.definitions)

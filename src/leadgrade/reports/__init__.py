"""Reports over the store (issue 7): ``funnel``, ``grades``, ``sla``, ``volume`` and
``diagnostics``. Each reads the store through a connection and returns a
:class:`Report` (rows of figures, one per group, and a total row); the CLI prints it as
a table, CSV or JSON and the API serves :meth:`Report.public`. The definitions behind the
figures are in docs/reports.md and each module's docstring."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from leadgrade.core import Model
from leadgrade.reports.base import Report, ReportError, ReportParams, Section, quantile
from leadgrade.reports.diagnostics import Limits, diagnostics_report
from leadgrade.reports.facts import LeadFacts, load_leads
from leadgrade.reports.funnel import DIMENSIONS, funnel_report, grades_report
from leadgrade.reports.sla import SLA_DIMENSIONS, sla_report
from leadgrade.reports.volume import VOLUME_DIMENSIONS, volume_report

__all__ = [
    "KINDS",
    "LeadFacts",
    "Limits",
    "Report",
    "ReportError",
    "ReportKind",
    "ReportParams",
    "Section",
    "diagnostics_report",
    "funnel_report",
    "grades_report",
    "load_leads",
    "make_report",
    "quantile",
    "sla_report",
    "volume_report",
]


@dataclass(frozen=True)
class ReportKind:
    """A report by name: what it shows, what it groups by, and how it is made."""

    name: str
    summary: str
    dimensions: tuple[str, ...]
    make: Callable[[sa.Connection, ReportParams, float, Mapping[str, Model]], Report]


KINDS: dict[str, ReportKind] = {
    kind.name: kind
    for kind in (
        ReportKind(
            "funnel",
            "Leads reaching each stage, conversion between stages, sales acceptance, "
            "MQL→SQL and days between stages.",
            DIMENSIONS,
            lambda conn, params, now, models: funnel_report(conn, params),
        ),
        ReportKind(
            "grades",
            "Leads, MQLs and conversion per A1–D4 cell (the grade at MQL time).",
            tuple(d for d in DIMENSIONS if d != "grade"),
            lambda conn, params, now, models: grades_report(conn, params),
        ),
        ReportKind(
            "sla",
            "Time to first touch, the share touched within the SLA, and breaches by owner "
            "and team.",
            SLA_DIMENSIONS,
            lambda conn, params, now, models: sla_report(conn, params, now),
        ),
        ReportKind(
            "volume",
            "MQLs made per ISO week, by audience and source.",
            VOLUME_DIMENSIONS,
            lambda conn, params, now, models: volume_report(conn, params),
        ),
        ReportKind(
            "diagnostics",
            "Warnings about the models, with the numbers behind them: low acceptance, "
            "thin volume that all closes, grade cells out of order, rules that never fire.",
            (),
            lambda conn, params, now, models: diagnostics_report(conn, params, models),
        ),
    )
}


def make_report(
    name: str,
    conn: sa.Connection,
    params: ReportParams,
    now: float,
    models: Mapping[str, Model],
) -> Report:
    """The report called ``name``; ReportError for an unknown audience or a bad
    parameter."""
    if params.audience is not None and params.audience not in models:
        known = ", ".join(sorted(models)) or "none"
        raise ReportError(f"no audience {params.audience!r} (known: {known})", field="audience")
    return KINDS[name].make(conn, params, now, models)

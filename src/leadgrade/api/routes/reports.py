"""Reports, registered by name: each is ``GET /v1/reports/<name>`` and is listed by
``GET /v1/reports``. A report is added with the :func:`report` decorator::

    @report("funnel")
    def funnel(engine: EngineDep, _key: ReadKey, …) -> dict[str, Any]:
        \"\"\"Leads through each stage …\"\"\"
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query

from leadgrade.api.deps import EngineDep, NowDep, ReadKey
from leadgrade.fairness import DemographicsError, Thresholds, fairness_report, parse_by
from leadgrade.reports import ReportError, ReportParams, make_report
from leadgrade.times import epoch

router = APIRouter(tags=["reports"])

#: name → what the report shows (the first paragraph of its docstring).
REPORTS: dict[str, str] = {}

Route = TypeVar("Route", bound=Callable[..., Any])


def report(name: str) -> Callable[[Route], Route]:
    """Register ``GET /v1/reports/<name>`` and list it in ``GET /v1/reports``."""

    def register(route: Route) -> Route:
        if name in REPORTS:
            raise ValueError(f"a report named {name!r} is registered already")
        REPORTS[name] = " ".join((route.__doc__ or "").strip().split("\n\n")[0].split())
        router.get(f"/v1/reports/{name}", name=f"report_{name}")(route)
        return route

    return register


@router.get("/v1/reports")
def list_reports(_key: ReadKey) -> dict[str, Any]:
    """The reports there are, by name."""
    return {
        "items": [
            {"name": name, "path": f"/v1/reports/{name}", "description": text}
            for name, text in sorted(REPORTS.items())
        ]
    }


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else epoch(moment)


def _bad(path: str, message: str) -> HTTPException:
    return HTTPException(422, [{"path": path, "message": message}])


@report("fairness")
def fairness(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: Annotated[str, Query(max_length=40, description="whose leads")] = "candidate",
    by: Annotated[
        list[str] | None,
        Query(
            description="a demographic field (`sex`), or fields joined by commas for their "
            "intersection (`sex,race_ethnicity`); repeatable, one table each (default: "
            "every usual field anyone has a value for)"
        ),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="leads created at or after (ISO 8601)")
    ] = None,
    until: Annotated[datetime | None, Query(description="leads created before (ISO 8601)")] = None,
    min_group: Annotated[
        int, Query(ge=1, description="fewer leads in a group: too small to judge")
    ] = Thresholds.min_group,
    min_selected: Annotated[
        int,
        Query(ge=0, description="fewer selections in a group and the reference: too few"),
    ] = Thresholds.min_selected,
) -> dict[str, Any]:
    """MQL and placement rates by self-identified group, with each group's impact ratio
    against the highest-rate group; ratios under 0.8 are adverse (the four-fifths rule).

    Leads created in [``since``, ``until``) count; an MQL is a lead whose stage history
    reached ``mql`` (or a later stage), a placement one that reached ``won``. People with
    no demographics, or who declined to say, are the group ``not disclosed``: counted,
    never a reference and given no ratio. See docs/compliance.md."""
    if audience not in engine.models:
        known = ", ".join(sorted(engine.models)) or "none"
        raise _bad("query:$.audience", f"no audience {audience!r} (known: {known})")
    try:
        fields = None if by is None else [parse_by(text) for text in by]
    except DemographicsError as exc:
        raise _bad("query:$.by", str(exc)) from None
    start, end = _seconds(since), _seconds(until)
    if start is not None and end is not None and start >= end:
        raise _bad("query:$.until", "must be after since")
    thresholds = Thresholds(min_group=min_group, min_selected=min_selected)
    with engine.store.engine.connect() as conn:
        made = fairness_report(
            conn,
            now,
            audience=audience,
            by=fields,
            since=start,
            until=end,
            thresholds=thresholds,
        )
    return made.public()


# ------------------------------------------- funnel, grades, sla, volume, diagnostics

AudienceQuery = Annotated[
    str | None, Query(max_length=40, description="whose leads (default: every audience)")
]
ByQuery = Annotated[
    list[str] | None,
    Query(description="a dimension to group by; repeatable, or joined by commas"),
]
SinceQuery = Annotated[datetime | None, Query(description="from this time on (ISO 8601)")]
UntilQuery = Annotated[datetime | None, Query(description="before this time (ISO 8601)")]


def _made(
    name: str,
    engine: EngineDep,
    now: float,
    audience: str | None,
    by: list[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    dimensions = tuple(p.strip() for text in by or () for p in text.split(",") if p.strip())
    params = ReportParams(audience, dimensions, _seconds(since), _seconds(until))
    try:
        with engine.store.engine.connect() as conn:
            made = make_report(name, conn, params, now, engine.models)
    except ReportError as exc:
        raise _bad(f"query:$.{exc.field}", str(exc)) from None
    return made.public()


@report("funnel")
def funnel(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: AudienceQuery = None,
    by: ByQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """Leads reaching each stage, conversion between consecutive stages, the sales
    acceptance rate, MQL→SQL and days between stages (median, p90), for leads created in
    [``since``, ``until``), grouped by audience, channel, source, campaign, grade, owner or
    cohort. See docs/reports.md."""
    return _made("funnel", engine, now, audience, by, since, until)


@report("grades")
def grades(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: AudienceQuery = None,
    by: ByQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """Leads, MQLs and conversion (MQL→SQL, MQL→won) per A1–D4 cell, the grade at MQL
    time. See docs/reports.md."""
    return _made("grades", engine, now, audience, by, since, until)


@report("sla")
def sla(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: AudienceQuery = None,
    by: ByQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """Time to first touch (median, p90 hours), the share touched within the SLA, and
    breaches, by team and owner, for assignments made in the window. See
    docs/reports.md."""
    return _made("sla", engine, now, audience, by, since, until)


@report("volume")
def volume(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: AudienceQuery = None,
    by: ByQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """MQLs made per ISO week, by audience and source, for MQLs made in the window. See
    docs/reports.md."""
    return _made("volume", engine, now, audience, by, since, until)


@report("diagnostics")
def diagnostics(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: AudienceQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """Plain-language warnings with the numbers behind them: sales acceptance under 50%,
    MQL→won far above peers on thin volume, grade cells out of order, engagement rules
    that never fire. See docs/reports.md."""
    return _made("diagnostics", engine, now, audience, None, since, until)

"""The ``diagnostics`` report: plain-language warnings about the scoring models, each
with the figures behind it.

- **acceptance**: an audience whose sales acceptance rate is under ``acceptance_below``
  (50%), over at least ``min_decisions`` decisions — the MQL threshold may be too low.
- **thin and closing**: an audience (or, with one audience, a first-touch channel)
  whose MQL→won rate is at least ``won_ratio`` (2×) that of its peers together, on fewer
  than ``thin_mqls`` MQLs — the threshold may be too high, letting through only sure
  things.
- **grade order**: a grade cell whose MQL→SQL rate is below that of the cell under it
  (A1 under… B1 is below A1, A2 is below A1), both with at least ``min_mqls`` MQLs.
- **never fires**: an engagement rule of an active model that no stored event of the
  audience fed in the window: its event type never occurs, or its filters never match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.core import Model
from leadgrade.reports.base import Report, ReportParams, Section, rate
from leadgrade.reports.facts import LeadFacts, load_leads
from leadgrade.store.schema import events
from leadgrade.times import utc

__all__ = ["Limits", "diagnose", "diagnostics_report", "rule_firings"]

COLUMNS = ("kind", "audience", "subject", "message", "figures")


@dataclass(frozen=True)
class Limits:
    acceptance_below: float = 0.5
    min_decisions: int = 10
    won_ratio: float = 2.0
    thin_mqls: int = 20
    min_mqls: int = 10


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _acceptance(audience: str, facts: Sequence[LeadFacts], limits: Limits) -> list[dict[str, Any]]:
    accepted = sum(f.accepted for f in facts)
    decided = accepted + sum(f.rejected for f in facts)
    share = rate(accepted, decided)
    if decided < limits.min_decisions or share is None or share >= limits.acceptance_below:
        return []
    return [
        {
            "kind": "acceptance",
            "audience": audience,
            "subject": audience,
            "message": f"Sales accepted {accepted} of {decided} {audience} MQLs they decided "
            f"on ({_pct(share)}), under {_pct(limits.acceptance_below)}: the MQL threshold "
            "may be too low.",
            "figures": {"accepted": accepted, "decided": decided, "acceptance_rate": share},
        }
    ]


def _won(facts: Sequence[LeadFacts]) -> tuple[int, int]:
    mqls = sum(1 for f in facts if "mql" in f.reached)
    return mqls, sum(1 for f in facts if "won" in f.reached)


def _thin(
    groups: Mapping[str, Sequence[LeadFacts]], audience_of: Mapping[str, str], limits: Limits
) -> list[dict[str, Any]]:
    found = []
    for name, members in sorted(groups.items()):
        mqls, won = _won(members)
        peers = [f for other, m in groups.items() if other != name for f in m]
        peer_mqls, peer_won = _won(peers)
        mine, theirs = rate(won, mqls), rate(peer_won, peer_mqls)
        if not mqls or mqls >= limits.thin_mqls or mine is None or not theirs:
            continue
        if mine < limits.won_ratio * theirs:
            continue
        found.append(
            {
                "kind": "thin and closing",
                "audience": audience_of[name],
                "subject": name,
                "message": f"{name}: {won} of {mqls} MQLs were won ({_pct(mine)}), against "
                f"{_pct(theirs)} for the others ({peer_won} of {peer_mqls}), on thin volume: "
                "the MQL threshold may be too high.",
                "figures": {
                    "mqls": mqls,
                    "won": won,
                    "mql_to_won": mine,
                    "peer_mqls": peer_mqls,
                    "peer_won": peer_won,
                    "peer_mql_to_won": theirs,
                },
            }
        )
    return found


def _below(cell: str) -> list[str]:
    letter, digit = cell[0], cell[1]
    under = []
    if letter < "D":
        under.append(f"{chr(ord(letter) + 1)}{digit}")
    if digit < "4":
        under.append(f"{letter}{int(digit) + 1}")
    return under


def _grade_order(audience: str, facts: Sequence[LeadFacts], limits: Limits) -> list[dict[str, Any]]:
    cells: dict[str, tuple[int, int]] = {}
    for f in facts:
        if "mql" in f.reached:
            mqls, sqls = cells.get(f.mql_grade, (0, 0))
            cells[f.mql_grade] = (mqls + 1, sqls + ("sql" in f.reached))
    found = []
    for cell in sorted(cells):
        mqls, sqls = cells[cell]
        if mqls < limits.min_mqls or len(cell) != 2:
            continue
        for lower in _below(cell):
            low_mqls, low_sqls = cells.get(lower, (0, 0))
            if low_mqls < limits.min_mqls or sqls / mqls >= low_sqls / low_mqls:
                continue
            found.append(
                {
                    "kind": "grade order",
                    "audience": audience,
                    "subject": f"{cell} < {lower}",
                    "message": f"{audience} {cell} MQLs reached SQL less often ({sqls} of "
                    f"{mqls}, {_pct(sqls / mqls)}) than {lower} MQLs ({low_sqls} of "
                    f"{low_mqls}, {_pct(low_sqls / low_mqls)}): the grade thresholds or "
                    "points may be out of order.",
                    "figures": {
                        "cell": cell,
                        "mqls": mqls,
                        "sqls": sqls,
                        "lower": lower,
                        "lower_mqls": low_mqls,
                        "lower_sqls": low_sqls,
                    },
                }
            )
    return found


def rule_firings(
    conn: sa.Connection, model: Model, since: float | None, until: float | None
) -> dict[str, int]:
    """Rule id → stored events of the model's audience that fed it, in the window."""
    fired = {rule.id: 0 for rule in model.engagement_rules}
    types = sorted({t for rule in model.engagement_rules for t in rule.event_types})
    if not types:
        return fired
    query = sa.select(events.c.type, events.c.audiences, events.c.properties).where(
        events.c.type.in_(types)
    )
    if since is not None:
        query = query.where(events.c.occurred_at >= utc(since))
    if until is not None:
        query = query.where(events.c.occurred_at < utc(until))
    for row in conn.execute(query.execution_options(yield_per=2000)):
        if model.audience not in (row.audiences or ()):
            continue
        for rule in model.fed_by(row.type, row.properties or {}):
            fired[rule.id] += 1
    return fired


def _never_fires(
    conn: sa.Connection, audience: str, model: Model, params: ReportParams
) -> list[dict[str, Any]]:
    fired = rule_firings(conn, model, params.since, params.until)
    found = []
    for rule in model.engagement_rules:
        if fired[rule.id]:
            continue
        kinds = ", ".join(rule.event_types)
        found.append(
            {
                "kind": "never fires",
                "audience": audience,
                "subject": rule.id,
                "message": f"The {audience} rule {rule.id!r} ({kinds}) was fed by no stored "
                "event: the event type never arrives, or its filters never match.",
                "figures": {"rule": rule.id, "event_types": list(rule.event_types), "events": 0},
            }
        )
    return found


def diagnose(facts: Sequence[LeadFacts], limits: Limits = Limits()) -> list[dict[str, Any]]:
    """The warnings read from the leads alone (every kind but ``never fires``)."""
    by_audience: dict[str, list[LeadFacts]] = {}
    for f in facts:
        by_audience.setdefault(f.audience, []).append(f)
    found: list[dict[str, Any]] = []
    for audience, members in sorted(by_audience.items()):
        found += _acceptance(audience, members, limits)
    if len(by_audience) > 1:
        found += _thin(by_audience, {a: a for a in by_audience}, limits)
    else:
        for audience, members in by_audience.items():
            channels: dict[str, list[LeadFacts]] = {}
            for f in members:
                channels.setdefault(f.channel, []).append(f)
            found += _thin(channels, dict.fromkeys(channels, audience), limits)
    for audience, members in sorted(by_audience.items()):
        found += _grade_order(audience, members, limits)
    return found


def diagnostics_report(
    conn: sa.Connection,
    params: ReportParams,
    models: Mapping[str, Model],
    limits: Limits = Limits(),
) -> Report:
    """Plain-language warnings with the numbers behind them: acceptance under 50%
    (threshold too low?), MQL→won far above peers on thin volume (too high?), a grade
    cell converting worse than the one below it, engagement rules that never fire."""
    params.check(())
    facts = load_leads(conn, audience=params.audience, since=params.since, until=params.until)
    rows = diagnose(facts, limits)
    for audience, model in sorted(models.items()):
        if params.audience is None or params.audience == audience:
            rows += _never_fires(conn, audience, model, params)
    return Report(
        "diagnostics",
        params,
        COLUMNS,
        rows,
        (Section("warnings", ("kind", "audience", "message")),),
        {
            "acceptance": f"acceptance rate under {_pct(limits.acceptance_below)} over at "
            f"least {limits.min_decisions} decisions",
            "thin and closing": f"MQL→won at least {limits.won_ratio:g}× the peers' on "
            f"fewer than {limits.thin_mqls} MQLs (peers: the other audiences, or the other "
            "first-touch channels of a single audience)",
            "grade order": "a cell's MQL→SQL rate under that of the cell below it (next "
            f"letter or next digit), both with at least {limits.min_mqls} MQLs",
            "never fires": "an engagement rule of an active model no stored event of its "
            "audience fed in the window",
        },
        {"warnings": len(rows)},
    )

"""Comparing a shadow version with the active one: the same leads, valued now by both.

A shadow version scores every new event beside the active version (``Engine.shadows``);
this module reads both sets of numbers and says what switching would change: how many
MQLs there would be, which leads would become or stop being MQLs, and how grades move."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade.core import EngagementState, Model
from leadgrade.core.attributes import enrich
from leadgrade.core.scoring import Scorecard, assemble, fit_contributions
from leadgrade.engine import Engine
from leadgrade.store.schema import leads, people, shadow_scores

EXAMPLES = 10


@dataclass(frozen=True)
class ShadowReport:
    version_id: str
    audience: str
    at: float
    leads: int
    mql_active: int
    mql_shadow: int
    newly_mql: tuple[str, ...]  # lead ids, the first EXAMPLES
    no_longer_mql: tuple[str, ...]
    newly_mql_count: int
    no_longer_mql_count: int
    mean_score_active: float
    mean_score_shadow: float
    grades_active: dict[str, int] = field(default_factory=dict)
    grades_shadow: dict[str, int] = field(default_factory=dict)
    moves: tuple[tuple[str, str, int], ...] = ()  # (active grade, shadow grade, leads), most first

    def public(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "audience": self.audience,
            "at": self.at,
            "leads": self.leads,
            "mql": {
                "active": self.mql_active,
                "shadow": self.mql_shadow,
                "newly_mql": self.newly_mql_count,
                "no_longer_mql": self.no_longer_mql_count,
            },
            "examples": {
                "newly_mql": list(self.newly_mql),
                "no_longer_mql": list(self.no_longer_mql),
            },
            "mean_score": {
                "active": round(self.mean_score_active, 4),
                "shadow": round(self.mean_score_shadow, 4),
            },
            "grades": {"active": self.grades_active, "shadow": self.grades_shadow},
            "moves": [{"from": a, "to": b, "leads": n} for a, b, n in self.moves],
        }


def _card(model: Model, state_data: Any, attributes: dict[str, Any], now: float) -> Scorecard:
    state = EngagementState.from_dict(model, state_data)
    at = max(now, state.as_of or now)
    return assemble(
        model, fit_contributions(model, enrich(attributes)), state.totals(model, at), at
    )


def shadow_report(engine: Engine, audience: str, now: float) -> ShadowReport | None:
    """The audience's shadow version against its active version, both valued ``now``;
    None when the audience has no version in shadow."""
    found = engine.shadows.get(audience)
    active = engine.models.get(audience)
    if found is None or active is None:
        return None
    version_id, shadow = found
    query = (
        sa.select(
            leads.c.id,
            leads.c.state,
            leads.c.model_digest,
            people.c.attributes,
            shadow_scores.c.state.label("shadow_state"),
        )
        .join(people, people.c.id == leads.c.person_id)
        .join(shadow_scores, shadow_scores.c.lead_id == leads.c.id)
        .where(shadow_scores.c.version_id == version_id, leads.c.audience == audience)
        .order_by(leads.c.id)
    )
    count = mql_active = mql_shadow = 0
    newly: list[str] = []
    gone: list[str] = []
    total_active = total_shadow = 0.0
    grades_active: Counter[str] = Counter()
    grades_shadow: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    with engine.store.engine.connect() as conn:
        for row in conn.execute(query):
            if row.model_digest != active.digest:
                continue  # being rescored after an activation
            attributes = row.attributes or {}
            now_active = _card(active, row.state, attributes, now)
            now_shadow = _card(shadow, row.shadow_state, attributes, now)
            count += 1
            mql_active += now_active.mql
            mql_shadow += now_shadow.mql
            if now_shadow.mql and not now_active.mql:
                newly.append(row.id)
            if now_active.mql and not now_shadow.mql:
                gone.append(row.id)
            total_active += now_active.score
            total_shadow += now_shadow.score
            grades_active[now_active.grade] += 1
            grades_shadow[now_shadow.grade] += 1
            if now_active.grade != now_shadow.grade:
                moves[(now_active.grade, now_shadow.grade)] += 1
    return ShadowReport(
        version_id=version_id,
        audience=audience,
        at=now,
        leads=count,
        mql_active=mql_active,
        mql_shadow=mql_shadow,
        newly_mql=tuple(newly[:EXAMPLES]),
        no_longer_mql=tuple(gone[:EXAMPLES]),
        newly_mql_count=len(newly),
        no_longer_mql_count=len(gone),
        mean_score_active=total_active / count if count else 0.0,
        mean_score_shadow=total_shadow / count if count else 0.0,
        grades_active=dict(sorted(grades_active.items())),
        grades_shadow=dict(sorted(grades_shadow.items())),
        moves=tuple(
            (a, b, n) for (a, b), n in sorted(moves.items(), key=lambda item: (-item[1], item[0]))
        ),
    )

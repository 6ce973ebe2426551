"""Reading leads: their score now, explanation and timeline. The API, the CLI and (later)
the dashboard all read through here, so a lead looks the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadgrade.core import EngagementState, Model, Scorecard
from leadgrade.core.attributes import enrich
from leadgrade.core.scoring import assemble, fit_contributions
from leadgrade.engine import STAGES
from leadgrade.store.schema import (
    assignments,
    events,
    leads,
    outbox,
    people,
    stage_changes,
    touches,
)
from leadgrade.times import epoch


@dataclass(frozen=True)
class LeadView:
    id: str
    person_id: str
    email: str | None
    audience: str
    stage: str
    owner: str | None
    card: Scorecard  # as of now
    updated_at: float

    def item(self) -> dict[str, Any]:
        """The lead as an API list item."""
        return {
            "id": self.id,
            "person_id": self.person_id,
            "email": self.email,
            "audience": self.audience,
            "fit": round(self.card.fit, 4),
            "engagement": round(self.card.engagement, 4),
            "score": round(self.card.score, 4),
            "grade": self.card.grade,
            "mql": self.card.mql,
            "stage": self.stage,
            "owner": self.owner,
        }


#: How leads can be ordered: by score now, fit or engagement (highest first), or by the
#: last change (newest first); ties by id, so pages are stable.
SORTS: dict[str, Callable[[LeadView], tuple[Any, ...]]] = {
    "score": lambda v: (-v.card.score, v.id),
    "fit": lambda v: (-v.card.fit, v.id),
    "engagement": lambda v: (-v.card.engagement, v.id),
    "updated": lambda v: (-v.updated_at, v.id),
}


def _view(row: Any, model: Model, now: float) -> LeadView:
    attributes = enrich(row.attributes)
    state = (
        EngagementState.from_dict(model, row.state) if row.model_digest == model.digest else None
    )
    if state is None:  # scored by another model version: show the stored numbers' explanation
        state = EngagementState()
    at = max(now, state.as_of or now)
    card = assemble(model, fit_contributions(model, attributes), state.totals(model, at), at)
    email = attributes.get("email")
    return LeadView(
        row.id,
        row.person_id,
        email if isinstance(email, str) else None,
        row.audience,
        row.stage,
        row.owner,
        card,
        epoch(row.updated_at),
    )


def _query() -> sa.Select[Any]:
    return sa.select(leads, people.c.attributes).join(people, people.c.id == leads.c.person_id)


def find_leads(
    conn: sa.Connection,
    models: Mapping[str, Model],
    now: float,
    *,
    audience: str | None = None,
    stage: str | None = None,
    grade: str | None = None,
    owner: str | None = None,
    min_score: float | None = None,
    sort: str = "score",
) -> list[LeadView]:
    """Leads matching the filters, in the order ``sort`` names (see :data:`SORTS`)."""
    query = _query()
    if audience is not None:
        query = query.where(leads.c.audience == audience)
    if stage is not None:
        query = query.where(leads.c.stage == stage)
    if owner is not None:
        query = query.where(leads.c.owner == owner)
    found = []
    for row in conn.execute(query):
        model = models.get(row.audience)
        if model is None:
            continue
        view = _view(row, model, now)
        if grade is not None and view.card.grade != grade:
            continue
        if min_score is not None and view.card.score < min_score:
            continue
        found.append(view)
    found.sort(key=SORTS[sort])
    return found


def get_lead(
    conn: sa.Connection, models: Mapping[str, Model], lead_id: str, now: float
) -> LeadView | None:
    row = conn.execute(_query().where(leads.c.id == lead_id)).one_or_none()
    if row is None or row.audience not in models:
        return None
    return _view(row, models[row.audience], now)


def get_leads(
    conn: sa.Connection, models: Mapping[str, Model], lead_ids: Sequence[str], now: float
) -> list[LeadView]:
    """Several leads now, in a query a few hundred ids; unknown ids are left out."""
    found = []
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), 500):
        for row in conn.execute(_query().where(leads.c.id.in_(ids[start : start + 500]))):
            if row.audience in models:
                found.append(_view(row, models[row.audience], now))
    return found


def timeline(conn: sa.Connection, lead: LeadView) -> list[dict[str, Any]]:
    """The lead's events (of its audience, and those about the person that feed no
    audience, such as identify calls), stage changes, assignments, touches and
    notifications, oldest first."""
    items: list[dict[str, Any]] = []
    for row in conn.execute(sa.select(events).where(events.c.person_id == lead.person_id)):
        if not row.audiences or lead.audience in row.audiences:
            items.append(
                {
                    "kind": "event",
                    "at": epoch(row.occurred_at),
                    "id": row.id,
                    "type": row.type,
                    "properties": row.properties,
                    "channel": row.channel,
                    "source": row.source,
                    "campaign": row.campaign,
                }
            )
    for row in conn.execute(sa.select(stage_changes).where(stage_changes.c.lead_id == lead.id)):
        items.append(
            {
                "kind": "stage",
                "at": epoch(row.at),
                "from": row.from_stage,
                "to": row.to_stage,
                "actor": row.actor,
                "reason": row.reason,
            }
        )
    for row in conn.execute(sa.select(assignments).where(assignments.c.lead_id == lead.id)):
        items.append(
            {
                "kind": "assignment",
                "at": epoch(row.at),
                "owner": row.owner or None,
                "team": row.team,
                "rule": row.rule,
                "reason": row.reason,
                "due_at": None if row.due_at is None else epoch(row.due_at),
                "breached_at": None if row.breached_at is None else epoch(row.breached_at),
            }
        )
    for row in conn.execute(sa.select(touches).where(touches.c.lead_id == lead.id)):
        items.append(
            {
                "kind": "touch",
                "at": epoch(row.at),
                "id": row.id,
                "type": row.kind,
                "actor": row.actor,
                "source": row.source,
                "note": row.note,
            }
        )
    for row in conn.execute(
        sa.select(
            outbox.c.event_type, outbox.c.destination, outbox.c.status, outbox.c.created_at
        ).where(outbox.c.lead_id == lead.id)
    ):
        items.append(
            {
                "kind": "notification",
                "at": epoch(row.created_at),
                "type": row.event_type,
                "destination": row.destination,
                "status": row.status,
            }
        )
    items.sort(key=lambda item: (item["at"], item["kind"]))
    return items


@dataclass(frozen=True)
class StageMove:
    """A lead moved to ``stage`` at ``at`` (epoch seconds), by ``actor``, for ``reason``."""

    lead_id: str
    stage: str
    actor: str
    reason: str
    at: float


def move_stage(
    conn: sa.Connection, lead_id: str, stage: str, actor: str, reason: str, now: float
) -> str:
    """Move a lead to ``stage`` by hand (backward moves too), with a history row; returns
    the stage it left. Raises KeyError for an unknown lead, ValueError for an unknown stage."""
    return move_stages(conn, [StageMove(lead_id, stage, actor, reason, now)])[0]


def move_stages(conn: sa.Connection, moves: Sequence[StageMove]) -> list[str]:
    """Make ``moves`` in order (a lead may move more than once), each with a history row,
    in a few statements whatever their number; returns the stage each move left. Raises
    KeyError for an unknown lead and ValueError for an unknown stage, before any change."""
    for move in moves:
        if move.stage not in STAGES:
            raise ValueError(f"{move.stage!r} is not a stage; use one of {', '.join(STAGES)}")
    ids = sorted({move.lead_id for move in moves})
    current: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        query = sa.select(leads.c.id, leads.c.stage).where(leads.c.id.in_(ids[start : start + 500]))
        if conn.dialect.name == "postgresql":
            query = query.order_by(leads.c.id).with_for_update()
        current.update(dict(conn.execute(query).all()))
    for move in moves:
        if move.lead_id not in current:
            raise KeyError(move.lead_id)
    left, updates, history = [], [], []
    for move in moves:
        at = datetime.fromtimestamp(move.at, UTC)
        left.append(current[move.lead_id])
        updates.append({"m_id": move.lead_id, "m_stage": move.stage, "m_at": at})
        history.append(
            {
                "lead_id": move.lead_id,
                "at": at,
                "from_stage": current[move.lead_id],
                "to_stage": move.stage,
                "actor": move.actor,
                "reason": move.reason,
            }
        )
        current[move.lead_id] = move.stage
    if moves:
        conn.execute(
            sa.update(leads)
            .where(leads.c.id == sa.bindparam("m_id"))
            .values(stage=sa.bindparam("m_stage"), updated_at=sa.bindparam("m_at")),
            updates,
        )
        conn.execute(sa.insert(stage_changes), history)
    return left

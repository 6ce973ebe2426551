"""Leads: list, detail with explanation and timeline, and stage moves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from leadgrade.api.deps import EngineDep, HandoffDep, NowDep, ReadKey, WriteKey
from leadgrade.api.paging import CursorQuery, GradeQuery, LimitQuery, keyset_page
from leadgrade.api.routes.handoff import refused
from leadgrade.api.schemas import LeadPage, LeadPublic, StageMove
from leadgrade.core.explain import explanation
from leadgrade.engine import STAGES
from leadgrade.handoff.service import HandoffError
from leadgrade.leads import SORTS, find_leads, get_lead, timeline

router = APIRouter(tags=["leads"])


@router.get("/v1/leads", response_model=LeadPage)
def list_leads(
    engine: EngineDep,
    now: NowDep,
    _key: ReadKey,
    audience: str | None = None,
    stage: Annotated[str | None, Query(description=f"one of {', '.join(STAGES)}")] = None,
    grade: GradeQuery = None,
    owner: str | None = None,
    min_score: float | None = None,
    sort: Annotated[
        str,
        Query(
            pattern="^(score|fit|engagement|updated)$",
            description="score, fit or engagement (highest first), or updated (newest)",
        ),
    ] = "score",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Leads with their score now (engagement decayed to this moment), best first unless
    ``sort`` says otherwise. Pages are keyset-paged: a cursor names the last lead shown."""
    if stage is not None and stage not in STAGES:
        raise HTTPException(
            422, [{"path": "query:$.stage", "message": f"one of {', '.join(STAGES)}"}]
        )
    with engine.store.engine.connect() as conn:
        found = find_leads(
            conn,
            engine.models,
            now,
            audience=audience,
            stage=stage,
            grade=grade,
            owner=owner,
            min_score=min_score,
            sort=sort,
        )
    page, following = keyset_page(found, SORTS[sort], sort, limit, cursor)
    return {"items": [v.item() for v in page], "next": following}


@router.get("/v1/leads/{lead_id}")
def read_lead(
    lead_id: str, engine: EngineDep, handoff: HandoffDep, now: NowDep, _key: ReadKey
) -> dict[str, Any]:
    """A lead now: its numbers, why (contributions that add up to the score, in points
    shown to the cent), its owner and SLA clock, and its timeline of events, stage
    changes, assignments, touches and messages."""
    with engine.store.engine.connect() as conn:
        lead = get_lead(conn, engine.models, lead_id, now)
        if lead is None:
            raise HTTPException(404, f"no lead {lead_id!r}")
        events = timeline(conn, lead)
        sla = handoff.sla(conn, lead_id, now)
    return {
        **LeadPublic(**lead.item()).model_dump(),
        "explanation": explanation(lead.card),
        "handoff": sla,
        "timeline": events,
    }


@router.post("/v1/leads/{lead_id}/stage")
def post_stage(
    lead_id: str, body: StageMove, handoff: HandoffDep, now: NowDep, key: WriteKey
) -> dict[str, Any]:
    """Move a lead to a stage by hand (backward moves too); recorded with who and why. A
    candidate moved to ``won`` is scheduled for re-engagement from its placement dates."""
    if body.stage not in STAGES:
        raise HTTPException(422, [{"path": "$.stage", "message": f"one of {', '.join(STAGES)}"}])
    try:
        left = handoff.move(
            lead_id,
            body.stage,
            now,
            actor=f"api-key:{key.name}",
            reason=body.reason,
            placement_start=_seconds(body.placement_start),
            contract_end=_seconds(body.contract_end),
        )
    except HandoffError as exc:
        raise refused(exc) from None
    return {"id": lead_id, "from": left, "stage": body.stage}


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()

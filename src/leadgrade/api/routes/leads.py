"""Leads: list, detail with explanation and timeline, and stage moves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from leadgrade.api.deps import EngineDep, NowDep, ReadKey, WriteKey
from leadgrade.api.paging import CursorQuery, GradeQuery, LimitQuery, keyset_page
from leadgrade.api.schemas import LeadPage, LeadPublic, StageMove
from leadgrade.core.explain import explanation
from leadgrade.engine import STAGES
from leadgrade.leads import SORTS, find_leads, get_lead, move_stage, timeline

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
def read_lead(lead_id: str, engine: EngineDep, now: NowDep, _key: ReadKey) -> dict[str, Any]:
    """A lead now: its numbers, why (contributions that add up to the score, in points
    shown to the cent) and its timeline of events and stage changes."""
    with engine.store.engine.connect() as conn:
        lead = get_lead(conn, engine.models, lead_id, now)
        if lead is None:
            raise HTTPException(404, f"no lead {lead_id!r}")
        events = timeline(conn, lead)
    return {
        **LeadPublic(**lead.item()).model_dump(),
        "explanation": explanation(lead.card),
        "timeline": events,
    }


@router.post("/v1/leads/{lead_id}/stage")
def post_stage(
    lead_id: str, body: StageMove, engine: EngineDep, now: NowDep, key: WriteKey
) -> dict[str, Any]:
    """Move a lead to a stage by hand (backward moves too); recorded with who and why."""
    try:
        with engine.store.transaction() as conn:
            left = move_stage(conn, lead_id, body.stage, f"api-key:{key.name}", body.reason, now)
    except KeyError:
        raise HTTPException(404, f"no lead {lead_id!r}") from None
    except ValueError as exc:
        raise HTTPException(422, [{"path": "$.stage", "message": str(exc)}]) from None
    return {"id": lead_id, "from": left, "stage": body.stage}

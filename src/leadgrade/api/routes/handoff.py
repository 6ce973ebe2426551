"""The handoff: touches, sales feedback, (re)assignment, and the routing's teams."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from leadgrade.api.deps import HandoffDep, NowDep, ReadKey, WriteKey
from leadgrade.api.schemas import AssignIn, FeedbackIn, TouchIn
from leadgrade.handoff.service import HandoffError
from leadgrade.times import utc

router = APIRouter(tags=["handoff"])


def refused(exc: HandoffError) -> HTTPException:
    """The API's answer to a refused request: 404 with a message, else the field's path."""
    if exc.status == 404:
        return HTTPException(404, str(exc))
    path = "$." + exc.field if exc.field else "$"
    return HTTPException(exc.status, [{"path": path, "message": str(exc)}])


def _actor(named: str | None, key: str) -> str:
    """Who acts: the person the client names, and always the key that sent it (the
    audit log must show both)."""
    return f"{named} (api-key:{key})"[:200] if named else f"api-key:{key}"


@router.post("/v1/leads/{lead_id}/touches", status_code=status.HTTP_201_CREATED)
def post_touch(
    lead_id: str,
    body: TouchIn,
    handoff: HandoffDep,
    now: NowDep,
    key: WriteKey,
    response: Response,
) -> dict[str, Any]:
    """Record a call, e-mail, SMS or meeting; the first since the lead was assigned stops
    its SLA clock. With an ``id``, a retry is answered 200 and changes nothing."""
    at = now if body.at is None else body.at.timestamp()
    try:
        touch = handoff.touch(
            lead_id,
            body.kind,
            at,
            now,
            actor=_actor(body.actor, key.name),
            note=body.note,
            touch_id=body.id,
        )
    except HandoffError as exc:
        raise refused(exc) from None
    if touch.replayed:
        response.status_code = status.HTTP_200_OK
    with handoff.store.engine.connect() as conn:
        sla = handoff.sla(conn, lead_id, now)
    return {
        "id": touch.id,
        "lead_id": lead_id,
        "kind": touch.kind,
        "at": utc(touch.at).isoformat(),
        "first": touch.first,
        "replayed": touch.replayed,
        "sla": sla,
    }


@router.post("/v1/leads/{lead_id}/feedback")
def post_feedback(
    lead_id: str, body: FeedbackIn, handoff: HandoffDep, now: NowDep, key: WriteKey
) -> dict[str, Any]:
    """Accept (→ sal), qualify (→ sql), reject with a reason code (→ recycled, with a
    cool-down before it can be an MQL again) or disqualify. 409 when the lead's stage does
    not allow the decision; with an ``id``, a retry returns the first answer."""
    try:
        made = handoff.decide(
            lead_id,
            body.decision,
            now,
            actor=_actor(body.actor, key.name),
            reason=body.reason,
            details=body.details,
            decision_id=body.id,
        )
    except HandoffError as exc:
        raise refused(exc) from None
    return {
        "id": made.id,
        "lead_id": lead_id,
        "decision": made.decision,
        "reason": made.reason,
        "from": made.from_stage,
        "stage": made.to_stage,
        "at": utc(made.at).isoformat(),
        "replayed": made.replayed,
    }


@router.post("/v1/leads/{lead_id}/assign")
def post_assign(
    lead_id: str, body: AssignIn, handoff: HandoffDep, now: NowDep, key: WriteKey
) -> dict[str, Any]:
    """Give a lead to a rep, or (no ``owner``) route it afresh; a new SLA clock starts."""
    try:
        handoff.reassign(lead_id, body.owner, now, actor=f"api-key:{key.name}", reason=body.reason)
    except HandoffError as exc:
        raise refused(exc) from None
    with handoff.store.engine.connect() as conn:
        return {"lead_id": lead_id, "handoff": handoff.sla(conn, lead_id, now)}


@router.get("/v1/routing")
def read_routing(handoff: HandoffDep, now: NowDep, _key: ReadKey) -> dict[str, Any]:
    """Teams and reps as routing sees them now: open MQLs, capacity, away."""
    with handoff.store.engine.connect() as conn:
        return handoff.roster(conn, now)

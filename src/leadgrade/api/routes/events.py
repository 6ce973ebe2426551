"""``POST /v1/events``: one event, or a batch of up to 1,000 (5 MB)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from leadgrade.api.deps import IngestKey, NowDep
from leadgrade.api.errors import from_validation
from leadgrade.api.ingester import Ingester
from leadgrade.api.schemas import EventBatch, EventBody, IngestPublic

router = APIRouter(tags=["events"])

MAX_BYTES = 5 * 1024 * 1024

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/EventBody"},
                        {"$ref": "#/components/schemas/EventBatch"},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/v1/events",
    response_model=IngestPublic,
    openapi_extra=BODY_DOC,
    responses={
        413: {"description": "over 5 MB"},
        415: {"description": "not JSON"},
        422: {"description": "every invalid field by its JSON path; nothing is stored"},
    },
)
async def post_events(
    request: Request,
    now: NowDep,
    _key: IngestKey,
    dry_run: Annotated[
        bool, Query(description="Check the events and answer without storing them.")
    ] = False,
) -> JSONResponse:
    """Store and score events. Replays (an id already stored) count as duplicates and
    change nothing; a batch with any invalid event is refused whole. Requests arriving
    together are written in one transaction (group commit)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse(
            {"detail": "send JSON: Content-Type: application/json"},
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        return JSONResponse({"detail": f"the body is over {MAX_BYTES} bytes"}, status_code=413)
    body = await request.body()
    if len(body) > MAX_BYTES:
        return JSONResponse({"detail": f"the body is over {MAX_BYTES} bytes"}, status_code=413)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return JSONResponse(
            {"detail": [{"path": "$", "message": f"not JSON: {exc}"}]}, status_code=422
        )
    try:
        if isinstance(data, dict) and "events" in data:
            events = [e.to_event() for e in EventBatch.model_validate(data).events]
        else:
            events = [EventBody.model_validate(data).to_event()]
    except ValidationError as exc:
        return from_validation(exc)
    if dry_run:
        return JSONResponse(
            IngestPublic(accepted=0, duplicates=0, refused=0, valid=len(events)).model_dump()
        )
    ingester: Ingester = request.app.state.ingester
    result = await ingester.submit(events, now)
    counter = request.app.state.metrics.events
    counter.labels("accepted").inc(result.accepted)
    counter.labels("duplicate").inc(result.duplicates)
    counter.labels("refused").inc(result.refused)
    return JSONResponse(
        IngestPublic(
            accepted=result.accepted,
            duplicates=result.duplicates,
            refused=result.refused,
            valid=len(events),
        ).model_dump()
    )

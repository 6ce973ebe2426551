"""The audit log: who did what, when (admin keys only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from leadgrade.api.deps import AdminKey, EngineDep
from leadgrade.api.paging import CursorQuery, LimitQuery, decode_cursor, encode_cursor
from leadgrade.audit import ACTIONS, entries
from leadgrade.times import epoch

router = APIRouter(tags=["audit"])

PAGING = "audit"  # what a cursor of this list is for


@router.get("/v1/audit")
def get_audit(
    engine: EngineDep,
    _key: AdminKey,
    action: Annotated[
        str | None,
        Query(
            max_length=60,
            description="an action (`model.activated`), or every action under a prefix "
            f"ending in a dot (`model.`); actions: {', '.join(ACTIONS)}",
        ),
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=200, description="what was acted on: a lead, key, version…")
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, description="who acted: `api-key:<name>`, `cli`…")
    ] = None,
    since: Annotated[datetime | None, Query(description="entries at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="entries before (ISO 8601)")] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Audit entries, oldest first, in the order they were written. Pages are keyset-paged:
    a cursor names the last entry shown, so entries written meanwhile shift nothing."""
    after = None
    if cursor:
        named = decode_cursor(cursor, PAGING)
        if len(named) != 1 or not isinstance(named[0], int):
            raise HTTPException(
                422, [{"path": "query:$.cursor", "message": "not a cursor this API gave out"}]
            )
        after = named[0]
    with engine.store.engine.connect() as conn:
        found = entries(
            conn,
            action=action,
            subject=subject,
            actor=actor,
            since=_seconds(since),
            until=_seconds(until),
            after=after,
            limit=limit + 1,
        )
    page = found[:limit]
    following = encode_cursor(PAGING, (page[-1].id,)) if len(found) > limit else None
    return {"items": [entry.public() for entry in page], "next": following}


def _seconds(moment: datetime | None) -> float | None:
    """Epoch seconds; a time without an offset is UTC, as everywhere in leadgrade."""
    return None if moment is None else epoch(moment)

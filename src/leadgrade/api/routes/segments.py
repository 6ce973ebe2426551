"""Segments for nurture: definitions with member counts, members (paged), CSV exports."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from leadgrade.api.deps import EngineDep, NowDep, ReadKey
from leadgrade.api.paging import CursorQuery, LimitQuery, keyset_page
from leadgrade.core.segments import Segment
from leadgrade.engine import Engine
from leadgrade.handoff.segments import MEMBER_SORTS, Segments, write_csv

router = APIRouter(tags=["segments"])


async def get_segments(request: Request) -> Segments:
    """The app's segments: ``create_app(segments=…)``, else those installed on its engine,
    else none."""
    found: Segments | None = getattr(request.app.state, "segments", None)
    if found is None:
        engine: Engine = request.app.state.engine
        found = Segments.of(engine) or Segments((), engine.models)
    return found


SegmentsDep = Annotated[Segments, Depends(get_segments)]


def _segment(segments: Segments, segment_id: str) -> Segment:
    found = segments.by_id.get(segment_id)
    if found is None:
        known = ", ".join(sorted(segments.by_id)) or "none are defined"
        raise HTTPException(404, f"no segment {segment_id!r} (segments: {known})")
    return found


@router.get("/v1/segments")
def list_segments(engine: EngineDep, segments: SegmentsDep, _key: ReadKey) -> dict[str, Any]:
    """The workspace's segments (segments.yaml): their conditions in words and how many
    members each has."""
    with engine.store.engine.connect() as conn:
        counts = segments.counts(conn)
    return {
        "items": [
            {
                "id": segment.id,
                "name": segment.name,
                "description": segment.spec.description,
                "audience": segment.audience,
                "conditions": segment.describe(),
                "members": counts.get(segment.id, 0),
            }
            for segment in segments.segments
        ]
    }


@router.get("/v1/segments/{segment_id}/members")
def list_members(
    segment_id: str,
    engine: EngineDep,
    now: NowDep,
    segments: SegmentsDep,
    _key: ReadKey,
    sort: Annotated[
        str,
        Query(
            pattern="^(score|entered)$",
            description="score (now, highest first) or entered (newest first)",
        ),
    ] = "score",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The segment's members with their numbers now and when they entered; keyset-paged
    as ``GET /v1/leads``."""
    _segment(segments, segment_id)
    with engine.store.engine.connect() as conn:
        found = segments.members(conn, segment_id, now)
    found.sort(key=MEMBER_SORTS[sort])
    page, following = keyset_page(found, MEMBER_SORTS[sort], sort, limit, cursor)
    return {"items": [member.item() for member in page], "next": following}


@router.get(
    "/v1/segments/{segment_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_segment(
    segment_id: str,
    engine: EngineDep,
    now: NowDep,
    segments: SegmentsDep,
    key: ReadKey,
    plain: Annotated[
        bool, Query(description="the e-mail as is instead of its SHA-256 (admin keys only)")
    ] = False,
) -> Response:
    """The members as CSV for an ad platform's custom audience, oldest entry first: lead
    id, audience, score, grade, stage, entered_at and the SHA-256 of the normalised
    e-mail, which is what the platforms match on; the plain e-mail needs an admin key."""
    _segment(segments, segment_id)
    if plain and "admin" not in key.scopes:
        raise HTTPException(
            403, f"the key {key.name!r} lacks the 'admin' scope that plain=true needs"
        )
    with engine.store.engine.connect() as conn:
        found = segments.members(conn, segment_id, now)
    found.sort(key=lambda member: (member.entered_at, member.lead.id))
    text = io.StringIO()
    write_csv(found, text, plain=plain)
    return Response(
        text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{segment_id}.csv"'},
    )

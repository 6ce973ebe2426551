"""The Segment HTTP Tracking API: ``POST /v1/batch`` and the single calls
(docs/tracking.md), answering as Segment does so that its client libraries are satisfied:
``200 {"success": true}``; ``400`` for a body that is not JSON, too large, or holds a
message that cannot be read (nothing of it is stored); ``401``/``403`` for the write key.
Error bodies carry ``code`` and ``message``, which Segment's libraries log."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from leadgrade.api.deps import EngineDep, NowDep, ReadKey, authorize
from leadgrade.api.ingester import Ingester
from leadgrade.api.routes import people
from leadgrade.api.schemas import IdentifyBody
from leadgrade.core.attributes import attribute_name
from leadgrade.engine import Engine, PersonRef
from leadgrade.keys import ApiKey, verify
from leadgrade.settings import TrackingSection
from leadgrade.store.schema import events, identities
from leadgrade.tracking import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MessageError,
    read_batch,
)

router = APIRouter(tags=["tracking"])

#: Segment's calls and the one-letter paths analytics.js posts them to (``/v1/t``, …).
CALLS = {"track": "t", "page": "p", "screen": "s", "identify": "i", "group": "g", "alias": "a"}
PATHS = frozenset(
    {
        "/v1/batch",
        "/v1/b",
        *(f"/v1/{call}" for call in CALLS),
        *(f"/v1/{c}" for c in CALLS.values()),
    }
)
#: Keys only a Segment message has: a body with one of them is never leadgrade's own
#: identify (``POST /v1/identify`` serves both).
SEGMENT_KEYS = frozenset(
    {"userId", "anonymousId", "type", "messageId", "writeKey", "sentAt", "timestamp", "context"}
)


@dataclass
class Tracking:
    """What the routes need: the workspace's mapping and this process's counters."""

    settings: TrackingSection
    messages: Counter
    unmapped: Counter


class TrackingCORS:
    """Starlette's CORS middleware on the tracking paths only: a browser tracker on one of
    the firm's websites may post events; nothing else is opened to other origins."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install(app: FastAPI, settings: TrackingSection | None) -> None:
    """Add the tracking API to ``app`` (before leadgrade's own ``/v1/identify``)."""
    settings = settings or TrackingSection()
    registry: CollectorRegistry = app.state.metrics.registry
    app.state.tracking = Tracking(
        settings,
        Counter(
            "leadgrade_tracking_messages",
            "Tracking API messages received, by Segment type.",
            ["type"],
            registry=registry,
        ),
        Counter(
            "leadgrade_tracking_unmapped",
            "Track messages received whose event name maps to no event type.",
            registry=registry,
        ),
    )
    app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(TrackingCORS, origins=settings.cors_origins)


def refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "code": code, "message": message}, status_code=status)


BATCH_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["batch"],
                    "properties": {
                        "batch": {"type": "array", "items": {"type": "object"}, "maxItems": 2500},
                        "sentAt": {"type": "string", "format": "date-time"},
                        "context": {"type": "object"},
                        "writeKey": {"type": "string"},
                    },
                }
            }
        },
    }
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": '{"success": true}: stored (or already stored: a retry changes nothing)'},
    400: {
        "description": "not JSON, over the size limits, or a message that cannot be read; "
        "nothing is stored"
    },
    401: {"description": "no write key, or an unknown or revoked one"},
    403: {"description": "the key lacks the ingest scope"},
}


@router.post("/v1/batch", openapi_extra=BATCH_DOC, responses=ANSWERS)
async def post_batch(request: Request, now: NowDep) -> JSONResponse:
    """Segment's batch call: up to 2,500 messages (500 KB, 32 KB each) of any type, stored
    in order in one transaction, or refused whole."""
    return await _receive(request, now, None)


router.add_api_route("/v1/b", post_batch, methods=["POST"], include_in_schema=False)


def _call(kind: str) -> Any:
    async def endpoint(request: Request, now: NowDep) -> JSONResponse:
        return await _receive(request, now, kind)

    endpoint.__doc__ = f"Segment's {kind} call: one message (32 KB)."
    return endpoint


for _kind, _letter in CALLS.items():
    if _kind != "identify":  # see segment_identify
        router.add_api_route(
            f"/v1/{_kind}",
            _call(_kind),
            methods=["POST"],
            name=f"segment_{_kind}",
            summary=f"Segment {_kind}",
            responses=ANSWERS,
        )
    router.add_api_route(
        f"/v1/{_letter}",
        _call(_kind),
        methods=["POST"],
        name=f"segment_{_kind}_short",
        include_in_schema=False,
    )


@router.post("/v1/identify", include_in_schema=False)
async def segment_identify(request: Request, now: NowDep, engine: EngineDep) -> Any:
    """Segment's identify call, or leadgrade's own (``person_id``, ``email``,
    ``anonymous_id``, ``external``, ``traits``, with a Bearer key), told apart by the body."""
    body = await _read(request, MAX_MESSAGE_BYTES)
    if isinstance(body, JSONResponse):
        return body
    data = _json(body)
    if isinstance(data, dict) and _leadgrades_own(request, data):
        key = await asyncio.to_thread(authorize, request, engine, "ingest")
        try:
            named = IdentifyBody.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        return await asyncio.to_thread(people.identify, named, engine, now, key)
    return await _receive(request, now, "identify", body)


@router.get("/v1/tracking/unmapped")
def unmapped(request: Request, engine: EngineDep, _key: ReadKey) -> dict[str, Any]:
    """Track event names stored with no mapping (they score nothing), most frequent first:
    what to add to ``[tracking.events]``. Names mapped since are left out."""
    tracking: Tracking = request.app.state.tracking
    mapped = {attribute_name(name) for name in tracking.settings.track_events()}
    stored = (
        sa.select(
            events.c.properties["event_name"].as_string().label("event"),
            events.c.type,
            events.c.occurred_at,
        )
        .where(events.c.type.startswith(tracking.settings.unmapped + ".", autoescape=True))
        .subquery()
    )
    count = sa.func.count().label("count")
    query = (
        sa.select(stored.c.event, stored.c.type, count, sa.func.max(stored.c.occurred_at))
        .group_by(stored.c.event, stored.c.type)
        .order_by(count.desc(), stored.c.event)
    )
    with engine.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        "items": [
            {"event": event, "type": kind, "count": n, "last_seen": _iso(last)}
            for event, kind, n, last in rows
            if attribute_name(event or "") not in mapped
        ]
    }


# ----------------------------------------------------------------------- receiving


async def _receive(
    request: Request, now: float, kind: str | None, body: bytes | None = None
) -> JSONResponse:
    if body is None:
        read = await _read(request, MAX_BATCH_BYTES if kind is None else MAX_MESSAGE_BYTES)
        if isinstance(read, JSONResponse):
            return read
        body = read
    data = _json(body)
    if data is _NOT_JSON:
        return refuse(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(data, dict):
        return refuse(400, "invalid_json", "the body is not a JSON object")
    engine: Engine = request.app.state.engine
    denied = await asyncio.to_thread(_authorise, request, engine, data.get("writeKey"))
    if isinstance(denied, JSONResponse):
        return denied
    tracking: Tracking = request.app.state.tracking
    if kind is None:
        messages = data.get("batch")
        if not isinstance(messages, list):
            return refuse(400, "invalid_request", "$.batch: a list of messages is required")
        if len(messages) > MAX_BATCH_MESSAGES:
            return refuse(
                400, "too_large", f"$.batch: over {MAX_BATCH_MESSAGES} messages in one batch"
            )
    else:
        messages = [data]
    previous = [
        str(m["previousId"])
        for m in messages
        if isinstance(m, dict) and (kind or m.get("type")) == "alias" and m.get("previousId")
    ]
    known = await asyncio.to_thread(_users, engine, tracking.settings.system, previous)
    try:
        if kind is None:
            mapped = read_batch(
                messages,
                tracking.settings,
                now,
                sent_at=data.get("sentAt"),
                context=data.get("context"),
                known_users=known,
            )
        else:
            mapped = read_batch(
                messages, tracking.settings, now, kind=kind, where="$", known_users=known
            )
    except MessageError as exc:
        return refuse(400, exc.code, str(exc))
    if mapped.events:
        ingester: Ingester = request.app.state.ingester
        outcome = await ingester.submit(mapped.events, now)
        counter = request.app.state.metrics.events
        counter.labels("accepted").inc(outcome.accepted)
        counter.labels("duplicate").inc(outcome.duplicates)
    if mapped.refits:
        await asyncio.to_thread(_refit, engine, mapped.refits, now)
    for message_type, n in mapped.kinds.items():
        tracking.messages.labels(message_type).inc(n)
    tracking.unmapped.inc(sum(mapped.unmapped.values()))
    return JSONResponse({"success": True})


async def _read(request: Request, limit: int) -> bytes | JSONResponse:
    """The body, gunzipped if it came compressed, or the 400 that refuses it."""
    too_large = refuse(400, "too_large", f"the body is over {limit // 1024} KB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return too_large
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return bytes(body)
    if encoding != "gzip":
        return refuse(400, "invalid_request", "send the body plain or gzip-compressed")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflate.decompress(bytes(body), limit + 1)
    except zlib.error:
        return refuse(400, "invalid_request", "the body is not valid gzip")
    if len(plain) > limit or inflate.unconsumed_tail:
        return too_large
    if not inflate.eof:
        return refuse(400, "invalid_request", "the gzip body is cut short")
    return plain


_NOT_JSON = object()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON


def _leadgrades_own(request: Request, data: dict[str, Any]) -> bool:
    """A body for leadgrade's own identify: no Segment key in it, sent with a Bearer key."""
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    return not (SEGMENT_KEYS & data.keys()) and scheme == "bearer"


def _authorise(request: Request, engine: Engine, body_key: object) -> ApiKey | JSONResponse:
    """The write key: HTTP Basic (the key as user name, no password), a Bearer key, or,
    with no Authorization header (analytics.js), ``writeKey`` in the body."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token: str | None = None
    if scheme.lower() == "basic":
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        token = user or password
    elif scheme.lower() == "bearer":
        token = value.strip()
    elif not header and isinstance(body_key, str):
        token = body_key
    if not token:
        return refuse(
            401, "unauthorized", "send the write key as the Basic user name, or as a Bearer key"
        )
    with engine.store.engine.connect() as conn:
        key = verify(conn, token.strip())
    if key is None:
        return refuse(401, "unauthorized", "unknown or revoked write key")
    if not key.allows("ingest"):
        return refuse(403, "forbidden", f"the key {key.name!r} lacks the 'ingest' scope")
    return key


def _users(engine: Engine, system: str, user_ids: Sequence[str]) -> dict[str, str]:
    """Person ids of the stored user ids among ``user_ids`` (an alias's previousId may be
    one)."""
    if not user_ids:
        return {}
    with engine.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(identities.c.value, identities.c.person_id).where(
                identities.c.kind == system, identities.c.value.in_(sorted(set(user_ids)))
            )
        )
        return {str(value): str(person) for value, person in rows}


def _refit(engine: Engine, persons: Sequence[PersonRef], now: float) -> None:
    """Refit every lead of people whose traits changed (the batch's own events refitted
    only the leads they fed)."""
    for person in dict.fromkeys(persons):
        engine.identify(person, {}, now)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Integrations over HTTP (docs/integrations.md): Greenhouse's webhooks in, and the
Bullhorn and Jobvite pollers run inside the server when their sections say so.

``POST /v1/integrations/greenhouse`` is authenticated by Greenhouse's signature, not by an
API key: ``Signature: sha256 <hex>``, an HMAC-SHA256 of the raw body with the webhook's
secret key. A missing or wrong signature is answered 401 and nothing is stored."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from leadgrade.api.deps import NowDep
from leadgrade.engine import Engine
from leadgrade.integrations import greenhouse
from leadgrade.integrations.apply import Applier
from leadgrade.settings import IntegrationsSection, PrivacySection

logger = logging.getLogger(__name__)

router = APIRouter(tags=["integrations"])

MAX_BODY = 2 * 1024 * 1024  # Greenhouse payloads are a few kilobytes; a résumé is a link


def install(
    app: FastAPI,
    settings: IntegrationsSection | None,
    clock: Callable[[], float],
) -> None:
    """Add the integration routes to ``app``, and run the pollers its settings enable
    (``[integrations.bullhorn] enabled``, ``[integrations.jobvite] enabled``) while the
    server runs."""
    settings = settings or IntegrationsSection()
    app.state.integrations = settings
    app.include_router(router)
    pollers = _pollers(app, settings)
    if pollers:

        @asynccontextmanager
        async def polling(_app: Any) -> AsyncIterator[None]:
            tasks = [
                asyncio.create_task(_every(name, poll, every, clock))
                for name, poll, _, every in pollers
            ]
            yield
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _, _, close, _ in pollers:
                close()

        app.include_router(APIRouter(lifespan=polling))


Poller = tuple[str, Callable[[float], object], Callable[[], None], float]


def _pollers(app: FastAPI, settings: IntegrationsSection) -> list[Poller]:
    """The enabled pollers: name, one pass, close, seconds between passes."""
    engine: Engine = app.state.engine
    found: list[Poller] = []
    holds = _holds(app)
    if settings.bullhorn.enabled:
        from leadgrade.integrations.bullhorn import BullhornPoller

        bullhorn = BullhornPoller(engine, settings.bullhorn, holds=holds)
        found.append(("bullhorn", bullhorn.drain, bullhorn.close, settings.bullhorn.poll_every))
    if settings.jobvite.enabled:
        from leadgrade.integrations.jobvite import JobviteError, JobvitePoller

        try:
            jobvite = JobvitePoller(engine, settings.jobvite, holds=holds)
        except JobviteError as exc:  # not configured: the rest of the server still serves
            logger.error("not polling Jobvite: %s", exc)
        else:
            found.append(("jobvite", jobvite.poll, jobvite.close, settings.jobvite.poll_every))
    return found


async def _every(
    name: str, poll: Callable[[float], object], every: float, clock: Callable[[], float]
) -> None:
    while True:
        try:
            await asyncio.to_thread(poll, clock())
        except Exception:  # the next poll tries again; a server must not die of one
            logger.exception("polling %s failed", name)
        await asyncio.sleep(every)


def _holds(app: FastAPI) -> Any:
    privacy: PrivacySection = getattr(app.state, "privacy", None) or PrivacySection()
    return privacy.holds


def _answer(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


WEBHOOK_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "sha256 <hex>: HMAC-SHA256 of the raw body with the secret key",
        },
        {
            "name": "Greenhouse-Event-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "the delivery's id: a retried delivery changes nothing",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {"action": {"type": "string"}, "payload": {"type": "object"}},
                }
            }
        },
    },
}
WEBHOOK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "stored (or already stored), a ping, or an action not mapped"},
    400: {"description": "not JSON, or a payload that cannot be read (its JSON path)"},
    401: {"description": "no Signature header, or a wrong one: nothing is stored"},
    413: {"description": "a body over 2 MB"},
    503: {"description": "no Greenhouse secret is configured"},
}


@router.post("/v1/integrations/greenhouse", openapi_extra=WEBHOOK_DOC, responses=WEBHOOK_ANSWERS)
async def greenhouse_webhook(request: Request, now: NowDep) -> JSONResponse:
    """Greenhouse's webhooks: applications, stage changes, offers and hires move the
    candidate's lead (a hire to ``won``, scheduling re-engagement); deletions and
    anonymisations erase them; merges merge them. Answers 200 so that Greenhouse stops
    retrying; the body says what was done."""
    settings: IntegrationsSection = request.app.state.integrations
    secret = settings.greenhouse.secret
    if not secret:
        return _answer(
            503,
            "Greenhouse webhooks are not configured: set [integrations.greenhouse] secret "
            "or LEADGRADE_GREENHOUSE_SECRET",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return _answer(413, "the body is over 2 MB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _answer(413, "the body is over 2 MB")
    raw = bytes(body)
    if not greenhouse.signature_ok(secret, raw, request.headers.get(greenhouse.SIGNATURE_HEADER)):
        return _answer(401, "the Signature header is missing or does not match the body")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _answer(400, "the body is not valid JSON")
    event_id = greenhouse.delivery_id(request.headers.get(greenhouse.EVENT_ID_HEADER), raw)
    try:
        webhook = greenhouse.read_webhook(data, event_id, settings.greenhouse, now)
    except greenhouse.WebhookError as exc:
        return _answer(400, str(exc), where=exc.where)
    if webhook.change is None:
        status = "pong" if webhook.action == "ping" else "ignored"
        return JSONResponse({"action": webhook.action, "status": status})
    applier = Applier(request.app.state.engine, greenhouse.SOURCE, holds=_holds(request.app))
    outcome = await asyncio.to_thread(applier.apply, [webhook.change], now)
    return JSONResponse(
        {"action": webhook.action, "event_id": event_id, "status": "ok", **outcome.report()}
    )

"""The REST API (FastAPI), versioned under ``/v1``; OpenAPI at ``/docs``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadgrade import __version__
from leadgrade.api.errors import request_validation_handler
from leadgrade.api.ingester import Ingester
from leadgrade.api.metrics import Metrics
from leadgrade.api.routes import accounts, events, leads, models, people, tracking
from leadgrade.api.routes import audit as audit_routes
from leadgrade.api.routes import consent as consent_routes
from leadgrade.api.routes import demographics as demographics_routes
from leadgrade.api.routes import handoff as handoff_routes
from leadgrade.api.routes import integrations as integration_routes
from leadgrade.api.routes import privacy as privacy_routes
from leadgrade.api.routes import reports as reports_routes
from leadgrade.api.routes import segments as segments_routes
from leadgrade.engine import Engine
from leadgrade.handoff.routing import EMPTY, compile_routing
from leadgrade.handoff.service import Handoff
from leadgrade.keys import KeyCache
from leadgrade.privacy import optout
from leadgrade.settings import IntegrationsSection, PrivacySection, TrackingSection

if TYPE_CHECKING:
    from leadgrade.handoff.delivery import Outbox
    from leadgrade.handoff.segments import Segments

logger = logging.getLogger(__name__)


def create_app(
    engine: Engine,
    clock: Callable[[], float] = time.time,
    tick_every: float | None = None,
    lists: Mapping[str, tuple[str, ...]] | None = None,
    tracking_settings: TrackingSection | None = None,
    key_cache_seconds: float = 10.0,
    handoff: Handoff | None = None,
    outbox: Outbox | None = None,
    outbox_poll: float = 0.5,
    segments: Segments | None = None,
    privacy: PrivacySection | None = None,
    integrations: IntegrationsSection | None = None,
) -> FastAPI:
    """The API over ``engine``; ``clock`` gives "now" (tests pass a fixed one). With
    ``tick_every`` seconds, a scheduler inside the server expires due MQLs (``Engine.tick``).
    ``tracking_settings`` map the Segment tracking API's messages (default: the defaults).
    Verified API keys are remembered ``key_cache_seconds`` (a revoked key is refused at
    most that much later; 0 checks the store on every request). ``handoff`` routes MQLs,
    keeps SLA clocks and takes feedback (default: no routing, no notifications); with
    it, the scheduler also fires its timers (SLA breaches, re-engagements). With an
    ``outbox``, the server delivers due notifications every ``outbox_poll`` seconds
    (docs/outbox.md). ``integrations`` configure Greenhouse's webhooks and the Bullhorn
    and Jobvite pollers, which run inside the server when enabled (docs/integrations.md)."""
    if handoff is None:
        handoff = Handoff.of(engine) or Handoff(engine, compile_routing(EMPTY))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticking(handoff, clock, tick_every)) if tick_every else None
        delivering = (
            asyncio.create_task(_delivering(outbox, clock, outbox_poll)) if outbox else None
        )
        yield
        if task is not None:
            task.cancel()
        if delivering is not None:
            delivering.cancel()
        await app.state.ingester.close()

    app = FastAPI(
        title="leadgrade",
        version=__version__,
        lifespan=lifespan,
        description="Lead scoring and MQL engine: fit + decaying engagement, A1–D4.",
    )
    app.state.engine = engine
    optout.install(engine)  # a STOP reply opts out within its own request
    app.state.handoff = handoff
    app.state.privacy = privacy or PrivacySection()  # legal holds that erasures keep
    app.state.segments = segments  # None: no segments (GET /v1/segments lists none)
    app.state.ingester = Ingester(engine)
    app.state.keys = KeyCache(ttl=key_cache_seconds)
    app.state.clock = clock
    app.state.lists = dict(lists or {})  # named lists, for model versions posted
    app.state.metrics = Metrics(engine)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.include_router(events.router)
    tracking.install(app, tracking_settings)  # before people: it serves /v1/identify too
    app.include_router(leads.router)
    app.include_router(accounts.router)
    app.include_router(people.router)
    app.include_router(models.router)
    app.include_router(handoff_routes.router)
    app.include_router(segments_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(demographics_routes.router)
    app.include_router(reports_routes.router)
    app.include_router(privacy_routes.router)
    app.include_router(consent_routes.router)
    integration_routes.install(app, integrations, clock)  # Greenhouse; the pollers

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus text format: leads by audience and stage, events by outcome."""
        return PlainTextResponse(
            generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        """Up, and the store answers."""
        with engine.store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "store": engine.store.dialect, "revision": engine.store.revision()}

    return app


async def _ticking(handoff: Handoff, clock: Callable[[], float], every: float) -> None:
    while True:
        try:
            await asyncio.to_thread(handoff.tick, clock())
        except Exception:  # the next tick tries again; a server must not die of one
            logger.exception("expiring MQLs or firing timers failed")
        await asyncio.sleep(every)


async def _delivering(outbox: Outbox, clock: Callable[[], float], every: float) -> None:
    while True:
        try:
            report = await asyncio.to_thread(outbox.deliver_due, clock())
        except Exception:  # the next pass tries again; a server must not die of one
            logger.exception("delivering the outbox failed")
            report = None
        if report is None or report.claimed < outbox.batch:  # a full batch: more may be due
            await asyncio.sleep(every)

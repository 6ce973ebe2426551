"""The REST API (FastAPI), versioned under ``/v1``; OpenAPI at ``/docs``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leadgrade import __version__
from leadgrade.api.errors import request_validation_handler
from leadgrade.api.ingester import Ingester
from leadgrade.api.metrics import Metrics
from leadgrade.api.routes import accounts, events, leads, models, people, tracking
from leadgrade.engine import Engine
from leadgrade.keys import KeyCache
from leadgrade.settings import TrackingSection

logger = logging.getLogger(__name__)


def create_app(
    engine: Engine,
    clock: Callable[[], float] = time.time,
    tick_every: float | None = None,
    lists: Mapping[str, tuple[str, ...]] | None = None,
    tracking_settings: TrackingSection | None = None,
    key_cache_seconds: float = 10.0,
) -> FastAPI:
    """The API over ``engine``; ``clock`` gives "now" (tests pass a fixed one). With
    ``tick_every`` seconds, a scheduler inside the server expires due MQLs (``Engine.tick``).
    ``tracking_settings`` map the Segment tracking API's messages (default: the defaults).
    Verified API keys are remembered ``key_cache_seconds`` (a revoked key is refused at
    most that much later; 0 checks the store on every request)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticking(engine, clock, tick_every)) if tick_every else None
        yield
        if task is not None:
            task.cancel()
        await app.state.ingester.close()

    app = FastAPI(
        title="leadgrade",
        version=__version__,
        lifespan=lifespan,
        description="Lead scoring and MQL engine: fit + decaying engagement, A1–D4.",
    )
    app.state.engine = engine
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


async def _ticking(engine: Engine, clock: Callable[[], float], every: float) -> None:
    while True:
        try:
            await asyncio.to_thread(engine.tick, clock())
        except Exception:  # the next tick tries again; a server must not die of one
            logger.exception("expiring MQLs failed")
        await asyncio.sleep(every)

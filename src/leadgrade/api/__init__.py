"""The REST API (FastAPI), versioned under ``/v1``; OpenAPI at ``/docs``."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from leadgrade import __version__
from leadgrade.api.errors import request_validation_handler
from leadgrade.api.routes import events, leads
from leadgrade.engine import Engine


def create_app(engine: Engine, clock: Callable[[], float] = time.time) -> FastAPI:
    """The API over ``engine``; ``clock`` gives "now" (tests pass a fixed one)."""
    app = FastAPI(
        title="leadgrade",
        version=__version__,
        description="Lead scoring and MQL engine: fit + decaying engagement, A1–D4.",
    )
    app.state.engine = engine
    app.state.clock = clock
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.include_router(events.router)
    app.include_router(leads.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        """Up, and the store answers."""
        with engine.store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "store": engine.store.dialect, "revision": engine.store.revision()}

    return app

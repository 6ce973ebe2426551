"""Dependencies of the routes: the engine, the clock, and the API key with its scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from leadgrade.engine import Engine
from leadgrade.keys import ApiKey, verify


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_now(request: Request) -> float:
    clock: Callable[[], float] = request.app.state.clock
    return clock()


EngineDep = Annotated[Engine, Depends(get_engine)]
NowDep = Annotated[float, Depends(get_now)]


def require(scope: str) -> Callable[[Request, Engine], ApiKey]:
    """A dependency admitting requests whose ``Authorization: Bearer`` key has ``scope``."""

    def check(request: Request, engine: EngineDep) -> ApiKey:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "send an API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        with engine.store.engine.connect() as conn:
            key = verify(conn, token.strip())
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not key.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the key {key.name!r} lacks the {scope!r} scope"
            )
        return key

    return check


IngestKey = Annotated[ApiKey, Depends(require("ingest"))]
ReadKey = Annotated[ApiKey, Depends(require("read"))]
WriteKey = Annotated[ApiKey, Depends(require("write"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]

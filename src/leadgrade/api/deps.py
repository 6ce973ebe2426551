"""Dependencies of the routes: the engine, the clock, and the API key with its scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from leadgrade.engine import Engine
from leadgrade.handoff.service import Handoff
from leadgrade.keys import ApiKey, KeyCache, verify

# The dependencies are coroutines, though nothing in them waits: FastAPI runs a plain
# function dependency in a worker thread, a hop per dependency per request.


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_now(request: Request) -> float:
    clock: Callable[[], float] = request.app.state.clock
    return clock()


async def get_handoff(request: Request) -> Handoff:
    handoff: Handoff = request.app.state.handoff
    return handoff


EngineDep = Annotated[Engine, Depends(get_engine)]
HandoffDep = Annotated[Handoff, Depends(get_handoff)]
NowDep = Annotated[float, Depends(get_now)]


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _admit(key: ApiKey | None, scope: str) -> ApiKey:
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


def authorize(request: Request, engine: Engine, scope: str) -> ApiKey:
    """The request's ``Authorization: Bearer`` key, if it has ``scope`` (401/403 if not).
    Blocking: it may query the store."""
    token = _token(request)
    cache: KeyCache | None = getattr(request.app.state, "keys", None)
    if cache is not None:
        return _admit(cache.verify(engine.store.engine.connect, token), scope)
    with engine.store.engine.connect() as conn:
        return _admit(verify(conn, token), scope)


def require(scope: str) -> Callable[[Request, Engine], Awaitable[ApiKey]]:
    """A dependency admitting requests whose ``Authorization: Bearer`` key has ``scope``.
    A key verified moments ago is answered from memory on the event loop; the store is
    asked from a worker thread."""

    async def check(request: Request, engine: EngineDep) -> ApiKey:
        token = _token(request)
        cache: KeyCache | None = getattr(request.app.state, "keys", None)
        remembered = None if cache is None else cache.remembered(token)
        if remembered is not None:
            return _admit(remembered, scope)
        return await run_in_threadpool(authorize, request, engine, scope)

    return check


IngestKey = Annotated[ApiKey, Depends(require("ingest"))]
ReadKey = Annotated[ApiKey, Depends(require("read"))]
WriteKey = Annotated[ApiKey, Depends(require("write"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]

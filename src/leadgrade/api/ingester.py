"""Group commit for the HTTP API: requests that arrive together are stored in one engine
transaction.

Fifty clients each posting one event would otherwise cost fifty transactions, fifty
lookups of the same identities and fifty commits. The ingester queues each request's
events and a single writer takes everything queued at once (up to ``max_events``),
ingests it in a worker thread, and answers every request with its own counts. While
one group is being written the next one gathers, so nothing waits on a timer: under
light load a request is written alone, under heavy load groups grow by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadgrade.engine import Engine, EventIn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """One request's share of a group: how many of its events were new, how many were
    already stored (or came earlier in the same group), how many named an erased person."""

    accepted: int
    duplicates: int
    refused: int = 0


@dataclass
class _Request:
    events: Sequence[EventIn]
    now: float
    done: asyncio.Future[Outcome] = field(repr=False)


class Ingester:
    def __init__(self, engine: Engine, *, max_events: int = 2000) -> None:
        self.engine = engine
        self.max_events = max_events
        self._queue: asyncio.Queue[_Request] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, events: Sequence[EventIn], now: float) -> Outcome:
        """Store ``events`` (already validated) with whatever else is queued; returns
        this request's counts once the group is committed."""
        queue = self._ensure_writer()
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await queue.put(_Request(events, now, done))
        return await done

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    def _ensure_writer(self) -> asyncio.Queue[_Request]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._writer is None:
            # A test client may run each request on its own loop: one writer per loop.
            self._loop = loop
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._write_forever(self._queue))
        return self._queue

    async def _write_forever(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            group = [await queue.get()]
            size = len(group[0].events)
            while size < self.max_events and not queue.empty():
                request = queue.get_nowait()
                group.append(request)
                size += len(request.events)
            await self._write(group)

    async def _write(self, group: list[_Request]) -> None:
        try:
            outcomes = await asyncio.to_thread(self._ingest, group)
        except Exception as error:
            if len(group) == 1:
                if not group[0].done.done():
                    group[0].done.set_exception(error)
                return
            # One bad request must not fail the others: write them one by one.
            logger.warning("a group of %d requests failed; writing them apart", len(group))
            for request in group:
                await self._write([request])
            return
        for request, outcome in zip(group, outcomes, strict=True):
            if not request.done.done():
                request.done.set_result(outcome)

    def _ingest(self, group: list[_Request]) -> list[Outcome]:
        events = [event for request in group for event in request.events]
        now = max(request.now for request in group)
        result = self.engine.ingest(events, now)
        claimed: set[str] = set()
        outcomes = []
        for request in group:
            accepted = refused = 0
            for event in request.events:
                if event.id in result.inserted and event.id not in claimed:
                    claimed.add(event.id)
                    accepted += 1
                elif event.id in result.refused:
                    refused += 1
            outcomes.append(Outcome(accepted, len(request.events) - accepted - refused, refused))
        return outcomes

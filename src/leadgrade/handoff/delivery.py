"""The outbox's delivery worker (DESIGN §7, §10): takes due messages from the ``outbox``
table and sends them through their channels, with retries, backoff and dead letters.

A worker claims due messages with a lease, in one short transaction: their next attempt
moves to ``now + lease`` and their attempt count goes up, so other workers pass them by
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time). It sends
them outside any transaction, several at once (a slow receiver must not hold up the
rest), then records each outcome. A worker killed after claiming leaves its messages
pending, and another sends them once the lease runs out.

So delivery is **at least once**: a message may arrive twice (sent, then the worker died
before recording it). Receivers deduplicate on the message id, which is the
``webhook-id`` header and stays the same across retries.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.handoff.channels import Channels, DeliveryError, Message
from leadgrade.settings import NotificationsSection
from leadgrade.store import Store
from leadgrade.store.schema import outbox
from leadgrade.times import epoch, utc

logger = logging.getLogger(__name__)

STATUSES = ("pending", "delivered", "dead")


def backoff_delay(settings: NotificationsSection, attempts: int, rng: random.Random) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential
    (``backoff · 2^(attempts−1)``, at most ``backoff_max``) with full jitter, so that
    messages that failed together do not all come back together."""
    cap = min(settings.backoff_max, settings.backoff * 2.0 ** min(attempts - 1, 60))
    return rng.uniform(0.0, cap)


@dataclass(frozen=True)
class Report:
    """What a pass over the outbox did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def __add__(self, other: Report) -> Report:
        return Report(
            self.claimed + other.claimed,
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.dead + other.dead,
        )


@dataclass(frozen=True)
class Entry:
    """An outbox row, for listing."""

    id: str
    destination: str
    channel: str
    event_type: str
    event_id: str
    lead_id: str | None
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "destination": self.destination,
            "channel": self.channel,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "lead_id": self.lead_id,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
        }


def _entry(row: Any) -> Entry:
    return Entry(
        row.id,
        row.destination,
        row.channel,
        row.event_type,
        row.event_id,
        row.lead_id,
        row.status,
        row.attempts,
        epoch(row.next_attempt_at),
        row.last_error,
        epoch(row.created_at),
        epoch(row.delivered_at) if row.delivered_at is not None else None,
    )


@dataclass(frozen=True)
class _Claimed:
    message: Message
    attempts: int  # counting this one


@dataclass(frozen=True)
class _Outcome:
    id: str
    attempts: int
    error: str | None = None  # None: delivered
    note: str | None = None  # delivered as a no-op, and why
    final: bool = False  # dead now, whatever the attempts left
    retry_after: float | None = None


class Outbox:
    """Delivers the outbox of ``store`` to the destinations of ``settings``.

    ``batch`` messages are claimed at a time and sent by ``workers`` threads; the lease
    is long enough for a batch in which every send takes the whole timeout. ``rng``
    draws the jitter (pass a seeded one in tests); ``channels`` sends (pass one with an
    ``httpx`` transport to send without sockets)."""

    def __init__(
        self,
        store: Store,
        settings: NotificationsSection,
        *,
        channels: Channels | None = None,
        rng: random.Random | None = None,
        batch: int = 100,
        workers: int = 16,
    ) -> None:
        self.store = store
        self.settings = settings
        self.batch = batch
        self.workers = workers
        self.lease = settings.timeout * (math.ceil(batch / workers) + 1)
        self.rng = rng or random.Random()
        self._channels = channels
        self._own_channels = channels is None  # closed with the outbox; a caller's are not
        self._pool: ThreadPoolExecutor | None = None
        self._destinations = {d.name: d for d in settings.destinations()}

    @property
    def channels(self) -> Channels:
        if self._channels is None:
            self._channels = Channels(self.settings, connections=self.workers)
        return self._channels

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._channels is not None and self._own_channels:
            self._channels.close()
            self._channels = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------ delivery

    def deliver_due(self, now: float) -> Report:
        """One pass: claim up to ``batch`` messages due by ``now``, send them, record
        what happened. Outcomes are recorded ``workers`` at a time as they come in, so
        that a worker that dies mid-batch leaves few sent messages unrecorded (each of
        those is sent again)."""
        claimed = self._claim(now)
        if not claimed:
            return Report()
        channels = self.channels  # made here, not by the first of several threads
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="outbox")
        sending = [self._pool.submit(self._attempt, channels, c, now) for c in claimed]
        report, outcomes = Report(), []
        for sent in as_completed(sending):
            outcomes.append(sent.result())
            if len(outcomes) >= self.workers:
                report += self._record(outcomes, now)
                outcomes = []
        if outcomes:
            report += self._record(outcomes, now)
        return report

    def drain(self, clock: Callable[[], float] = time.time) -> Report:
        """Pass after pass until nothing is due (``leadgrade outbox run --once``). It
        ends: every pass that finds work spends an attempt of each message it takes."""
        total = Report()
        while True:
            report = self.deliver_due(clock())
            if not report.claimed:
                return total
            total += report

    def _claim(self, now: float) -> list[_Claimed]:
        due = (
            sa.select(outbox.c.id)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= utc(now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(self.batch)
        )
        if self.store.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # One statement that writes first: SQLite takes its write lock at once (waiting
        # its busy timeout for another writer) instead of failing to upgrade a read.
        claim = (
            sa.update(outbox)
            .where(outbox.c.id.in_(due), outbox.c.status == "pending")
            .values(
                next_attempt_at=utc(now + self.lease),
                attempts=outbox.c.attempts + 1,
            )
            .returning(
                outbox.c.id,
                outbox.c.destination,
                outbox.c.event_type,
                outbox.c.payload,
                outbox.c.attempts,
            )
        )
        with self.store.transaction() as conn:
            rows = conn.execute(claim).all()
        return [
            _Claimed(Message(r.id, r.destination, r.event_type, r.payload or {}), r.attempts)
            for r in rows
        ]

    def _attempt(self, channels: Channels, claimed: _Claimed, now: float) -> _Outcome:
        message = claimed.message
        destination = self._destinations.get(message.destination)
        if destination is None:
            return _Outcome(
                message.id,
                claimed.attempts,
                error=f"destination {message.destination!r} is no longer in [notifications]",
                final=True,
            )
        try:
            note = channels.send(destination, message, now)
        except DeliveryError as exc:
            return _Outcome(
                message.id, claimed.attempts, error=str(exc), retry_after=exc.retry_after
            )
        except Exception as exc:  # a bug rendering one message must not lose the batch
            logger.exception("outbox message %s could not be sent", message.id)
            return _Outcome(message.id, claimed.attempts, error=f"{type(exc).__name__}: {exc}")
        return _Outcome(message.id, claimed.attempts, note=note)

    def _record(self, outcomes: Sequence[_Outcome], now: float) -> Report:
        delivered, retried, dead = [], [], []
        for outcome in outcomes:
            if outcome.error is None:
                delivered.append({"b_id": outcome.id, "b_note": outcome.note})
            elif outcome.final or outcome.attempts >= self.settings.max_attempts:
                dead.append(
                    {"b_id": outcome.id, "b_attempts": outcome.attempts, "b_error": outcome.error}
                )
                logger.warning("outbox message %s is a dead letter: %s", outcome.id, outcome.error)
            else:
                wait = backoff_delay(self.settings, outcome.attempts, self.rng)
                if outcome.retry_after is not None:
                    wait = min(max(wait, outcome.retry_after), self.settings.backoff_max)
                retried.append(
                    {
                        "b_id": outcome.id,
                        "b_attempts": outcome.attempts,
                        "b_error": outcome.error,
                        "b_next": utc(now + wait),
                    }
                )
        # Each update holds only while the row is still this worker's claim: pending, and
        # (for a failure) not claimed again since by a worker that found the lease over.
        mine = sa.and_(outbox.c.id == sa.bindparam("b_id"), outbox.c.status == "pending")
        same_claim = outbox.c.attempts == sa.bindparam("b_attempts")
        with self.store.transaction() as conn:
            if delivered:
                conn.execute(
                    sa.update(outbox)
                    .where(mine)
                    .values(
                        status="delivered",
                        delivered_at=utc(now),
                        last_error=sa.bindparam("b_note"),
                    ),
                    delivered,
                )
            if retried:
                conn.execute(
                    sa.update(outbox)
                    .where(mine, same_claim)
                    .values(
                        next_attempt_at=sa.bindparam("b_next"),
                        last_error=sa.bindparam("b_error"),
                    ),
                    retried,
                )
            if dead:
                conn.execute(
                    sa.update(outbox)
                    .where(mine, same_claim)
                    .values(status="dead", last_error=sa.bindparam("b_error")),
                    dead,
                )
        return Report(len(outcomes), len(delivered), len(retried), len(dead))

    # ----------------------------------------------------------------------- management

    def retry_dead(
        self,
        now: float,
        *,
        destination: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        """Put dead letters back in the queue, due at ``now`` with their attempts
        reset: all of them, those of one destination, or those named. Returns how many."""
        query = sa.update(outbox).where(outbox.c.status == "dead")
        if destination is not None:
            query = query.where(outbox.c.destination == destination)
        if ids:
            query = query.where(outbox.c.id.in_(list(ids)))
        with self.store.transaction() as conn:
            return conn.execute(
                query.values(status="pending", attempts=0, next_attempt_at=utc(now))
            ).rowcount

    def entries(
        self,
        *,
        status: str | None = None,
        destination: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int | None = 100,
    ) -> list[Entry]:
        """Messages, newest first."""
        query = sa.select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        if status is not None:
            query = query.where(outbox.c.status == status)
        if destination is not None:
            query = query.where(outbox.c.destination == destination)
        if ids:
            query = query.where(outbox.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.store.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def counts(self) -> dict[tuple[str, str], int]:
        """Messages per (destination, status)."""
        query = sa.select(outbox.c.destination, outbox.c.status, sa.func.count()).group_by(
            outbox.c.destination, outbox.c.status
        )
        with self.store.engine.connect() as conn:
            return {(d, s): n for d, s, n in conn.execute(query)}

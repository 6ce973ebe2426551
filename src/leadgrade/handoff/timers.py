"""Timed work in a table (DESIGN §10): SLA breaches, re-engagement of placed candidates,
segment windows closing. Nothing polls every lead: a timer row is written when its
instant is known, and :meth:`Timers.run` does the due ones.

A due row is claimed with a row lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
has one writer at a time) and its handler runs in the same transaction that marks it
done, so several workers can run timers at once, no timer fires twice, and a worker that
dies mid-way leaves its timers pending for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadgrade.store import Store
from leadgrade.store.bulk import Bulk
from leadgrade.store.schema import timers
from leadgrade.times import epoch, utc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """A timer whose time has come, as its handler sees it."""

    id: str
    kind: str
    lead_id: str | None
    due_at: float
    payload: Mapping[str, Any]


#: ``handler(conn, due, now)``: runs inside the transaction that marks the timer done.
Handler = Callable[[sa.Connection, Due, float], None]


def schedule(
    conn: sa.Connection,
    timer_id: str,
    kind: str,
    due_at: float,
    now: float,
    *,
    lead_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> None:
    """Schedule ``timer_id`` at ``due_at`` in the caller's transaction. Scheduling an id
    again changes nothing, unless ``replace``: then a pending timer moves to the new
    time and payload (a done one is scheduled afresh)."""
    row = {
        "id": timer_id,
        "kind": kind,
        "lead_id": lead_id,
        "due_at": utc(due_at),
        "payload": dict(payload or {}),
        "status": "pending",
        "created_at": utc(now),
        "done_at": None,
    }
    if not replace:
        Bulk(conn).insert(timers, [row], skip_conflicts_on="id")
        return
    moved = conn.execute(
        sa.update(timers)
        .where(timers.c.id == timer_id)
        .values(due_at=row["due_at"], payload=row["payload"], status="pending", done_at=None)
    ).rowcount
    if not moved:
        Bulk(conn).insert(timers, [row], skip_conflicts_on="id")


def cancel(conn: sa.Connection, timer_id: str, now: float) -> bool:
    """Cancel a pending timer; False when there was none pending."""
    return bool(
        conn.execute(
            sa.update(timers)
            .where(timers.c.id == timer_id, timers.c.status == "pending")
            .values(status="cancelled", done_at=utc(now))
        ).rowcount
    )


def cancel_for_lead(conn: sa.Connection, lead_id: str, kind: str, now: float) -> int:
    """Cancel every pending timer of ``kind`` on a lead."""
    return conn.execute(
        sa.update(timers)
        .where(timers.c.lead_id == lead_id, timers.c.kind == kind, timers.c.status == "pending")
        .values(status="cancelled", done_at=utc(now))
    ).rowcount


def pending(conn: sa.Connection, lead_id: str) -> list[Due]:
    """A lead's pending timers, soonest first."""
    rows = conn.execute(
        sa.select(timers)
        .where(timers.c.lead_id == lead_id, timers.c.status == "pending")
        .order_by(timers.c.due_at, timers.c.id)
    )
    return [_due(row) for row in rows]


def _due(row: Any) -> Due:
    return Due(row.id, row.kind, row.lead_id, epoch(row.due_at), row.payload or {})


class Timers:
    """The due-timer runner: a handler per kind."""

    def __init__(self, store: Store, handlers: Mapping[str, Handler] | None = None) -> None:
        self.store = store
        self.handlers: dict[str, Handler] = dict(handlers or {})

    def on(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def run(self, now: float, *, limit: int = 200) -> int:
        """Fire every timer due by ``now``, ``limit`` a transaction, soonest first.
        Returns how many fired. A handler that fails rolls back its own timer (which
        stays pending, tried again on the next run) and not the others'."""
        fired = 0
        while True:
            claimed, done = self._run_some(now, limit)
            fired += done
            if claimed < limit or not done:
                return fired

    def _run_some(self, now: float, limit: int) -> tuple[int, int]:
        with self.store.transaction() as conn:
            query = (
                sa.select(timers)
                .where(timers.c.status == "pending", timers.c.due_at <= utc(now))
                .order_by(timers.c.due_at, timers.c.id)
                .limit(limit)
            )
            if self.store.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = [_due(row) for row in conn.execute(query)]
            done = 0
            for due in rows:
                handler = self.handlers.get(due.kind)
                if handler is None:
                    logger.warning("no handler for timer %s of kind %s", due.id, due.kind)
                    continue
                savepoint = conn.begin_nested()
                try:
                    handler(conn, due, now)
                except Exception:
                    savepoint.rollback()
                    logger.exception("timer %s failed; it stays pending", due.id)
                    continue
                savepoint.commit()
                # A handler that moved its own timer later (a segment's next change) left
                # it pending for then: only a timer still due is done.
                conn.execute(
                    sa.update(timers)
                    .where(timers.c.id == due.id, timers.c.due_at <= utc(now))
                    .values(status="done", done_at=utc(now))
                )
                done += 1
            return len(rows), done

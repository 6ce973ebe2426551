"""A poller's position, kept in the ``integration_state`` table (one row per poller), and
the one-poller-at-a-time guarantee when several servers share a store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from leadgrade.store import Store
from leadgrade.store.schema import integration_state
from leadgrade.times import utc


def load(store: Store, name: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        data = conn.scalar(
            sa.select(integration_state.c.data).where(integration_state.c.name == name)
        )
    return dict(data) if isinstance(data, dict) else {}


def save(store: Store, name: str, data: dict[str, Any], now: float) -> None:
    """Write (and commit) a poller's position."""
    with store.transaction() as conn:
        found = conn.scalar(
            sa.select(integration_state.c.name).where(integration_state.c.name == name)
        )
        if found is None:
            conn.execute(
                sa.insert(integration_state).values(name=name, data=dict(data), updated_at=utc(now))
            )
        else:
            conn.execute(
                sa.update(integration_state)
                .where(integration_state.c.name == name)
                .values(data=dict(data), updated_at=utc(now))
            )


@contextmanager
def exclusive(store: Store, name: str) -> Iterator[bool]:
    """Whether this process may poll ``name`` now: on PostgreSQL a session advisory lock
    (released if the process dies), so that of several servers one polls at a time; a
    SQLite store has one server."""
    if store.dialect != "postgresql":
        yield True
        return
    key = int.from_bytes(
        hashlib.sha256(f"leadgrade:{name}".encode()).digest()[:8], "big", signed=True
    )
    with store.engine.connect() as conn:
        held = bool(conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()

"""The store: SQLite (the embedded default, in WAL mode) or PostgreSQL, through SQLAlchemy,
with Alembic migrations applied when a store is opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import StaticPool

from leadgrade.store import schema

__all__ = ["Store", "schema"]


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable with WAL, without a sync a commit
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages, not 2 MiB
    # Checkpoint the WAL into the database every 40 MB rather than every 4 MB: a batch of
    # events writes more than 4 MB, and a checkpoint (with its sync) on every commit cost
    # more than the batch's own writes.
    cursor.execute("PRAGMA wal_autocheckpoint = 10000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("leadgrade.store") / "migrations")
    )
    return config


class Store:
    """A database holding leadgrade's tables, migrated to the newest revision."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at ``url`` (``sqlite:///path`` or
        ``postgresql+psycopg://…``), bringing its tables up to date."""
        if url.startswith("sqlite"):
            engine = sa.create_engine(url)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            # No server-side prepared statements: a prepared lookup such as
            # ``value = ANY($1)`` gets a generic plan after five runs, and with the
            # statistics of a table that grew since its last ANALYZE that plan scanned the
            # array once per row (80 ms instead of 2 ms for a batch's identities).
            engine = sa.create_engine(
                url, pool_pre_ping=True, connect_args={"prepare_threshold": None}
            )
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    @classmethod
    def memory(cls) -> Store:
        """A fresh in-memory SQLite store, for tests and experiments."""
        engine = sa.create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Apply every migration not yet applied (nothing when up to date)."""
        config = _alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head() -> str | None:
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on success, rolled back on error."""
        with self.engine.begin() as connection:
            yield connection

    def close(self) -> None:
        self.engine.dispose()

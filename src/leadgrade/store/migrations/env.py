"""Alembic's entry point. leadgrade runs migrations itself (``Store.migrate``), handing
Alembic an open connection; the ``alembic`` command works too, given a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from leadgrade.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as opened:
        context.configure(connection=opened, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

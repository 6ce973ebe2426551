"""Stores for tests: a fresh SQLite database and, when a server answers, a fresh
PostgreSQL schema per test (never a shared database cleaned up afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from leadgrade.store import Store

POSTGRES_URL = os.environ.get(
    "LEADGRADE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_answers() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'leadgrade.db'}")
        yield opened
        opened.close()
        return
    if not postgres_answers():
        if os.environ.get("LEADGRADE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL does not answer at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    opened = Store.open(url.render_as_string(hide_password=False))
    try:
        yield opened
    finally:
        opened.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

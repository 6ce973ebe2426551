from __future__ import annotations

import sqlalchemy as sa

from leadgrade.store import Store, schema


def test_opening_a_store_applies_every_migration(store: Store) -> None:
    assert store.revision() == Store.head() == "0012"
    names = set(sa.inspect(store.engine).get_table_names())
    assert set(schema.metadata.tables) <= names
    store.migrate()  # a second time changes nothing
    assert store.revision() == Store.head()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    opened = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    with opened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    opened.close()


def test_a_memory_store_is_migrated() -> None:
    assert Store.memory().revision() == Store.head()


def test_the_migrations_build_the_schema_the_code_queries(store: Store) -> None:
    """Alembic's comparison of the migrated database with ``schema.metadata`` finds
    nothing to add, drop or change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, schema.metadata)
    assert [d for d in differences if "alembic_version" not in repr(d)] == []


def test_bulk_writes_store_what_sqlalchemy_stores(store: Store) -> None:
    """The engine's bulk path and SQLAlchemy Core write the same values: read back through
    SQLAlchemy, and compared in SQL (times as text on SQLite must sort the same)."""
    from datetime import UTC, datetime, timedelta, timezone

    from leadgrade.store.bulk import Bulk

    at = datetime(2026, 10, 1, 12, 30, 5, 120, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=-5)))  # the same instant
    people = [
        {
            "id": f"p{i}",
            "attributes": {"name": "Zoë O'Brien", "n": i, "tags": ["a", None]},
            "created_at": at if i % 2 else elsewhere,
            "updated_at": at + timedelta(seconds=i),
        }
        for i in range(3)
    ]
    with store.transaction() as conn:
        # SQLAlchemy stores an aware time on SQLite as its wall clock: hand it UTC, as the
        # engine does; the bulk path converts any zone to UTC itself.
        conn.execute(sa.insert(schema.people), [dict(people[0], id="core", created_at=at)])
        bulk = Bulk(conn)
        bulk.insert(schema.people, people)
        again = bulk.insert(
            schema.people,
            [dict(people[0], id="p9"), people[1]],
            skip_conflicts_on="id",
            returning="id",
        )
        assert again == ["p9"]
        bulk.update(
            schema.people,
            "id",
            [{"id": "p2", "attributes": {"moved": True}, "updated_at": at + timedelta(days=1)}],
        )
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(schema.people))}
        same_time = conn.scalars(
            sa.select(schema.people.c.id).where(schema.people.c.created_at == at).order_by("id")
        ).all()
        later = conn.scalars(
            sa.select(schema.people.c.id)
            .where(schema.people.c.updated_at > at + timedelta(seconds=1))
            .order_by("id")
        ).all()
    assert rows["p0"].attributes == rows["core"].attributes == people[0]["attributes"]
    assert rows["p1"].attributes == people[1]["attributes"]
    assert rows["p2"].attributes == {"moved": True}
    assert rows["p0"].created_at.replace(tzinfo=UTC) == at
    assert same_time == ["core", "p0", "p1", "p2", "p9"]
    assert later == ["p2"]

from __future__ import annotations

import sqlalchemy as sa

from leadgrade.store import Store, schema


def test_opening_a_store_applies_every_migration(store: Store) -> None:
    assert store.revision() == Store.head() == "0003"
    names = set(sa.inspect(store.engine).get_table_names())
    assert set(schema.metadata.tables) <= names
    store.migrate()  # a second time changes nothing
    assert store.revision() == "0003"


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    opened = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    with opened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    opened.close()


def test_a_memory_store_is_migrated() -> None:
    assert Store.memory().revision() == "0003"

"""Bulk writes for the engine's hot path: many rows in one statement, values converted
once per column instead of once per row and parameter.

SQLAlchemy Core is how leadgrade reads and writes everywhere else. Ingestion writes an
event, a lead, and often a person and an identity for every event it takes, and profiling
showed SQLAlchemy's per-row parameter processing (JSON encoding, SQLite's datetime
formatting, bind construction) costing more than the database itself. These helpers
render the statement text with SQLAlchemy's own quoting, convert each value with the
converter of its column's type, and hand the rows to the driver in one multi-row
``VALUES`` statement. The stored bytes are the ones SQLAlchemy itself would store, so every
other query reads them back unchanged (``tests/test_store.py`` checks the round trip).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# Rows per statement: SQLite allows 32,766 parameters, PostgreSQL 65,535.
MAX_PARAMETERS = 30_000

Converter = Callable[[Any], Any]


_json = json.JSONEncoder(separators=(",", ":")).encode


def _sqlite_time() -> Converter:
    """SQLAlchemy's SQLite DATETIME storage format (UTC, as everywhere in leadgrade). A
    batch repeats the same few times ("now") on most rows: each is formatted once."""
    seen: dict[datetime, str] = {}

    def convert(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = seen.get(value)
        if text is None:
            utc = value.astimezone(UTC) if value.tzinfo is not None else value
            text = seen[value] = utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        return text

    return convert


def _same(value: Any) -> Any:
    return value


def _converter(column: sa.Column[Any], dialect: str) -> Converter:
    if isinstance(column.type, sa.JSON):
        return _json
    if isinstance(column.type, sa.DateTime) and dialect == "sqlite":
        return _sqlite_time()
    return _same  # PostgreSQL takes datetimes as they are; numbers and text everywhere


class Bulk:
    """Bulk ``INSERT`` and ``UPDATE`` for one connection's dialect."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._quote = conn.dialect.identifier_preparer.quote
        self._mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def _row_values(
        self, table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        converters = [_converter(table.c[name], self.dialect) for name in columns]
        values: list[Any] = []
        append = values.append
        for row in rows:
            for name, convert in zip(columns, converters, strict=True):
                append(convert(row.get(name)))
        return values

    def _chunks(
        self, rows: Sequence[Mapping[str, Any]], width: int
    ) -> list[Sequence[Mapping[str, Any]]]:
        size = max(1, MAX_PARAMETERS // max(width, 1))
        return [rows[start : start + size] for start in range(0, len(rows), size)]

    def _arrays(
        self, table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> tuple[str, tuple[list[Any], ...]]:
        """PostgreSQL: ``unnest(%s::T[], …)`` over one typed array a column, and the arrays."""
        types = [table.c[name].type.compile(self.conn.dialect) for name in columns]
        arrays = []
        for name in columns:
            convert = _converter(table.c[name], self.dialect)
            if isinstance(table.c[name].type, sa.Double):
                arrays.append([None if (v := row.get(name)) is None else float(v) for row in rows])
            else:
                arrays.append([convert(row.get(name)) for row in rows])
        marks = ", ".join(f"{self._mark}::{kind}[]" for kind in types)
        return f"unnest({marks})", tuple(arrays)

    def insert(
        self,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        skip_conflicts_on: str | tuple[str, ...] | None = None,
        returning: str | None = None,
    ) -> list[Any]:
        """Insert ``rows`` (dicts with the same keys). With ``skip_conflicts_on``, rows
        whose key is already stored are left out (``ON CONFLICT DO NOTHING``); with
        ``returning``, that column of each row inserted comes back."""
        if not rows:
            return []
        columns = list(rows[0])
        names = ", ".join(self._quote(name) for name in columns)
        row_marks = "(" + ", ".join(self._mark for _ in columns) + ")"
        tail = ""
        if skip_conflicts_on is not None:
            keys = (skip_conflicts_on,) if isinstance(skip_conflicts_on, str) else skip_conflicts_on
            tail += f" ON CONFLICT ({', '.join(self._quote(k) for k in keys)}) DO NOTHING"
        if returning is not None:
            tail += f" RETURNING {self._quote(returning)}"
        out: list[Any] = []
        if self.dialect == "postgresql":
            # One array a column: INSERT … SELECT * FROM unnest(…) parses a handful of
            # parameters where a VALUES list parses thousands (3x faster at 1,000 rows).
            arrays, params = self._arrays(table, columns, rows)
            result = self.conn.exec_driver_sql(
                f"INSERT INTO {self._quote(table.name)} ({names}) SELECT * FROM {arrays}{tail}",
                params,
            )
            if returning is not None:
                out.extend(value for (value,) in result)
            return out
        for chunk in self._chunks(rows, len(columns)):
            text = (
                f"INSERT INTO {self._quote(table.name)} ({names}) VALUES "
                + ", ".join([row_marks] * len(chunk))
                + tail
            )
            result = self.conn.exec_driver_sql(text, tuple(self._row_values(table, columns, chunk)))
            if returning is not None:
                out.extend(value for (value,) in result)
        return out

    def update(self, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set the other columns of each row on the stored row with the same ``key``.
        Rows may name different columns: each set of columns is one statement."""
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        for group in groups.values():
            self._update(table, key, group)

    def _update(self, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        others = [name for name in columns if name != key]
        if self.dialect == "postgresql":
            # One statement: UPDATE … FROM unnest(…) joins the new values by key.
            assignments = ", ".join(
                f"{self._quote(name)} = v.{self._quote(name)}" for name in others
            )
            target = self._quote(table.name)
            aliases = ", ".join(self._quote(name) for name in columns)
            arrays, params = self._arrays(table, columns, rows)
            self.conn.exec_driver_sql(
                f"UPDATE {target} SET {assignments} FROM {arrays} AS v({aliases}) "
                f"WHERE {target}.{self._quote(key)} = v.{self._quote(key)}",
                params,
            )
            return
        # SQLite: a prepared statement run per row is as fast as it gets there.
        order = [*others, key]
        text = (
            f"UPDATE {self._quote(table.name)} SET "
            + ", ".join(f"{self._quote(name)} = {self._mark}" for name in others)
            + f" WHERE {self._quote(key)} = {self._mark}"
        )
        converters = [_converter(table.c[name], self.dialect) for name in order]
        per_row = [
            tuple(convert(row[name]) for name, convert in zip(order, converters, strict=True))
            for row in rows
        ]
        self.conn.exec_driver_sql(text, per_row)


T = TypeVar("T")

#: Values per ``IN (…)`` list on SQLite (a parameter each; PostgreSQL takes one array).
IN_CHUNK = 500


def chunked(conn: sa.Connection, values: Sequence[T]) -> list[Sequence[T]]:
    """``values`` in pieces for :func:`among`: one piece on PostgreSQL, where the values
    travel as one array parameter; pieces of :data:`IN_CHUNK` on SQLite."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        return [values]
    return [values[start : start + IN_CHUNK] for start in range(0, len(values), IN_CHUNK)]


def among(conn: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[Any]) -> Any:
    """``column IN values``: on PostgreSQL ``column = ANY(:array)``, one parameter whatever
    the count (SQLAlchemy's IN renders and adapts a parameter per value, which cost more
    than the query itself at a thousand values); elsewhere a plain ``IN``."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.literal(list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)

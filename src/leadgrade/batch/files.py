"""Reading leads and events files (CSV or JSON Lines) with errors that name the line.

Rows are validated as they are read. A bad row raises :class:`BadRow` naming the file,
line and column, unless the caller passes ``on_bad``, which is told and reading goes on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from leadgrade.core.attributes import attribute_name, enrich

EVENT_FIELDS = ("id", "lead_id", "type", "occurred_at")


@dataclass(frozen=True)
class BadRow(Exception):
    path: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        column = f" column {self.column!r}:" if self.column else ""
        return f"{self.path}:{self.line}:{column} {self.message}"


OnBad = Callable[[BadRow], None]
Progress = Callable[[int], None]


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise BadRow(str(path), 0, "", "unknown file type; use .csv or .jsonl")


def parse_time(text: object) -> float:
    """Seconds since the epoch from an ISO 8601 / RFC 3339 time; a time without an offset
    is taken as UTC."""
    if not isinstance(text, str) or not text:
        raise ValueError("is empty; give an ISO 8601 time such as 2026-03-01T09:30:00Z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-03-01T09:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _rows(
    handle: IO[str], fmt: str, path: str
) -> Iterator[tuple[int, dict[str, object] | BadRow]]:
    """(line, row) pairs, or (line, BadRow) for a row that cannot be read at all; CSV
    headers become attribute names (snake_case)."""
    if fmt == "csv":
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        names = [attribute_name(h) for h in header]
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                yield reader.line_num, BadRow(
                    path, reader.line_num, "", f"has {len(row)} fields, the header {len(names)}"
                )
                continue
            yield reader.line_num, {n: v for n, v in zip(names, row, strict=True) if v != ""}
        return
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, BadRow(path, number, "", f"not valid JSON: {exc.msg}")
            continue
        if not isinstance(row, dict):
            yield number, BadRow(path, number, "", "each line must be a JSON object")
            continue
        yield number, row


def _open(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadRow(str(path), 0, "", f"cannot be read: {exc.strerror}") from None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def read_leads(
    path: Path, id_column: str = "id", on_bad: OnBad | None = None
) -> dict[str, dict[str, object]]:
    """Lead id → attributes. Every column is an attribute; ``email_domain`` is derived."""
    key = attribute_name(id_column)
    leads: dict[str, dict[str, object]] = {}
    first_line: dict[str, int] = {}
    fmt = file_format(path)
    with _open(path) as handle:
        for line, row in _guarded(_rows(handle, fmt, str(path)), on_bad):
            lead_id = _text(row.get(key))
            try:
                if lead_id is None:
                    raise BadRow(str(path), line, id_column, "the lead id is missing")
                if lead_id in leads:
                    raise BadRow(
                        str(path), line, id_column,
                        f"lead {lead_id!r} appears twice (first on line {first_line[lead_id]})",
                    )
            except BadRow as bad:
                if on_bad is None:
                    raise
                on_bad(bad)
                continue
            leads[lead_id] = enrich(row)
            first_line[lead_id] = line
    return leads


@dataclass(frozen=True, slots=True)
class EventRow:
    line: int
    id: str
    lead_id: str
    type: str
    at: float
    properties: dict[str, object]


_PROPERTY_EXCLUDED = frozenset(EVENT_FIELDS) | {"properties"}


def read_events(
    path: Path, on_bad: OnBad | None = None, progress: Progress | None = None
) -> Iterator[EventRow]:
    """Events, validated: ``id``, ``lead_id``, ``type``, ``occurred_at``, and properties
    from a JSON ``properties`` column/object and from any other column."""
    fmt = file_format(path)
    name = str(path)
    with _open(path) as handle:
        raw = handle.buffer if hasattr(handle, "buffer") else None
        for count, (line, row) in enumerate(_guarded(_rows(handle, fmt, name), on_bad)):
            if progress is not None and raw is not None and count % 8192 == 0:
                progress(raw.tell())
            try:
                yield _event(name, line, row)
            except BadRow as bad:
                if on_bad is None:
                    raise
                on_bad(bad)
        if progress is not None and raw is not None:
            progress(raw.tell())


def _event(path: str, line: int, row: dict[str, object]) -> EventRow:
    values = []
    for column in ("id", "lead_id", "type"):
        text = _text(row.get(column))
        if text is None:
            raise BadRow(path, line, column, "is missing")
        values.append(text)
    try:
        at = parse_time(row.get("occurred_at"))
    except ValueError as exc:
        raise BadRow(path, line, "occurred_at", str(exc)) from None
    properties = {k: v for k, v in row.items() if k not in _PROPERTY_EXCLUDED}
    extra = row.get("properties")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise BadRow(path, line, "properties", f"not valid JSON: {exc.msg}") from None
    if extra is not None:
        if not isinstance(extra, dict):
            raise BadRow(path, line, "properties", "must be a JSON object")
        properties.update(extra)
    return EventRow(line, values[0], values[1], values[2], at, properties)


def _guarded(
    rows: Iterator[tuple[int, dict[str, object] | BadRow]], on_bad: OnBad | None
) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows that could be read; the others raise, or go to ``on_bad`` when it is given."""
    for line, row in rows:
        if isinstance(row, BadRow):
            if on_bad is None:
                raise row
            on_bad(row)
            continue
        yield line, row

"""Events files for ``leadgrade ingest``: CSV or JSON Lines, each row an event that names
its person (``person_id``, ``email``, ``anonymous_id``, or ``external_system`` with
``external_id``). Bad rows name their file, line and column, as in batch scoring."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from leadgrade.batch.files import (
    BadRow,
    OnBad,
    _handle,
    _json_lines,
    _open,
    file_format,
    parse_time,
)
from leadgrade.core.attributes import attribute_name
from leadgrade.engine import EventIn, PersonRef

PERSON_COLUMNS = ("person_id", "email", "anonymous_id", "external_system", "external_id")
ID_COLUMNS = frozenset(PERSON_COLUMNS) - {"email"}
FIELDS = (
    "id",
    "type",
    "occurred_at",
    "audience",
    "channel",
    "source",
    "campaign",
    "properties",
    "traits",
    *PERSON_COLUMNS,
)


def _text(row: dict[str, object], column: str) -> str | None:
    value = row.get(column)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip() or None


def _object(row: dict[str, object], column: str, path: str, line: int) -> dict[str, object]:
    value = row.get(column)
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadRow(path, line, column, f"not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise BadRow(path, line, column, "must be a JSON object")
    return {attribute_name(k): v for k, v in value.items()}


def event_of(row: dict[str, object], path: str, line: int) -> EventIn:
    """One event from one row; raises :class:`BadRow` naming the column at fault."""
    values = {}
    for column in ("id", "type"):
        values[column] = _text(row, column)
        if values[column] is None:
            raise BadRow(path, line, column, "is missing")
    try:
        occurred_at = parse_time(row.get("occurred_at"))
    except ValueError as exc:
        raise BadRow(path, line, "occurred_at", str(exc)) from None
    person = PersonRef(*(_text(row, c) for c in PERSON_COLUMNS))
    if not person.identities():
        raise BadRow(
            path,
            line,
            "email",
            "the event names no person: give person_id, email, "
            "anonymous_id, or external_system and external_id",
        )
    properties = {k: v for k, v in row.items() if k not in FIELDS and v not in (None, "")}
    properties.update(_object(row, "properties", path, line))
    return EventIn(
        id=str(values["id"]),
        type=str(values["type"]),
        occurred_at=occurred_at,
        person=person,
        audience=_text(row, "audience"),
        properties=properties,
        traits=_object(row, "traits", path, line),
        channel=_text(row, "channel"),
        source=_text(row, "source"),
        campaign=_text(row, "campaign"),
    )


def read_event_inputs(path: Path, on_bad: OnBad | None = None) -> Iterator[EventIn]:
    name = str(path)
    with _open(path) as handle:
        if file_format(path) == "jsonl":
            rows: Iterator[tuple[int, dict[str, object] | BadRow]] = _json_lines(handle, name)
        else:
            rows = _csv_rows(handle, name, required=("id", "type", "occurred_at"))
        for line, row in rows:
            if isinstance(row, BadRow):
                _handle(row, on_bad)
                continue
            try:
                yield event_of(row, name, line)
            except BadRow as bad:
                _handle(bad, on_bad)


def _csv_rows(
    handle: object, path: str, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, object] | BadRow]]:
    reader = csv.reader(handle)  # type: ignore[arg-type]
    header = next(reader, None)
    if header is None:
        return
    names = [attribute_name(h) for h in header]
    for column in required:
        if column not in names:
            raise BadRow(path, 1, column, "the header has no such column")
    for row in reader:
        if len(row) != len(names):
            if row:
                yield (
                    reader.line_num,
                    BadRow(
                        path, reader.line_num, "", f"has {len(row)} fields, the header {len(names)}"
                    ),
                )
            continue
        yield reader.line_num, dict(zip(names, row, strict=True))


def file_kind(path: Path) -> str:
    """``events`` when the file's rows have ``type`` and ``occurred_at``, else ``people``."""
    with _open(path) as handle:
        if file_format(path) == "csv":
            header = next(csv.reader(handle), None) or []
            names = {attribute_name(h) for h in header}
        else:
            names = set()
            for text in handle:
                if text.strip():
                    try:
                        first = json.loads(text)
                    except json.JSONDecodeError:
                        return "events"  # the events reader names the bad line
                    names = {attribute_name(k) for k in first} if isinstance(first, dict) else set()
                    break
    return "events" if {"type", "occurred_at"} <= names else "people"


def read_people(
    path: Path, on_bad: OnBad | None = None
) -> Iterator[tuple[int, PersonRef, dict[str, object]]]:
    """People rows: their ids (``person_id``, ``email``, ``anonymous_id``,
    ``external_system`` with ``external_id``) and, in every other column, attributes."""
    name = str(path)
    with _open(path) as handle:
        if file_format(path) == "jsonl":
            rows: Iterator[tuple[int, dict[str, object] | BadRow]] = _json_lines(handle, name)
        else:
            rows = _csv_rows(handle, name, required=())
        for line, row in rows:
            if isinstance(row, BadRow):
                _handle(row, on_bad)
                continue
            person = PersonRef(*(_text(row, c) for c in PERSON_COLUMNS))
            if not person.identities():
                _handle(
                    BadRow(
                        name,
                        line,
                        "email",
                        "the row names no person: give person_id, "
                        "email, anonymous_id, or external_system and external_id",
                    ),
                    on_bad,
                )
                continue
            # Ids are not attributes, except the e-mail, which fit rules read.
            attributes = {
                k: v for k, v in row.items() if k not in ID_COLUMNS and v not in (None, "")
            }
            yield line, person, attributes

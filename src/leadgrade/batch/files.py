"""Reading leads and events files (CSV or JSON Lines) with errors that name the line.

Rows are validated as they are read. A bad row raises :class:`BadRow` naming the file,
line and column, unless the caller passes ``on_bad``, which is told, and reading goes on.
CSV headers name attributes in snake_case (``Job Title`` is ``job_title``). The CSV event
reader is the batch path's inner loop, so it is written for speed: properties are read
lazily, and rows of event types nobody scores are validated and counted but not yielded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from leadgrade.core.attributes import attribute_name, enrich

EVENT_FIELDS = ("id", "lead_id", "type", "occurred_at")
PROGRESS_EVERY = 8192


@dataclass(frozen=True)
class BadRow(Exception):
    path: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:" if self.line else f"{self.path}:"
        column = f" column {self.column!r}:" if self.column else ""
        return f"{where}{column} {self.message}"

    @property
    def skippable(self) -> bool:
        """A row that --skip-bad-rows can skip (not the file, nor its header)."""
        return self.line > 1


OnBad = Callable[[BadRow], None]
Progress = Callable[[int], None]

#: (line, event id, lead id, type, occurred at in epoch seconds, properties)
EventRow = tuple[int, str, str, str, float, Mapping[str, object]]


@dataclass
class Counter:
    """Rows read, for callers of a reader that does not yield every row."""

    rows: int = 0


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise BadRow(str(path), 0, "", "unknown file type; use .csv or .jsonl")


def _time_problem(text: str) -> str:
    if not text:
        return "is missing; give an ISO 8601 time such as 2026-03-01T09:30:00Z"
    return f"{text!r} is not an ISO 8601 time (e.g. 2026-03-01T09:30:00Z)"


def parse_time(text: object) -> float:
    """Seconds since the epoch from an ISO 8601 / RFC 3339 time; a time without an offset
    is taken as UTC."""
    if not isinstance(text, str) or not text:
        raise ValueError(_time_problem(""))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_time_problem(text)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _open(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadRow(str(path), 0, "", f"cannot be read: {exc.strerror}") from None


def _text(value: object) -> str | None:
    if type(value) is str:  # the common case, first and cheap
        return value.strip() or None
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip() or None


def _handle(bad: BadRow, on_bad: OnBad | None) -> None:
    if on_bad is None:
        raise bad
    on_bad(bad)


def _named(record: dict[str, object]) -> dict[str, object]:
    """A JSON object's keys as attribute names, as CSV headers are (``jobTitle`` is
    ``job_title``)."""
    return {attribute_name(k): v for k, v in record.items()}


def _json_lines(handle: IO[str], path: str) -> Iterator[tuple[int, dict[str, object] | BadRow]]:
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
        yield number, _named(row)


# ---------------------------------------------------------------------------------- leads


def _email_domain(email: object) -> object:
    if isinstance(email, str) and "@" in email:
        return email.rsplit("@", 1)[1].strip().lower()
    return None


@dataclass
class LeadTable:
    """Leads in file order: their ids, and their attributes, to be read a column at a time
    (what batch scoring needs) or a lead at a time (an explanation). Attributes are kept as
    the file's rows (``rows``), or already as columns (``columns``, aligned with ``names``).
    Empty cells are missing values; ``email_domain`` is derived from ``email`` where it is
    not given."""

    ids: list[str]
    names: list[str] | None  # CSV header names; None when rows are JSON objects
    rows: list[list[str]] | list[dict[str, object]] | None
    columns: list[list[object]] | None = None
    _derived: dict[str, list[object]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, attributes: Mapping[str, Mapping[str, object]]) -> LeadTable:
        """A table of leads given as id → attributes."""
        return cls(list(attributes), None, [dict(a) for a in attributes.values()])

    def column(self, name: str) -> list[object]:
        """The attribute ``name`` of every lead (None where it is missing)."""
        if name == "email_domain":
            if name not in self._derived:
                given = self._raw_column(name)
                emails = self._raw_column("email")
                self._derived[name] = [
                    g if g else _email_domain(e) for g, e in zip(given, emails, strict=True)
                ]
            return self._derived[name]
        return self._raw_column(name)

    def _raw_column(self, name: str) -> list[object]:
        if self.names is None:
            assert self.rows is not None
            return [row.get(name) for row in self.rows]  # type: ignore[union-attr]
        if name not in self.names:
            return [None] * len(self.ids)
        if self.columns is None:
            assert self.rows is not None
            transposed = zip(*self.rows, strict=True) if self.rows else ()
            self.columns = [list(c) for c in transposed] or [[] for _ in self.names]
        return [v or None for v in self.columns[self.names.index(name)]]

    def attributes(self, row: int) -> dict[str, object]:
        if self.names is None:
            assert self.rows is not None
            values: dict[str, object] = dict(self.rows[row])  # type: ignore[arg-type]
        elif self.rows is not None:
            values = dict(zip(self.names, self.rows[row], strict=True))
        else:
            assert self.columns is not None
            values = {n: c[row] for n, c in zip(self.names, self.columns, strict=True)}
        return enrich({k: v for k, v in values.items() if v is not None and v != ""})


def read_lead_table(path: Path, id_column: str = "id", on_bad: OnBad | None = None) -> LeadTable:
    """The leads of ``path`` (CSV or JSON Lines), validated: every lead has an id, once."""
    key = attribute_name(id_column)
    name = str(path)
    fmt = file_format(path)
    ids: list[str] = []
    first_line: dict[str, int] = {}
    with _open(path) as handle:
        if fmt == "csv":
            reader = csv.reader(handle)
            header = next(reader, None)
            names = [attribute_name(h) for h in header or []]
            if header is not None and key not in names:
                raise BadRow(name, 1, id_column, "the header has no such column (see --id)")
            width, position = len(names), names.index(key) if names else 0
            csv_rows: list[list[str]] = []
            for row in reader:
                line = reader.line_num
                if len(row) != width:
                    if row:
                        bad = BadRow(name, line, "", f"has {len(row)} fields, the header {width}")
                        _handle(bad, on_bad)
                    continue
                if _accept(row[position], line, ids, first_line, name, id_column, on_bad):
                    csv_rows.append(row)
            return LeadTable(ids, names, csv_rows)
        json_rows: list[dict[str, object]] = []
        for line, record in _json_lines(handle, name):
            if isinstance(record, BadRow):
                _handle(record, on_bad)
                continue
            if _accept(record.get(key), line, ids, first_line, name, id_column, on_bad):
                json_rows.append(record)
        return LeadTable(ids, None, json_rows)


def _accept(
    value: object,
    line: int,
    ids: list[str],
    first_line: dict[str, int],
    path: str,
    column: str,
    on_bad: OnBad | None,
) -> bool:
    lead_id = _text(value)
    if lead_id is None:
        _handle(BadRow(path, line, column, "the lead id is missing"), on_bad)
        return False
    if lead_id in first_line:
        message = f"lead {lead_id!r} appears twice (first on line {first_line[lead_id]})"
        _handle(BadRow(path, line, column, message), on_bad)
        return False
    first_line[lead_id] = line
    ids.append(lead_id)
    return True


def read_leads(
    path: Path, id_column: str = "id", on_bad: OnBad | None = None
) -> dict[str, dict[str, object]]:
    """Lead id → attributes, in file order (see :class:`LeadTable`)."""
    table = read_lead_table(path, id_column, on_bad)
    return {lead_id: table.attributes(i) for i, lead_id in enumerate(table.ids)}


# --------------------------------------------------------------------------------- events


class RowProperties(Mapping[str, object]):
    """An event's properties as a lazy view over its CSV row: the extra columns, and a JSON
    ``properties`` column (parsed on first use), which wins over a column of the same name.
    Most events never have a property asked for, so most rows never build a dictionary."""

    __slots__ = ("_columns", "_extra", "_json", "_path", "_row")

    def __init__(
        self, columns: Mapping[str, int], json_column: int | None, row: list[str], path: str
    ) -> None:
        self._columns, self._json, self._row, self._path = columns, json_column, row, path
        self._extra: dict[str, object] | None = None

    def extra(self) -> dict[str, object]:
        """The JSON ``properties`` column; raises :class:`BadRow` (line 0: the caller knows
        the line) when it is not a JSON object."""
        if self._extra is None:
            text = self._row[self._json] if self._json is not None else ""
            extra: object = {}
            if text:
                try:
                    extra = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise BadRow(
                        self._path, 0, "properties", f"not valid JSON: {exc.msg}"
                    ) from None
                if not isinstance(extra, dict):
                    raise BadRow(self._path, 0, "properties", "must be a JSON object")
            self._extra = _named(extra)  # type: ignore[arg-type]
        assert self._extra is not None
        return self._extra

    def get(self, key: str, default: object = None) -> object:
        if self._json is not None:
            extra = self.extra()
            if key in extra:
                return extra[key]
        index = self._columns.get(key)
        if index is None:
            return default
        return self._row[index] or default

    def __getitem__(self, key: str) -> object:
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def _dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: self._row[i] for k, i in self._columns.items() if self._row[i]}
        out.update(self.extra())
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


_ABSENT = object()
_NOT_PROPERTIES = frozenset(EVENT_FIELDS) | {"properties"}


def read_events(
    path: Path,
    on_bad: OnBad | None = None,
    progress: Progress | None = None,
    *,
    types: Container[str] | None = None,
    counter: Counter | None = None,
) -> Iterator[EventRow]:
    """Events, validated: ``id``, ``lead_id``, ``type``, ``occurred_at``, and properties from
    a JSON ``properties`` column (or object) and from any other column. With ``types``,
    rows of other types are validated and counted in ``counter`` but not yielded."""
    fmt = file_format(path)
    counter = counter if counter is not None else Counter()
    with _open(path) as handle:
        if fmt == "csv":
            yield from _csv_events(handle, str(path), on_bad, progress, types, counter)
        else:
            yield from _jsonl_events(handle, str(path), on_bad, progress, types, counter)


def _tell(handle: IO[str]) -> int:
    raw = getattr(handle, "buffer", None)
    return int(raw.tell()) if raw is not None else 0


def _csv_events(
    handle: IO[str],
    path: str,
    on_bad: OnBad | None,
    progress: Progress | None,
    types: Container[str] | None,
    counter: Counter,
) -> Iterator[EventRow]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return
    names = [attribute_name(h) for h in header]
    missing = [f for f in EVENT_FIELDS if f not in names]
    if missing:
        columns_needed = ", ".join(EVENT_FIELDS)
        raise BadRow(path, 1, missing[0], f"the header has no such column ({columns_needed})")
    i_id, i_lead, i_type, i_at = (names.index(f) for f in EVENT_FIELDS)
    i_json = names.index("properties") if "properties" in names else None
    columns = {n: i for i, n in enumerate(names) if n not in _NOT_PROPERTIES}
    width = len(names)
    fromiso = datetime.fromisoformat
    rows = 0
    try:
        for row in reader:
            rows += 1
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress(_tell(handle))
            if len(row) != width:
                if row:
                    line = reader.line_num
                    _handle(
                        BadRow(path, line, "", f"has {len(row)} fields, the header {width}"), on_bad
                    )
                else:
                    rows -= 1
                continue
            event_id, lead_id, kind, when = row[i_id], row[i_lead], row[i_type], row[i_at]
            if not (event_id and lead_id and kind):
                column = "id" if not event_id else "lead_id" if not lead_id else "type"
                _handle(BadRow(path, reader.line_num, column, "is missing"), on_bad)
                continue
            try:
                moment = fromiso(when)
            except ValueError:
                _handle(BadRow(path, reader.line_num, "occurred_at", _time_problem(when)), on_bad)
                continue
            if types is not None and kind not in types:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            yield (
                reader.line_num,
                event_id,
                lead_id,
                kind,
                moment.timestamp(),
                RowProperties(columns, i_json, row, path),
            )
    finally:
        counter.rows += rows
        if progress is not None:
            progress(_tell(handle))


def _jsonl_events(
    handle: IO[str],
    path: str,
    on_bad: OnBad | None,
    progress: Progress | None,
    types: Container[str] | None,
    counter: Counter,
) -> Iterator[EventRow]:
    try:
        for line, row in _json_lines(handle, path):
            counter.rows += 1
            if progress is not None and counter.rows % PROGRESS_EVERY == 0:
                progress(_tell(handle))
            if isinstance(row, BadRow):
                _handle(row, on_bad)
                continue
            try:
                event = _event(path, line, row)
            except BadRow as bad:
                _handle(bad, on_bad)
                continue
            if types is None or event[3] in types:
                yield event
    finally:
        if progress is not None:
            progress(_tell(handle))


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
    properties = {k: v for k, v in row.items() if k not in _NOT_PROPERTIES}
    extra = row.get("properties")
    if extra is not None:
        if not isinstance(extra, dict):
            raise BadRow(path, line, "properties", "must be a JSON object")
        properties.update(_named(extra))
    return line, values[0], values[1], values[2], at, properties

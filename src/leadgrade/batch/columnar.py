"""Reading a CSV events file column-wise with DuckDB: the fast path of ``leadgrade score``.

The row reader (:func:`leadgrade.batch.files.read_events`) is exact about errors: it names
the line and column of a bad row. This path is for files that are fine. DuckDB parses and
validates every row in C++; the model's rules run in Python once per distinct combination
of event type and filtered property values (:class:`leadgrade.core.model.EventDispatch`);
the matches come back as arrays. Whenever this path cannot vouch for a file — a row the row
reader would call bad, a time outside the ISO 8601 forms both parsers read identically, a
JSON ``properties`` column, an event id that occurs twice — it answers None, and the row
reader runs instead, so errors and edge cases behave exactly as they do there.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from leadgrade.batch.files import EVENT_FIELDS, LeadTable, file_format
from leadgrade.batch.vector import MatchColumns
from leadgrade.core import Model
from leadgrade.core.attributes import attribute_name

#: The times both Python's ``fromisoformat`` and DuckDB's TIMESTAMPTZ cast read, the same
#: way (no offset means UTC). Anything else goes to the row reader.
ISO_TIME = (
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


@dataclass(frozen=True)
class Collected:
    matches: MatchColumns
    rows: int
    matched: int
    unknown_lead: int
    future: int


def _header(path: Path) -> list[str] | None:
    """A CSV file's column names (snake_case), or None when this path should not read it:
    not CSV, unreadable, empty, or two columns of one name."""
    try:
        if file_format(path) != "csv":
            return None
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except Exception:  # any trouble at all: the row reader will name it
        return None
    if not header:
        return None
    names = [attribute_name(h) for h in header]
    return names if len(set(names)) == len(names) else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scan(path: Path, names: list[str]) -> str:
    """A strict ``read_csv`` of ``path``: no dialect sniffing, every cell text, and an error
    (so the row reader takes over) for any row of the wrong width."""
    columns = ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names)
    return (
        f"read_csv({_literal(str(path))}, auto_detect = false, header = true, delim = ',', "
        f"quote = '\"', escape = '\"', columns = {{{columns}}}, strict_mode = true, "
        "null_padding = false)"
    )


def read_leads_columnar(path: Path, id_column: str = "id") -> LeadTable | None:
    """The leads of a CSV file read by DuckDB, or None when the row reader must read it
    (to name a bad row, or a file this path does not vouch for)."""
    key = attribute_name(id_column)
    names = _header(path)
    if names is None or key not in names:
        return None
    con = duckdb.connect()
    try:
        data = con.execute(f"SELECT * FROM {_scan(path, names)}").fetchnumpy()
    except duckdb.Error:
        return None
    finally:
        con.close()
    columns = [data[name].tolist() for name in names]
    raw_ids = columns[names.index(key)]
    ids = [v.strip() if isinstance(v, str) else "" for v in raw_ids]
    if not all(ids) or len(set(ids)) != len(ids):
        return None  # a missing or repeated id: the row reader names the line
    return LeadTable(ids, names, None, columns)


def collect_columnar(
    model: Model, path: Path, lead_index: dict[str, int], at: float
) -> Collected | None:
    """The matches of a CSV events file, or None when the row reader must read it."""
    names = _header(path)
    if names is None or "properties" in names:
        return None
    if any(field not in names for field in EVENT_FIELDS):
        return None
    wanted = sorted({name for d in model.dispatch.values() for name in d.names})
    present = [n for n in wanted if n in names]
    con = duckdb.connect()
    try:
        return _collect(con, model, path, names, present, wanted, lead_index, at)
    except duckdb.Error:
        return None
    finally:
        con.close()


def _collect(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    path: Path,
    names: list[str],
    present: list[str],
    wanted: list[str],
    lead_index: dict[str, int],
    at: float,
) -> Collected | None:
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM {_scan(path, names)}")
    # Empty cells are missing values, as in the row reader (DuckDB reads some as '').
    props = [f"nullif({_quote(n)}, '')" for n in present]
    seconds = "epoch(try_cast(occurred_at AS TIMESTAMPTZ))"
    bad = (
        "id IS NULL OR id = '' OR lead_id IS NULL OR lead_id = '' OR type IS NULL OR type = '' "
        f"OR NOT coalesce(regexp_full_match(occurred_at, '{ISO_TIME}'), false) "
        f"OR {seconds} IS NULL"
    )
    # Pass 1: every row validated, and the distinct (type, filtered properties) combinations,
    # each with a hash that pass 2 joins on (one integer rather than several strings).
    key = f"hash(type{''.join(', ' + p for p in props)})"
    names_sql = "".join(f", {p} AS {_quote(n)}" for p, n in zip(props, present, strict=True))
    con.execute(
        f"CREATE TEMP TABLE ev AS SELECT {key} AS h, id, lead_id, type{names_sql}, "
        f"{seconds} AS seconds, ({bad}) AS bad FROM raw"
    )
    listed = "".join(f"{_quote(n)}, " for n in present)
    groups = con.execute(
        f"SELECT h, type, {listed}count(*), count(*) FILTER (WHERE bad) FROM ev GROUP BY ALL"
    ).fetchall()
    width = len(present) + 2
    rows = sum(int(g[width]) for g in groups)
    if any(g[width + 1] for g in groups):
        return None
    if len({g[0] for g in groups}) != len(groups):
        return None  # two combinations share a hash: astronomically rare, and then slow

    # Which rules each combination feeds, decided by the model's own dispatch.
    fed: list[tuple[int, ...]] = []
    keys = []
    for group in groups:
        dispatch = model.dispatch.get(group[1])
        if dispatch is None:
            continue
        values = dict(zip(present, group[2:width], strict=True))
        rules = dispatch.fed({name: values.get(name) for name in wanted})
        keys.append((group[0], len(fed), len(rules) > 0))
        fed.append(tuple(rule.index for rule in rules))
    if not fed:
        return Collected(MatchColumns(), rows, 0, 0, 0)
    con.execute("CREATE TEMP TABLE combos (h UBIGINT, combo INTEGER, feeds BOOLEAN)")
    con.executemany("INSERT INTO combos VALUES (?, ?, ?)", keys)
    ids = list(lead_index)
    con.register(
        "leads",
        {
            "lead_id": np.array(ids, dtype=object),
            "ix": np.fromiter(lead_index.values(), np.int64, len(ids)),
        },
    )

    # Pass 2: the events of scored types, with their lead's row and their combination.
    at_sql = f"{float(at)!r}::DOUBLE"
    con.execute(
        "CREATE TEMP TABLE typed AS SELECT l.ix AS lead, e.seconds, e.id, c.combo, c.feeds "
        "FROM ev e JOIN combos c ON e.h = c.h LEFT JOIN leads l ON e.lead_id = l.lead_id"
    )
    summary = con.execute(
        "SELECT count(*) FILTER (WHERE lead IS NULL), "
        f"count(*) FILTER (WHERE lead IS NOT NULL AND seconds > {at_sql}), "
        f"count(*) FILTER (WHERE feeds AND lead IS NOT NULL AND seconds <= {at_sql}), "
        f"count(DISTINCT id) FILTER (WHERE feeds AND lead IS NOT NULL AND seconds <= {at_sql}) "
        "FROM typed"
    ).fetchone()
    assert summary is not None
    unknown, future, matched, distinct = (int(v) for v in summary)
    if distinct != matched:
        return None  # replays: the row reader keeps the first in file order
    fetched = con.execute(
        "SELECT lead, seconds, id, combo FROM typed "
        f"WHERE feeds AND lead IS NOT NULL AND seconds <= {at_sql}"
    ).fetchnumpy()
    lead = np.asarray(fetched["lead"], dtype=np.int64)
    when = np.asarray(fetched["seconds"], dtype=np.float64)
    chosen = np.asarray(fetched["combo"], dtype=np.int64)

    # One match per (event, rule fed): repeat each counted event once per rule it feeds.
    per_combo = np.array([len(f) for f in fed], dtype=np.int64)
    rules_flat = np.array([r for f in fed for r in f], dtype=np.int64)
    starts = np.cumsum(per_combo) - per_combo
    repeat = per_combo[chosen]
    index = np.repeat(np.arange(len(chosen)), repeat)
    offset = np.arange(len(index)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    rule = rules_flat[starts[chosen][index] + offset]
    matches = MatchColumns(
        lead=lead[index], rule=rule, at=when[index], event_id=fetched["id"][index]
    )
    return Collected(
        matches=matches,
        rows=rows,
        matched=matched,
        unknown_lead=unknown,
        future=future,
    )

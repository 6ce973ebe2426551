"""Score a leads file and an events file with one model, as of one time.

Events are matched to rules as they are read, so only what can score is kept: per match,
the lead, the rule, the time and the event id, in columns. :mod:`.vector` then scores all
leads at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leadgrade.batch.columnar import collect_columnar, read_leads_columnar
from leadgrade.batch.files import (
    BadRow,
    Counter,
    OnBad,
    Progress,
    read_events,
    read_lead_table,
)
from leadgrade.batch.vector import MatchColumns, ScoreTable, score_table
from leadgrade.core import Model


@dataclass
class BatchStats:
    leads: int = 0
    events: int = 0
    matched: int = 0
    duplicates: int = 0
    unknown_lead: int = 0
    future: int = 0
    bad_rows: int = 0

    def summary(self) -> str:
        parts = [
            counted(self.leads, "lead"),
            counted(self.events, "event") + " read",
            f"{self.matched:,} scored",
        ]
        if self.duplicates:
            parts.append(counted(self.duplicates, "replayed event id") + " ignored")
        if self.unknown_lead:
            parts.append(f"{self.unknown_lead:,} for leads not in the leads file")
        if self.future:
            parts.append(f"{self.future:,} after the as-of time")
        if self.bad_rows:
            parts.append(counted(self.bad_rows, "bad row") + " skipped")
        return ", ".join(parts)


def counted(number: int, noun: str) -> str:
    """``1 lead``, ``2 leads``, ``1,000 leads``."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def collect_matches(
    model: Model,
    events_path: Path,
    lead_index: dict[str, int],
    at: float,
    stats: BatchStats,
    on_bad: OnBad | None = None,
    progress: Progress | None = None,
) -> MatchColumns:
    """The matches of ``events_path``'s events to the model's engagement rules, up to ``at``.
    An event id seen before is a replay and counts once."""
    leads: list[int] = []
    rules_at: list[int] = []
    times: list[float] = []
    ids: list[str] = []
    seen: set[str] = set()
    dispatch = model.dispatch
    counter = Counter()
    matched = duplicates = unknown = future = 0
    events = read_events(events_path, on_bad, progress, types=dispatch, counter=counter)
    for line, event_id, lead_id, kind, when, properties in events:
        lead = lead_index.get(lead_id)
        if lead is None:
            unknown += 1
            continue
        if when > at:
            future += 1
            continue
        try:
            fed = dispatch[kind].fed(properties)
        except BadRow as bad:  # a JSON properties column that is not JSON, found on use
            _report(BadRow(bad.path, line, bad.column, bad.message), on_bad)
            continue
        if not fed:
            continue
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        matched += 1
        for rule in fed:
            leads.append(lead)
            rules_at.append(rule.index)
            times.append(when)
            ids.append(event_id)
    stats.events += counter.rows
    stats.matched += matched
    stats.duplicates += duplicates
    stats.unknown_lead += unknown
    stats.future += future
    return MatchColumns(leads, rules_at, times, ids)


def _report(bad: BadRow, on_bad: OnBad | None) -> None:
    if on_bad is None:
        raise bad
    on_bad(bad)


def score_files(
    model: Model,
    leads_path: Path,
    events_path: Path | None,
    at: float,
    *,
    id_column: str = "id",
    on_bad: OnBad | None = None,
    progress: Progress | None = None,
    with_event_ids: bool = False,
    columnar: bool = True,
) -> tuple[ScoreTable, BatchStats]:
    """Every lead of ``leads_path`` scored as of ``at``, in file order. ``with_event_ids``
    also keeps the ids of the newest events behind each contribution (for explanations).
    A CSV events file is read column-wise (:mod:`.columnar`) when that path can vouch for
    it, else, or with ``columnar=False``, row by row."""
    stats = BatchStats()

    def counted(bad: BadRow) -> None:
        stats.bad_rows += 1
        if on_bad is not None:
            on_bad(bad)

    handler = counted if on_bad is not None else None
    leads = read_leads_columnar(leads_path, id_column) if columnar else None
    if leads is None:
        leads = read_lead_table(leads_path, id_column, handler)
    stats.leads = len(leads)
    lead_ids = leads.ids
    matches = MatchColumns()
    if events_path is not None:
        index = {lead_id: i for i, lead_id in enumerate(lead_ids)}
        fast = collect_columnar(model, events_path, index, at) if columnar else None
        if fast is not None:
            matches = fast.matches
            stats.events, stats.matched = fast.rows, fast.matched
            stats.unknown_lead, stats.future = fast.unknown_lead, fast.future
            if progress is not None:
                progress(events_path.stat().st_size)
        else:
            matches = collect_matches(model, events_path, index, at, stats, handler, progress)
    table = score_table(model, leads, matches, at, with_event_ids=with_event_ids)
    return table, stats

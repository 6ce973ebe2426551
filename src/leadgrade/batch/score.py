"""Score a leads file and an events file with one model, as of one time.

Events are matched to rules as they are read, so only what can score is kept in memory:
per lead, (rule, time, event id) for each event that fed a rule. Each lead is then scored
by the core's full recompute (:func:`leadgrade.core.score_matches`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leadgrade.batch.files import BadRow, OnBad, Progress, read_events, read_leads
from leadgrade.core import Model, Scorecard, score_matches
from leadgrade.core.scoring import Match


@dataclass
class BatchStats:
    leads: int = 0
    events: int = 0
    matched: int = 0
    duplicates: int = 0
    unknown_lead: int = 0
    future: int = 0
    bad_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.leads:,} leads", f"{self.events:,} events read", f"{self.matched:,} scored"]
        if self.duplicates:
            parts.append(f"{self.duplicates:,} replayed event ids ignored")
        if self.unknown_lead:
            parts.append(f"{self.unknown_lead:,} for leads not in the leads file")
        if self.future:
            parts.append(f"{self.future:,} after the as-of time")
        if self.bad_rows:
            parts.append(f"{self.bad_rows:,} bad rows skipped")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class ScoredLead:
    lead_id: str
    card: Scorecard


def collect_matches(
    model: Model,
    events_path: Path,
    leads: dict[str, dict[str, object]],
    at: float,
    stats: BatchStats,
    on_bad: OnBad | None = None,
    progress: Progress | None = None,
) -> dict[str, list[Match]]:
    """Per lead, the (rule, time, event id) matches in ``events_path`` up to ``at``."""
    matches: dict[str, list[Match]] = {}
    seen: set[str] = set()
    for event in read_events(events_path, on_bad, progress):
        stats.events += 1
        rules = model.rules_for(event.type)
        if not rules:
            continue
        if event.lead_id not in leads:
            stats.unknown_lead += 1
            continue
        if event.at > at:
            stats.future += 1
            continue
        fed = [rule for rule in rules if rule.matches(event.properties)]
        if not fed:
            continue
        if event.id in seen:
            stats.duplicates += 1
            continue
        seen.add(event.id)
        stats.matched += 1
        bucket = matches.setdefault(event.lead_id, [])
        for rule in fed:
            bucket.append((rule.index, event.at, event.id))
    return matches


def score_files(
    model: Model,
    leads_path: Path,
    events_path: Path | None,
    at: float,
    *,
    id_column: str = "id",
    on_bad: OnBad | None = None,
    progress: Progress | None = None,
) -> tuple[list[ScoredLead], BatchStats]:
    """Every lead of ``leads_path`` scored as of ``at``, in file order."""
    stats = BatchStats()

    def counted(bad: BadRow) -> None:
        stats.bad_rows += 1
        if on_bad is not None:
            on_bad(bad)

    handler = counted if on_bad is not None else None
    leads = read_leads(leads_path, id_column, handler)
    stats.leads = len(leads)
    matches: dict[str, list[Match]] = {}
    if events_path is not None:
        matches = collect_matches(model, events_path, leads, at, stats, handler, progress)
    scored = [
        ScoredLead(lead_id, score_matches(model, attributes, matches.get(lead_id, ()), at))
        for lead_id, attributes in leads.items()
    ]
    return scored, stats

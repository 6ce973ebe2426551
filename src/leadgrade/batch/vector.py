"""The batch path, column-wise: every lead's per-rule points as one matrix.

The per-lead core (:func:`leadgrade.core.score_matches`) builds an explanation object per
lead, which is what a service wants for one lead and too slow for a file of a hundred
thousand. Here the same rules fill a leads × rules matrix: fit outcomes come from each
rule's (memoised) ``evaluate``, engagement from every match at once with NumPy — decay as
one ``exp``, caps by sorting matches into (lead, rule, window) groups ordered by time and
event id, exactly as the core counts them. Totals, grades and the MQL decision then use the
core's own definitions (``math.fsum`` of the contributions, ``Model.grade``, ``is_mql``),
and :meth:`ScoreTable.scorecard` turns any row back into the core's :class:`Scorecard`.
Tests hold the two paths equal on generated models and events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from leadgrade.batch.files import LeadTable
from leadgrade.core import Model, Scorecard
from leadgrade.core.model import ENGAGEMENT_DIGITS, FIT_LETTERS, FitRule
from leadgrade.core.scoring import (
    EVENT_IDS_SHOWN,
    Contribution,
    RuleTotal,
    assemble,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass
class MatchColumns:
    """Matches of events to engagement rules, one list (or array) per column."""

    lead: list[int] | Ints = field(default_factory=list)
    rule: list[int] | Ints = field(default_factory=list)
    at: list[float] | Floats = field(default_factory=list)
    event_id: list[str] | npt.NDArray[np.object_] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lead)


@dataclass
class _Engagement:
    values: Floats  # leads × engagement rules, valued at the as-of time
    counts: Ints  # events counted per lead and rule
    present: npt.NDArray[np.bool_]  # the rule had a match (even one adding nothing)
    newest: dict[tuple[int, int], tuple[str, ...]] | None  # only when asked for


def _engagement(
    model: Model, matches: MatchColumns, leads: int, at: float, with_ids: bool
) -> _Engagement:
    rules = model.engagement_rules
    width = max(1, len(rules))
    shape = (leads, width)
    if not len(matches):
        return _Engagement(
            np.zeros(shape),
            np.zeros(shape, np.int64),
            np.zeros(shape, bool),
            {} if with_ids else None,
        )
    lead = np.asarray(matches.lead, dtype=np.int64)
    rule = np.asarray(matches.rule, dtype=np.int64)
    when = np.asarray(matches.at, dtype=np.float64)
    points = np.array([r.points for r in rules])[rule]
    rate = np.array([model.decay_rate if r.decays else 0.0 for r in rules])[rule]
    factor = np.exp(-rate * (at - when))

    # Position of each match within its (lead, rule, window), ordered by (time, event id).
    limit = np.array([r.limit if r.limit is not None else -1 for r in rules])[rule]
    capped = limit >= 0
    counted = np.ones(len(lead), dtype=bool)
    alloc = points.copy()
    order = None
    if capped.any() or with_ids:
        span = np.array([r.window or 0.0 for r in rules])[rule]
        window = np.zeros(len(lead), dtype=np.int64)
        windowed = span > 0
        window[windowed] = np.floor(when[windowed] / span[windowed]).astype(np.int64)
        window[~capped] = 0  # uncapped rules: one group per (lead, rule)
        group = _group_key(lead, rule, window, width)
        if group is None:
            order = np.lexsort((when, window, rule, lead))
        else:  # the same order from two stable sorts, cheaper than a four-key lexsort
            by_time = np.argsort(when, kind="stable")
            order = by_time[np.argsort(group[by_time], kind="stable")]
        order = _by_time_then_id(order, matches.event_id, (lead, rule, window, when))
        keys = (lead[order], rule[order], window[order])
        start = np.ones(len(order), dtype=bool)
        start[1:] = (
            (keys[0][1:] != keys[0][:-1])
            | (keys[1][1:] != keys[1][:-1])
            | (keys[2][1:] != keys[2][:-1])
        )
        group_start = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order)) - group_start
        cap = np.array([r.cap if r.cap is not None else 0.0 for r in rules])[rule]
        magnitude = np.abs(points)
        allocated = np.copysign(np.clip(cap - position * magnitude, 0.0, magnitude), points)
        counted = ~capped | (position < limit)
        alloc = np.where(capped, np.where(counted, allocated, 0.0), points)

    flat = lead * width + rule
    size = leads * width
    values = np.asarray(
        np.bincount(flat, weights=alloc * factor, minlength=size), dtype=np.float64
    ).reshape(shape)
    counts = np.bincount(flat[counted], minlength=size).reshape(shape).astype(np.int64)
    present = (np.bincount(flat, minlength=size) > 0).reshape(shape)
    newest = _newest_ids(matches, order, lead, rule, counted) if with_ids else None
    return _Engagement(values, counts, present, newest)


def _group_key(lead: Ints, rule: Ints, window: Ints, width: int) -> Ints | None:
    """(lead, rule, window) as one integer that sorts the same way, or None if the
    product of their ranges could overflow 63 bits."""
    if not len(lead):
        return None
    low, high = int(window.min()), int(window.max())
    windows = high - low + 1
    if (int(lead.max()) + 1) * width * windows >= 2**62:
        return None
    key: Ints = (lead * width + rule) * windows + (window - low)
    return key


def _by_time_then_id(
    order: Ints,
    event_ids: Sequence[str] | npt.NDArray[np.object_],
    keys: tuple[npt.NDArray[Any], ...],
) -> Ints:
    """``order`` (sorted by ``keys``) with each run of equal keys — events of one lead
    and rule at the same instant — put in event-id order, as the core counts them. Ties
    are rare, so they are sorted one short run at a time instead of ranking every id."""
    if len(order) < 2:
        return order
    same = np.ones(len(order) - 1, dtype=bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    tied = np.flatnonzero(same)
    if not len(tied):
        return order
    order = order.copy()
    breaks = np.flatnonzero(np.diff(tied) != 1)
    starts = np.concatenate((tied[:1], tied[breaks + 1])).tolist()
    ends = (np.concatenate((tied[breaks], tied[-1:])) + 2).tolist()
    for start, end in zip(starts, ends, strict=True):
        order[start:end] = sorted(order[start:end].tolist(), key=event_ids.__getitem__)
    return order


def _newest_ids(
    matches: MatchColumns,
    order: Ints | None,
    lead: Ints,
    rule: Ints,
    counted: npt.NDArray[np.bool_],
) -> dict[tuple[int, int], tuple[str, ...]]:
    """Per (lead, rule), the ids of the newest counted events, newest first."""
    assert order is not None
    # ``order`` sorts by (lead, rule, window, time, id); windows ascend in time, so within
    # a (lead, rule) the counted matches in this order ascend by (time, id).
    kept = order[counted[order]]
    newest: dict[tuple[int, int], list[str]] = {}
    ids = matches.event_id
    for index in reversed(kept.tolist()):
        key = (int(lead[index]), int(rule[index]))
        bucket = newest.setdefault(key, [])
        if len(bucket) < EVENT_IDS_SHOWN:
            bucket.append(ids[index])
    return {key: tuple(value) for key, value in newest.items()}


@dataclass
class ScoreTable:
    """Scored leads as columns, in input order."""

    model: Model
    at: float
    leads: LeadTable
    fit: list[float]
    engagement: list[float]
    score: list[float]
    grade: list[str]
    mql: list[bool]
    # Per lead: every contribution's points in a fixed column order (fit rules, fit clip,
    # engagement rules, engagement clip); ``columns`` names them.
    points: Floats
    columns: list[str]
    fit_columns: int
    _engagement: _Engagement

    def __len__(self) -> int:
        return len(self.leads)

    @property
    def lead_ids(self) -> list[str]:
        return self.leads.ids

    def events_counted(self) -> Ints:
        """Per lead and column, the events counted (0 for fit columns and clips)."""
        counts = np.zeros((len(self), len(self.columns)), dtype=np.int64)
        rules = self._engagement.counts.shape[1]
        counts[:, self.fit_columns : self.fit_columns + rules] = self._engagement.counts
        return counts

    def scorecard(self, row: int) -> Scorecard:
        """Row ``row`` as the core's scorecard, explanation included."""
        from leadgrade.core.scoring import fit_contributions

        engagement = self._engagement
        totals = {}
        for rule in self.model.engagement_rules:
            if engagement.present[row, rule.index]:
                ids = (engagement.newest or {}).get((row, rule.index), ())
                totals[rule.index] = RuleTotal(
                    float(engagement.values[row, rule.index]),
                    int(engagement.counts[row, rule.index]),
                    ids,
                )
        return assemble(
            self.model, fit_contributions(self.model, self.leads.attributes(row)), totals, self.at
        )


_GRADE_NAMES = [letter + digit for letter in FIT_LETTERS for digit in ENGAGEMENT_DIGITS]


def _grades(model: Model, fits: list[float], engagements: list[float]) -> list[str]:
    """``Model.grade`` for every lead at once: a letter is the count of fit thresholds
    (A, B, C) the fit falls short of, a digit likewise for engagement."""
    g = model.spec.grades
    fit = np.asarray(fits, dtype=np.float64)
    engagement = np.asarray(engagements, dtype=np.float64)
    letter = (fit < g.fit.A).astype(np.int64) + (fit < g.fit.B) + (fit < g.fit.C)
    digit = (
        (engagement < g.engagement.one).astype(np.int64)
        + (engagement < g.engagement.two)
        + (engagement < g.engagement.three)
    )
    return [_GRADE_NAMES[i] for i in (letter * 4 + digit).tolist()]


def _fit_column(rule: FitRule, values: Sequence[object]) -> list[float]:
    """The rule's points for every lead. Values repeat (titles, industries, states), so
    each distinct value is evaluated once."""
    try:
        distinct = set(values)
    except TypeError:  # a list value
        distinct = {object()}
    if any(type(v) is not str and v is not None for v in distinct):
        # JSON values of mixed types (True == 1 as keys): evaluate one by one.
        return [
            0.0 if o is None else o[0] for o in (rule.evaluate({rule.field: v}) for v in values)
        ]
    points = {}
    for value in distinct:
        outcome = rule.evaluate({rule.field: value})
        points[value] = 0.0 if outcome is None else outcome[0]
    return list(map(points.__getitem__, values))


def score_table(
    model: Model,
    leads: LeadTable,
    matches: MatchColumns,
    at: float,
    *,
    with_event_ids: bool = False,
) -> ScoreTable:
    """Score every lead at once. ``matches`` must hold no match after ``at``."""
    count = len(leads)
    engagement = _engagement(model, matches, count, at, with_event_ids)
    fit_columns = [_fit_column(rule, leads.column(rule.field)) for rule in model.fit_rules]
    fit_rows: Iterable[Sequence[float]] = (
        zip(*fit_columns, strict=True) if fit_columns else (() for _ in range(count))
    )
    fit_max, fit_min = model.fit_max, model.fit_min
    engagement_max = model.engagement_max
    fsum = math.fsum

    fits, engagements, scores = [], [], []
    fit_clips, engagement_clips = [], []
    # Totals as the core makes them (math.fsum; a clipped part is its bound), so that the
    # two paths agree to the last bit given the same contributions.
    for fit_row, engagement_row in zip(fit_rows, engagement.values.tolist(), strict=True):
        fit_value = fsum(fit_row)
        fit_clip = 0.0
        if fit_value > fit_max:
            fit_clip = fit_max - fit_value
            fit_value = fit_max
        elif fit_min is not None and fit_value < fit_min:
            fit_clip = fit_min - fit_value
            fit_value = fit_min
        engagement_value = fsum(engagement_row)
        engagement_clip = 0.0
        if engagement_value > engagement_max:
            engagement_clip = engagement_max - engagement_value
            engagement_value = engagement_max
        fits.append(fit_value)
        engagements.append(engagement_value)
        scores.append(fsum((*fit_row, fit_clip, *engagement_row, engagement_clip)))
        fit_clips.append(fit_clip)
        engagement_clips.append(engagement_clip)
    grades = _grades(model, fits, engagements)
    is_mql = model.is_mql
    mqls = list(map(is_mql, scores, fits, engagements, grades))

    columns = [
        *(r.id for r in model.fit_rules),
        "fit.clip",
        *(r.id for r in model.engagement_rules),
        "engagement.clip",
    ]
    if not model.engagement_rules:
        columns.insert(-1, "engagement.none")  # the matrix keeps one all-zero rule column
    fit_matrix = np.array(fit_columns, dtype=np.float64).T.reshape(count, len(fit_columns))
    points = np.column_stack(
        (fit_matrix, np.array(fit_clips), engagement.values, np.array(engagement_clips))
    ).reshape(count, len(columns))
    return ScoreTable(
        model,
        at,
        leads,
        fits,
        engagements,
        scores,
        grades,
        mqls,
        points,
        columns,
        len(model.fit_rules) + 1,
        engagement,
    )


def clip_columns(table: ScoreTable) -> tuple[int, int]:
    return table.fit_columns - 1, len(table.columns) - 1


__all__ = ["Contribution", "MatchColumns", "ScoreTable", "score_table"]

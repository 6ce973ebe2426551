"""Scoring: fit, decayed engagement, score, grade, MQL decision and the explanation.

Two ways to the same numbers (DESIGN §6):

- :func:`score` recomputes everything from a lead's attributes and its whole event
  history, as of a time;
- :class:`EngagementState` is kept incrementally, one event at a time in any arrival
  order, and read at any time at or after its last event.

Both hand per-rule totals to :func:`assemble`, so the explanation's contributions are
built one way, and the score is defined as their exact (``math.fsum``) sum.
Events are unique by id here; the engine and the CLI drop replays before scoring.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from leadgrade.core import decay
from leadgrade.core.model import EngagementRule, Model

#: How many event ids a contribution names (the newest it counted).
EVENT_IDS_SHOWN = 5

EMPTY: Mapping[str, object] = MappingProxyType({})

#: One event matched by one rule: (rule index, occurred at in epoch seconds, event id).
Match = tuple[int, float, str]


@dataclass(frozen=True, slots=True)
class Event:
    """What the core needs of an event; ``at`` is seconds since the Unix epoch (UTC)."""

    id: str
    type: str
    at: float
    properties: Mapping[str, object] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Contribution:
    """One line of an explanation: a rule's points now (``kind`` says whether it is part
    of fit or of engagement), or with ``clip`` set, the adjustment that clips fit or
    engagement to the model's bounds."""

    rule_id: str
    kind: Literal["fit", "engagement"]
    points: float
    reason: str
    description: str = ""
    events: int = 0
    event_ids: tuple[str, ...] = ()
    clip: bool = False


@dataclass(frozen=True, slots=True)
class Scorecard:
    audience: str
    at: float
    fit: float
    engagement: float
    score: float
    grade: str
    mql: bool
    contributions: tuple[Contribution, ...]

    def reasons(self, count: int = 3) -> list[Contribution]:
        """The contributions that weigh most, largest magnitude first."""
        ranked = sorted(
            (c for c in self.contributions if not c.clip and c.points),
            key=lambda c: -abs(c.points),
        )
        return ranked[:count]


@dataclass(frozen=True, slots=True)
class RuleTotal:
    """An engagement rule's worth at some time: value, events counted, newest event ids."""

    value: float
    events: int
    event_ids: tuple[str, ...]


# ------------------------------------------------------------------------------- fit


def fit_contributions(model: Model, attributes: Mapping[str, object]) -> list[Contribution]:
    out = []
    for rule in model.fit_rules:
        hit = rule.evaluate(attributes)
        if hit is not None:
            out.append(Contribution(rule.id, "fit", hit[0], hit[1], rule.description))
    raw = math.fsum(c.points for c in out)
    if raw > model.fit_max:
        out.append(_clip("fit", "max", model.fit_max - raw, model.fit_max))
    elif model.fit_min is not None and raw < model.fit_min:
        out.append(_clip("fit", "min", model.fit_min - raw, model.fit_min))
    return out


def _clip(
    kind: Literal["fit", "engagement"], bound: str, points: float, value: float
) -> Contribution:
    verb = "capped" if bound == "max" else "floored"
    return Contribution(
        f"{kind}.{bound}", kind, points, f"{kind} is {verb} at {value:g}", clip=True
    )


# ----------------------------------------------------------------------- engagement


def _rate(model: Model, rule: EngagementRule) -> float:
    return model.decay_rate if rule.decays else 0.0


def matches_of(model: Model, event: Event) -> tuple[EngagementRule, ...]:
    """The engagement rules that ``event`` feeds."""
    return model.fed_by(event.type, event.properties)


def engagement_totals(model: Model, matches: Iterable[Match], at: float) -> dict[int, RuleTotal]:
    """Per-rule totals as of ``at`` from a lead's whole match history (full recompute).
    Matches after ``at`` have not happened yet and are left out."""
    by_rule: dict[int, list[tuple[float, str]]] = {}
    for index, when, event_id in matches:
        if when <= at:
            by_rule.setdefault(index, []).append((when, event_id))
    totals = {}
    for index, items in by_rule.items():
        rule = model.engagement_rules[index]
        rate = _rate(model, rule)
        if rule.limit is None:
            counted = items
            value = rule.points * math.fsum(decay.factor(rate, at - when) for when, _ in items)
        else:
            windows: dict[int, list[tuple[float, str]]] = {}
            for item in items:
                windows.setdefault(rule.window_of(item[0]), []).append(item)
            counted, parts = [], []
            for window in windows.values():
                window.sort()
                for position, (when, event_id) in enumerate(window[: rule.limit]):
                    parts.append(rule.allocation(position) * decay.factor(rate, at - when))
                    counted.append((when, event_id))
            value = math.fsum(parts)
        totals[index] = RuleTotal(value, len(counted), _newest_ids(counted))
    return totals


def _newest_ids(counted: Sequence[Any]) -> tuple[str, ...]:  # (when, id) pairs
    if len(counted) <= EVENT_IDS_SHOWN:
        return tuple(event_id for _, event_id in sorted(counted, reverse=True))
    return tuple(event_id for _, event_id in heapq.nlargest(EVENT_IDS_SHOWN, counted))


def engagement_contributions(model: Model, totals: Mapping[int, RuleTotal]) -> list[Contribution]:
    out = []
    for index in sorted(totals):
        rule, total = model.engagement_rules[index], totals[index]
        out.append(
            Contribution(
                rule.id,
                "engagement",
                total.value,
                rule.reason,
                rule.description,
                total.events,
                total.event_ids,
            )
        )
    raw = math.fsum(c.points for c in out)
    if raw > model.engagement_max:
        cap = model.engagement_max
        out.append(_clip("engagement", "max", cap - raw, cap))
    return out


# --------------------------------------------------------------------------- scoring


def assemble(
    model: Model,
    fit: list[Contribution],
    totals: Mapping[int, RuleTotal],
    at: float,
) -> Scorecard:
    engagement = engagement_contributions(model, totals)
    fit_value = _total(model, fit)
    engagement_value = _total(model, engagement)
    contributions = (*fit, *engagement)
    score_value = math.fsum(c.points for c in contributions)
    grade = model.grade(fit_value, engagement_value)
    return Scorecard(
        audience=model.audience,
        at=at,
        fit=fit_value,
        engagement=engagement_value,
        score=score_value,
        grade=grade,
        mql=model.is_mql(score_value, fit_value, engagement_value, grade),
        contributions=contributions,
    )


#: The fixed instant (2020-01-01T00:00:00Z) at which stored leads value the decaying part
#: of their engagement, so that a sum over many leads is one multiplication away from any
#: time: Σ min(Sᵢ + Aᵢ·exp(−λ·(t − ANCHOR)), max).
ANCHOR = 1_577_836_800.0
_LARGEST_EXPONENT = 600.0  # exp(600) ≈ 4e260: room to spare below the double's 1.8e308


def anchored(model: Model, decaying: float, as_of: float) -> float | None:
    """The decaying part ``decaying``, valued at ``as_of``, valued at :data:`ANCHOR`
    instead; None when that would overflow (decay faster than about a week, years away)."""
    exponent = model.decay_rate * (as_of - ANCHOR)
    if abs(exponent) > _LARGEST_EXPONENT:
        return None
    return decaying * math.exp(exponent)


def anchor_factor(model: Model, at: float) -> float:
    """What a point valued at :data:`ANCHOR` is worth at ``at``."""
    return decay.factor(model.decay_rate, at - ANCHOR)


def engagement_at(model: Model, anchored_part: float, static: float, at: float) -> float:
    """A lead's engagement at ``at`` from its closed form (see :func:`anchored`):
    ``min(S + A·exp(−λ·(at − ANCHOR)), engagement.max)``. Equal to
    :func:`engagement_value` on the state, to floating-point rounding."""
    return min(static + anchored_part * anchor_factor(model, at), model.engagement_max)


@dataclass(frozen=True, slots=True)
class Numbers:
    """A lead's numbers without their explanation: what the engine stores."""

    fit: float
    engagement: float
    score: float
    grade: str
    mql: bool


def numbers(
    model: Model, attributes: Mapping[str, object], state: EngagementState, at: float
) -> Numbers:
    """The numbers of ``state.scorecard(model, attributes, at)``, bit for bit, without
    building its contributions: the same points summed the same way (``math.fsum`` is
    exactly rounded, so order does not matter), clips included."""
    points = []
    for rule in model.fit_rules:
        hit = rule.evaluate(attributes)
        if hit is not None:
            points.append(hit[0])
    raw = math.fsum(points)
    fit = raw
    if raw > model.fit_max:
        points.append(model.fit_max - raw)
        fit = model.fit_max
    elif model.fit_min is not None and raw < model.fit_min:
        points.append(model.fit_min - raw)
        fit = model.fit_min
    engaged = []
    if state.as_of is not None:
        if at < state.as_of:
            raise ValueError("an engagement state cannot be read before its newest event")
        age = at - state.as_of
        for index, rule_state in state.rules.items():
            engagement_rule = model.engagement_rules[index]
            engaged.append(rule_state.value * decay.factor(_rate(model, engagement_rule), age))
    raw = math.fsum(engaged)
    engagement = raw
    if raw > model.engagement_max:
        engaged.append(model.engagement_max - raw)
        engagement = model.engagement_max
    score_value = math.fsum(points + engaged)
    grade = model.grade(fit, engagement)
    return Numbers(
        fit, engagement, score_value, grade, model.is_mql(score_value, fit, engagement, grade)
    )


def engagement_value(model: Model, state: EngagementState, at: float) -> float:
    """A lead's engagement (capped) valued at ``at``, from its incremental state."""
    if state.as_of is None:
        return 0.0
    return _total(model, engagement_contributions(model, state.totals(model, at)))


def _total(model: Model, contributions: list[Contribution]) -> float:
    """The exact sum of a part (fit or engagement); a clipped part is exactly its bound,
    not the bound give or take the rounding of ``bound − raw``."""
    if contributions and contributions[-1].clip:
        bound = contributions[-1].rule_id
        if bound == "fit.max":
            return model.fit_max
        if bound == "fit.min" and model.fit_min is not None:
            return model.fit_min
        return model.engagement_max
    return math.fsum(c.points for c in contributions)


def score(
    model: Model, attributes: Mapping[str, object], events: Iterable[Event], at: float
) -> Scorecard:
    """A lead's scorecard as of ``at``, recomputed from its whole history."""
    matches = [
        (rule.index, event.at, event.id) for event in events for rule in matches_of(model, event)
    ]
    return score_matches(model, attributes, matches, at)


def score_matches(
    model: Model, attributes: Mapping[str, object], matches: Iterable[Match], at: float
) -> Scorecard:
    """As :func:`score`, from matches already found (the batch path matches as it reads)."""
    totals = engagement_totals(model, matches, at)
    return assemble(model, fit_contributions(model, attributes), totals, at)


# ----------------------------------------------------------------- incremental state


#: An event counted in a state: ``[when, event_id]``. A list, not a tuple, so that the
#: state's JSON is the state itself: storing and loading convert nothing.
Item = list[Any]


@dataclass(slots=True)
class _RuleState:
    value: float = 0.0  # valued at the state's as_of (the plain sum for rules that don't decay)
    events: int = 0
    recent: list[Item] = field(default_factory=list)  # uncapped: the newest, ascending
    windows: dict[int, list[Item]] = field(default_factory=dict)  # capped: counted, ascending


class EngagementState:
    """A lead's engagement kept incrementally: add events in any order, read at any time
    at or after the newest event added. Equal to :func:`engagement_totals` over the same
    events (to floating-point rounding), whatever the arrival order."""

    __slots__ = ("as_of", "rules")

    def __init__(self) -> None:
        self.as_of: float | None = None
        self.rules: dict[int, _RuleState] = {}

    def to_dict(self, model: Model) -> dict[str, object]:
        """Plain data (JSON-ready) for storing the state with the lead; rules by id. It
        shares the state's lists: encode it before the state changes again."""
        rules: dict[str, object] = {}
        for index, state in self.rules.items():
            rules[model.engagement_rules[index].id] = {
                "value": state.value,
                "events": state.events,
                "recent": state.recent,
                "windows": {str(window): items for window, items in state.windows.items()},
            }
        return {"as_of": self.as_of, "rules": rules}

    @classmethod
    def from_dict(cls, model: Model, data: Mapping[str, object]) -> EngagementState:
        """The state :meth:`to_dict` stored, for the same model. A rule the model no longer
        has is an error: a model change rescores from the event log instead."""
        state = cls()
        as_of = data.get("as_of")
        state.as_of = None if as_of is None else float(as_of)  # type: ignore[arg-type]
        index = {rule.id: rule.index for rule in model.engagement_rules}
        rules = data.get("rules", {})
        assert isinstance(rules, Mapping)
        for rule_id, stored in rules.items():
            if rule_id not in index:
                raise ValueError(f"the stored state has a rule {rule_id!r} the model lacks")
            state.rules[index[rule_id]] = _RuleState(
                value=float(stored["value"]),
                events=int(stored["events"]),
                recent=stored["recent"],
                windows={int(w): items for w, items in stored["windows"].items()},
            )
        return state

    def add(self, model: Model, event: Event) -> tuple[EngagementRule, ...]:
        """Count ``event``; returns the rules it fed."""
        fed = matches_of(model, event)
        for rule in fed:
            self.add_match(model, rule, event.at, event.id)
        return fed

    def advance(self, model: Model, to: float) -> None:
        """Move the valuation time forward to ``to``."""
        if self.as_of is None or to <= self.as_of:
            if self.as_of is None:
                self.as_of = to
            return
        age = to - self.as_of
        for index, state in self.rules.items():
            state.value *= decay.factor(_rate(model, model.engagement_rules[index]), age)
        self.as_of = to

    def add_match(self, model: Model, rule: EngagementRule, when: float, event_id: str) -> None:
        self.advance(model, when)
        assert self.as_of is not None
        state = self.rules.get(rule.index)
        if state is None:
            state = self.rules[rule.index] = _RuleState()
        rate, as_of = _rate(model, rule), self.as_of
        item = [when, event_id]
        if rule.limit is None:
            state.value += rule.points * decay.factor(rate, as_of - when)
            state.events += 1
            bisect.insort(state.recent, item)
            if len(state.recent) > EVENT_IDS_SHOWN:
                del state.recent[0]
            return
        window = state.windows.setdefault(rule.window_of(when), [])
        position = bisect.bisect_left(window, item)
        if position >= rule.limit or (position < len(window) and window[position] == item):
            return  # the window's cap is taken by earlier events, or a replay

        def worth(events: list[Item]) -> float:
            return math.fsum(
                rule.allocation(k) * decay.factor(rate, as_of - events[k][0])
                for k in range(position, len(events))
            )

        before = worth(window)
        window.insert(position, item)
        if len(window) > rule.limit:
            window.pop()
        state.value += worth(window) - before

    def totals(self, model: Model, at: float) -> dict[int, RuleTotal]:
        """Per-rule totals valued at ``at`` (not before the newest event added)."""
        if self.as_of is None:
            return {}
        if at < self.as_of:
            raise ValueError("an engagement state cannot be read before its newest event")
        out = {}
        for index, state in self.rules.items():
            rule = model.engagement_rules[index]
            value = state.value * decay.factor(_rate(model, rule), at - self.as_of)
            if rule.limit is None:
                out[index] = RuleTotal(value, state.events, _newest_ids(state.recent))
            else:
                counted = list(itertools.chain.from_iterable(state.windows.values()))
                out[index] = RuleTotal(value, len(counted), _newest_ids(counted))
        return out

    def scorecard(self, model: Model, attributes: Mapping[str, object], at: float) -> Scorecard:
        return assemble(model, fit_contributions(model, attributes), self.totals(model, at), at)

    def split(self, model: Model) -> tuple[float, float]:
        """(decaying part valued at ``as_of``, part that does not decay)."""
        decaying = static = 0.0
        for index, state in self.rules.items():
            if model.engagement_rules[index].decays and model.decay_rate:
                decaying += state.value
            else:
                static += state.value
        return decaying, static


def engagement_reaches(
    model: Model, state: EngagementState, level: float, after: float
) -> float | None:
    """When the (uncapped) engagement sum reaches ``level``, at or after ``after``; None if
    it never does from here on without new events."""
    if state.as_of is None:
        return None
    decaying, static = state.split(model)
    when = decay.reaches(decaying, static, state.as_of, model.decay_rate, level)
    if when is None or when < after:
        return None
    return when


def score_reaches(
    model: Model, state: EngagementState, fit: float, threshold: float, after: float
) -> float | None:
    """When ``fit + min(engagement, engagement.max)`` reaches ``threshold`` (DESIGN §6: the
    instant an MQL's decaying score falls below ``expire_below``); None if it never does."""
    level = threshold - fit
    if level > model.engagement_max:
        return None  # the clipped score stays below the threshold whatever engagement does
    return engagement_reaches(model, state, level, after)

"""Segments for nurture: the workspace's ``segments.yaml``, checked, compiled, and
evaluated one lead at a time. Pure: no I/O, and time is a parameter.

A segment is the set of leads of one audience that meet its conditions: stages, grades,
score, attributes (relative dates among them) and events within a window. Membership moves
with new data, and with time alone: an event leaves its window, a date comes within range,
engagement decays past a grade or score bound. :meth:`Segment.evaluate` answers both "is
the lead a member at ``now``?" and "when does that change if nothing new happens?", so the
caller schedules the change instead of polling for it.

Every condition that moves with time holds on intervals closed at the start and open at
the end, ``[a, b)``, computed once and compared in one form: evaluated again at the instant
it was said to change, a condition sees the change.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple, Protocol

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from leadgrade.core import conditions, decay, lint, positions, spec
from leadgrade.core.conditions import Condition
from leadgrade.core.durations import DAY, format_duration
from leadgrade.core.model import (
    ENGAGEMENT_DIGITS,
    FIT_LETTERS,
    Model,
    Problem,
    Severity,
    check_yaml,
    format_path,
)
from leadgrade.core.scoring import EngagementState, Event

Kind = Literal["employer", "candidate"]

# ------------------------------------------------------------------------------- the file


def _grade(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(r"[A-D][1-4]", value):
        return value
    raise ValueError(f"{value!r} is not a grade: a letter A–D and a digit 1–4, like B2")


Grade = Annotated[str, BeforeValidator(_grade)]


class GradeRange(spec.Strict):
    """The rectangle of the A1–D4 grid with these two cells as opposite corners."""

    from_: Grade = Field(alias="from")
    to: Grade


def _grades_form(value: object) -> object:
    if isinstance(value, dict | list):
        return value
    raise ValueError("write a list of grades ([A1, B2]) or a range ({from: B2, to: C3})")


Grades = Annotated[
    Annotated[GradeRange, Tag("range")] | Annotated[list[Grade], Tag("cells"), Field(min_length=1)],
    Discriminator(lambda v: "range" if isinstance(v, dict) else "cells"),
    BeforeValidator(_grades_form),
]


class ScoreBounds(spec.Strict):
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ScoreBounds:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least, at_most or both")
        low, high = self.at_least, self.at_most
        if low is not None and high is not None and low > high:
            raise ValueError(f"at_least ({low:g}) is above at_most ({high:g})")
        return self


Days = Annotated[float, Field(gt=0)]
DATE_OPERATORS = ("within_days", "within_last_days", "older_than_days")


class AttributeTest(spec.Operators):
    """The operators of fit rules on one attribute, and relative dates: the attribute read
    as a date (``2026-11-15`` or an ISO 8601 time) against now."""

    within_days: Days | None = None
    within_last_days: Days | None = None
    older_than_days: Days | None = None

    @model_validator(mode="after")
    def _check(self) -> AttributeTest:
        if not self.operands() and self.window() is None:
            raise ValueError(
                f"give one operator: {', '.join((*conditions.OPERATORS, *DATE_OPERATORS))}"
            )
        window = self.window()
        if window is not None and window[0] >= window[1]:
            raise ValueError(f"{' and '.join(self.date_operands())} never hold together")
        return self

    def date_operands(self) -> dict[str, float]:
        given = {op: getattr(self, op) for op in DATE_OPERATORS}
        return {op: value for op, value in given.items() if value is not None}

    def window(self) -> tuple[float, float] | None:
        """Where ``now − date`` must lie, in seconds: ``[low, high)``."""
        given = self.date_operands()
        if not given:
            return None
        low, high = -math.inf, math.inf
        if "within_days" in given:  # the date is ahead, at most N days
            low, high = max(low, -given["within_days"] * DAY), min(high, 0.0)
        if "within_last_days" in given:  # the date is now or past, less than N days ago
            low, high = max(low, 0.0), min(high, given["within_last_days"] * DAY)
        if "older_than_days" in given:  # the date is at least N days ago
            low = max(low, given["older_than_days"] * DAY)
        return low, high


def _types(value: object) -> object:
    return [value] if isinstance(value, str) else value


Where = dict[str, Annotated[spec.Operators, BeforeValidator(spec._where_value)]]


class EventTest(spec.Strict):
    """How many of the lead's events of these types (and properties) fall in the window."""

    type: Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_types)] = Field(
        min_length=1
    )
    where: Where = Field(default_factory=dict)
    within: spec.Seconds | None = None
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> EventTest:
        for name, operators in self.where.items():
            if not operators.operands():
                raise ValueError(f"where.{name} gives no operator")
        low, high = self.counts()
        if high is not None and low > high:
            raise ValueError(f"at_least ({low}) is above at_most ({high})")
        if low == 0 and high is None:
            raise ValueError("at_least: 0 without at_most always holds; drop the condition")
        return self

    def counts(self) -> tuple[int, int | None]:
        """(at least, at most): ``at_least`` defaults to 1, or to 0 when only ``at_most``
        is given (``at_most: 0`` is "none")."""
        low = self.at_least if self.at_least is not None else (0 if self.at_most is not None else 1)
        return low, self.at_most


class SegmentSpec(spec.Strict):
    id: spec.Slug
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    audience: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
    stages: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    grades: Grades | None = None
    score: ScoreBounds | None = None
    # ``industry: Staffing`` means equals and ``industry: [a, b]`` means in, as in ``where``.
    attributes: dict[str, Annotated[AttributeTest, BeforeValidator(spec._where_value)]] = Field(
        default_factory=dict
    )
    events: list[EventTest] = Field(default_factory=list)


class SegmentsFile(spec.Strict):
    segments: list[SegmentSpec] = Field(default_factory=list)


#: The pydantic models of the file, for the docs test that every key is documented.
SCHEMA: tuple[type[spec.Strict], ...] = (
    SegmentsFile,
    SegmentSpec,
    GradeRange,
    ScoreBounds,
    AttributeTest,
    EventTest,
)

# ------------------------------------------------------------------------------ dates

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?\s*$"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    of_era = year - era * 400
    of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468


def instant(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 date or time in ``value``; None when it is not one. A
    date alone is midnight UTC at its start, a time without an offset is UTC."""
    if not isinstance(value, str):
        return None
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    hour, minute, second = int(match[4] or 0), int(match[5] or 0), int(match[6] or 0)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month - 1] + (leap and month == 2):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    offset = match[8]
    if offset and offset not in "Zz":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        seconds -= (1 if offset[0] == "+" else -1) * (hours * 3600 + minutes * 60)
    fraction = match[7]
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


# ------------------------------------------------------------------- time-varying parts


class Curve(NamedTuple):
    """A lead's engagement, uncapped: ``static + decaying·exp(−rate·(t − as_of))`` from
    ``as_of`` on, and its value at ``as_of`` before (as leads are read: never before their
    newest event)."""

    static: float
    decaying: float
    as_of: float
    rate: float

    @classmethod
    def of(cls, model: Model, state: EngagementState) -> Curve:
        if state.as_of is None:
            return cls(0.0, 0.0, 0.0, 0.0)
        decaying, static = state.split(model)
        return cls(static, decaying, state.as_of, model.decay_rate)

    def value(self, at: float) -> float:
        return self.static + self.decaying * decay.factor(
            self.rate, max(at, self.as_of) - self.as_of
        )


class _Part(Protocol):
    """A condition that moves with time: whether it holds at ``t``, and the next instant
    after ``t`` at which that may change (None: never without new data)."""

    def holds(self, t: float) -> bool: ...

    def changes_after(self, t: float) -> float | None: ...


class _Constant:
    def __init__(self, value: bool) -> None:
        self.value = value

    def holds(self, t: float) -> bool:
        return self.value

    def changes_after(self, t: float) -> float | None:
        return None


class _Level:
    """Capped engagement at or above ``level`` (above it, with ``strict``). Engagement is
    monotone between events, so this changes at most once: at the closed-form crossing."""

    def __init__(self, curve: Curve, level: float, cap: float, *, strict: bool = False) -> None:
        self.constant: bool | None = None
        self.rising = curve.decaying < 0
        self.crossing: float | None = None
        if level > cap or (strict and level >= cap):
            self.constant = False  # capped engagement never gets there
            return
        start = curve.value(curve.as_of)
        if curve.rate == 0.0 or curve.decaying == 0.0:
            self.constant = start > level if strict else start >= level
            return
        self.crossing = decay.reaches(curve.decaying, curve.static, curve.as_of, curve.rate, level)
        if self.crossing is None:
            self.constant = start > level if self.rising else start >= level
        self.as_of = curve.as_of

    def holds(self, t: float) -> bool:
        if self.constant is not None:
            return self.constant
        assert self.crossing is not None
        at = max(t, self.as_of)
        return at >= self.crossing if self.rising else at < self.crossing

    def changes_after(self, t: float) -> float | None:
        if self.crossing is not None and self.crossing > t:
            return self.crossing
        return None


class _Not:
    def __init__(self, part: _Part) -> None:
        self.part = part

    def holds(self, t: float) -> bool:
        return not self.part.holds(t)

    def changes_after(self, t: float) -> float | None:
        return self.part.changes_after(t)


class _Digits:
    """The engagement digit is one of ``allowed``: 1 at or above the first threshold, 2 at
    or above the second, 3 at or above the third, else 4."""

    def __init__(
        self, curve: Curve, thresholds: Sequence[float], cap: float, allowed: frozenset[str]
    ) -> None:
        self.levels = [_Level(curve, threshold, cap) for threshold in thresholds]
        self.allowed = allowed

    def holds(self, t: float) -> bool:
        for digit, level in zip("123", self.levels, strict=True):
            if level.holds(t):
                return digit in self.allowed
        return "4" in self.allowed

    def changes_after(self, t: float) -> float | None:
        return _soonest(level.changes_after(t) for level in self.levels)


class _Window:
    """``start ≤ t < end``: a relative date in range."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end

    def changes_after(self, t: float) -> float | None:
        return _soonest(x for x in (self.start, self.end) if t < x < math.inf)


class _Count:
    """From ``low`` to ``high`` events in the window: an event at ``e`` counts from ``e``
    until ``e + within`` (forever without ``within``)."""

    def __init__(
        self, times: Sequence[float], within: float | None, low: int, high: int | None
    ) -> None:
        self.enters = sorted(times)
        self.leaves = [] if within is None else [e + within for e in self.enters]
        self.low, self.high = low, high

    def _count(self, t: float) -> int:
        return bisect_right(self.enters, t) - bisect_right(self.leaves, t)

    def _ok(self, count: int) -> bool:
        return count >= self.low and (self.high is None or count <= self.high)

    def holds(self, t: float) -> bool:
        return self._ok(self._count(t))

    def changes_after(self, t: float) -> float | None:
        now = self.holds(t)
        enters, leaves = self.enters, self.leaves
        i, j = bisect_right(enters, t), bisect_right(leaves, t)
        while i < len(enters) or j < len(leaves):
            moment = min(
                enters[i] if i < len(enters) else math.inf,
                leaves[j] if j < len(leaves) else math.inf,
            )
            while i < len(enters) and enters[i] <= moment:
                i += 1
            while j < len(leaves) and leaves[j] <= moment:
                j += 1
            if self._ok(i - j) != now:
                return moment
        return None


def _soonest(instants: Iterable[float | None]) -> float | None:
    return min((x for x in instants if x is not None), default=None)


#: Candidate instants looked at for the next change before giving up and asking again then.
STEPS = 1000


class Verdict(NamedTuple):
    member: bool
    until: float | None  # when that changes without new data; None: not by time alone


NEVER = Verdict(False, None)


def _verdict(parts: Sequence[_Part], now: float) -> Verdict:
    current = all(part.holds(now) for part in parts)
    at = now
    for _ in range(STEPS):
        upcoming = _soonest(part.changes_after(at) for part in parts)
        if upcoming is None:
            return Verdict(current, None)
        at = upcoming
        if all(part.holds(at) for part in parts) != current:
            return Verdict(current, at)
    return Verdict(current, at)  # look again then


# ------------------------------------------------------------------------- segments


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What a segment reads of a lead: its model (grade thresholds, engagement cap), stage,
    fit, engagement curve, attributes (enriched) and the events of its audience."""

    model: Model
    stage: str
    fit: float
    engagement: Curve
    attributes: Mapping[str, object]
    events: Sequence[Event] = ()


@dataclass(frozen=True, slots=True)
class AttributeCondition:
    field: str
    test: Condition | None
    window: tuple[float, float] | None  # [low, high) of now − date, seconds
    dates: tuple[tuple[str, float], ...] = ()  # the date operators as written, for words

    def describe(self) -> str:
        words = {
            "within_days": "is within the next {}",
            "within_last_days": "is within the last {}",
            "older_than_days": "is at least {} ago",
        }
        parts = [] if self.test is None else [self.test.describe()]
        parts += [words[op].format(format_duration(days * DAY)) for op, days in self.dates]
        return f"{self.field} " + " and ".join(parts)


@dataclass(frozen=True, slots=True)
class EventCondition:
    types: tuple[str, ...]
    where: tuple[tuple[str, Condition], ...]
    within: float | None
    at_least: int
    at_most: int | None

    def matches(self, event: Event) -> bool:
        return event.type in self.types and all(
            condition.test(event.properties.get(name)) for name, condition in self.where
        )

    def describe(self) -> str:
        text = " or ".join(self.types)
        if self.where:
            text += " where " + " and ".join(f"{n} {c.describe()}" for n, c in self.where)
        if self.at_most == 0:
            count = "none"
        elif self.at_most is None:
            count = f"at least {self.at_least}"
        elif self.at_least == 0:
            count = f"at most {self.at_most}"
        else:
            count = f"{self.at_least} to {self.at_most}"
        span = "ever" if self.within is None else f"in the last {format_duration(self.within)}"
        return f"{text}: {count} {span}"


def grade_cells(grades: GradeRange | list[str]) -> frozenset[str]:
    """The cells a ``grades`` condition names; a range is the rectangle between its two
    corners, in either order: ``{from: B2, to: C3}`` is B2, B3, C2, C3."""
    if isinstance(grades, list):
        return frozenset(grades)
    letters = sorted((grades.from_[0], grades.to[0]))
    digits = sorted((grades.from_[1], grades.to[1]))
    return frozenset(
        letter + digit
        for letter in FIT_LETTERS
        if letters[0] <= letter <= letters[1]
        for digit in ENGAGEMENT_DIGITS
        if digits[0] <= digit <= digits[1]
    )


@dataclass(frozen=True, eq=False)
class Segment:
    spec: SegmentSpec
    stages: frozenset[str] | None
    cells: frozenset[str] | None
    attributes: tuple[AttributeCondition, ...]
    events: tuple[EventCondition, ...]

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def audience(self) -> str:
        return self.spec.audience

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(t for condition in self.events for t in condition.types)

    @property
    def lookback(self) -> float | None:
        """How far back events can matter (seconds); None when some condition counts
        events ever. 0 without event conditions."""
        if any(condition.within is None for condition in self.events):
            return None
        return max((condition.within or 0.0 for condition in self.events), default=0.0)

    def evaluate(self, lead: LeadFacts, now: float) -> Verdict:
        """Whether ``lead`` is a member at ``now``, and the next instant that changes
        without new data."""
        if self.stages is not None and lead.stage not in self.stages:
            return NEVER
        parts: list[_Part] = []
        for attribute in self.attributes:
            value = lead.attributes.get(attribute.field)
            if attribute.test is not None and not attribute.test.test(value):
                return NEVER
            if attribute.window is not None:
                date = instant(value)
                if date is None:
                    return NEVER
                low, high = attribute.window
                parts.append(_Window(date + low, date + high))
        model, curve, cap = lead.model, lead.engagement, lead.model.engagement_max
        if self.cells is not None:
            letter = model.fit_letter(lead.fit)
            digits = frozenset(cell[1] for cell in self.cells if cell[0] == letter)
            if not digits:
                return NEVER
            if len(digits) < len(ENGAGEMENT_DIGITS):
                g = model.spec.grades.engagement
                parts.append(_Digits(curve, (g.one, g.two, g.three), cap, digits))
        score = self.spec.score
        if score is not None and score.at_least is not None:
            parts.append(_Level(curve, score.at_least - lead.fit, cap))
        if score is not None and score.at_most is not None:
            parts.append(_Not(_Level(curve, score.at_most - lead.fit, cap, strict=True)))
        for condition in self.events:
            times = [event.at for event in lead.events if condition.matches(event)]
            parts.append(_Count(times, condition.within, condition.at_least, condition.at_most))
        moving = []
        for part in parts:
            if part.changes_after(now) is not None:
                moving.append(part)
            elif not part.holds(now):
                return NEVER  # false from now on, whatever the others do
        return _verdict(moving, now)

    def describe(self) -> str:
        """The conditions in words, one clause each."""
        clauses = [f"{self.audience} leads"]
        if self.stages is not None:
            clauses.append("stage " + " or ".join(sorted(self.stages)))
        grades = self.spec.grades
        if isinstance(grades, GradeRange):
            clauses.append(f"grade {grades.from_}–{grades.to}")
        elif grades is not None:
            clauses.append("grade " + ", ".join(sorted(grades)))
        score = self.spec.score
        if score is not None and score.at_least is not None:
            clauses.append(f"score ≥ {score.at_least:g}")
        if score is not None and score.at_most is not None:
            clauses.append(f"score ≤ {score.at_most:g}")
        clauses += [attribute.describe() for attribute in self.attributes]
        clauses += [condition.describe() for condition in self.events]
        return "; ".join(clauses)


def compile_segment(parsed: SegmentSpec, lists: Mapping[str, Iterable[str]]) -> Segment:
    return Segment(
        spec=parsed,
        stages=None if parsed.stages is None else frozenset(parsed.stages),
        cells=None if parsed.grades is None else grade_cells(parsed.grades),
        attributes=tuple(
            AttributeCondition(
                name,
                conditions.build(test.operands(), lists) if test.operands() else None,
                test.window(),
                tuple(test.date_operands().items()),
            )
            for name, test in parsed.attributes.items()
        ),
        events=tuple(
            EventCondition(
                tuple(test.type),
                tuple(
                    (name, conditions.build(ops.operands(), lists))
                    for name, ops in test.where.items()
                ),
                test.within,
                *test.counts(),
            )
            for test in parsed.events
        ),
    )


# ---------------------------------------------------------------------------- checking


class SegmentsError(ValueError):
    """A segments file that does not load; ``problems`` holds every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def audience_kind(audience: str) -> Kind:
    """As a model without ``kind``: only the audience ``employer`` is employers."""
    return "employer" if audience == "employer" else "candidate"


def check_segments(
    text: str,
    source: str = "segments.yaml",
    *,
    stages: Sequence[str],
    audiences: Mapping[str, Kind] | None = None,
    lists: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[Segment] | None, list[Problem]]:
    """The segments (None when the file has errors) and every problem. ``stages`` are the
    lifecycle's; ``audiences`` maps the workspace's audiences to their kind (None: any
    audience, its kind by name, as for a model without ``kind``)."""
    parsed, problems, located = check_yaml(text, source, SegmentsFile)
    if located is not None and not isinstance(located.data, dict | None):
        return None, [Problem(source, 1, "", "a segments file is a mapping: segments: [...]")]
    if parsed is None or located is None:
        return None, problems
    lists = lists or {}
    problems = _problems(parsed, located, source, stages, audiences, lists)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return [compile_segment(s, lists) for s in parsed.segments], problems


def parse_segments(
    text: str,
    source: str = "segments.yaml",
    *,
    stages: Sequence[str],
    audiences: Mapping[str, Kind] | None = None,
    lists: Mapping[str, Iterable[str]] | None = None,
) -> list[Segment]:
    """The segments in ``text``; raises :class:`SegmentsError` listing every error."""
    found, problems = check_segments(text, source, stages=stages, audiences=audiences, lists=lists)
    if found is None:
        raise SegmentsError([p for p in problems if p.severity == "error"])
    return found


def _problems(
    parsed: SegmentsFile,
    located: positions.Located,
    source: str,
    stages: Sequence[str],
    audiences: Mapping[str, Kind] | None,
    lists: Mapping[str, Iterable[str]],
) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: positions.Path, message: str, severity: Severity = "error") -> None:
        problems.append(
            Problem(source, located.line_of(path), format_path(path), message, severity)
        )

    def check_field(name: str, path: positions.Path, what: str, kind: Kind, audience: str) -> None:
        guardrail = lint.guardrail_for(name, candidates=kind == "candidate")
        if guardrail is not None:
            where = f" for the {audience!r} audience" if guardrail.candidates_only else ""
            add(
                path,
                f"{what} {name!r} may not select leads{where}: guardrail "
                f"'protected attributes never score' ({guardrail.name}): {guardrail.why}",
            )

    def check_operands(operands: Mapping[str, Any], path: positions.Path) -> None:
        name = operands.get("in_list")
        if isinstance(name, str):
            if name not in lists:
                known = ", ".join(sorted(lists)) or "none"
                add((*path, "in_list"), f"no named list {name!r} (lists found: {known})")
            elif not list(lists[name]):
                add((*path, "in_list"), f"the list {name!r} is empty", "warning")
        texts = [
            str(v) for k, v in operands.items() if k in ("matches", "equals", "contains", "prefix")
        ]
        texts += [str(v) for v in operands.get("in", ())]
        coded = sorted({w for t in texts for w in lint.coded_words(t)})
        if coded:
            add(
                path,
                f"the condition tests for words read as age- or sex-coded ({', '.join(coded)}); "
                "check it with counsel (EEOC guidance on job-ad language)",
                "warning",
            )

    seen: dict[str, positions.Path] = {}
    for i, segment in enumerate(parsed.segments):
        path: positions.Path = ("segments", i)
        if segment.id in seen:
            first = located.line_of(seen[segment.id])
            add((*path, "id"), f"segment id {segment.id!r} is already used on line {first}")
        else:
            seen[segment.id] = path
        audience = segment.audience
        if audiences is not None and audience not in audiences:
            known = ", ".join(sorted(audiences)) or "none"
            add(
                (*path, "audience"),
                f"no audience {audience!r} in the workspace (audiences: {known})",
            )
        kind = (
            audiences.get(audience, audience_kind(audience))
            if audiences
            else audience_kind(audience)
        )
        for j, stage in enumerate(segment.stages or ()):
            if stage not in stages:
                add(
                    (*path, "stages", j),
                    f"{stage!r} is not a stage; use one of {', '.join(stages)}",
                )
        for name, test in segment.attributes.items():
            check_field(name, (*path, "attributes", name), "the attribute", kind, audience)
            check_operands(test.operands(), (*path, "attributes", name))
        for j, event in enumerate(segment.events):
            for name, ops in event.where.items():
                at = (*path, "events", j, "where", name)
                check_field(name, at, "the event property", kind, audience)
                check_operands(ops.operands(), at)
    return sorted(problems, key=lambda p: (p.line, p.key))

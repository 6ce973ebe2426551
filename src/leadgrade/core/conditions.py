"""Conditions on one value: the operators that fit rules and event filters share.

A condition is built once from a model file and then tested against many values, so
each operator is a small object with a precompiled ``test``, a ``describe`` that says
in words what it checks (for explanations and lint output), and a ``sql`` that renders
the same test as a SQL fragment through a :class:`SqlRender` (``leadgrade.sql`` gives
one built on sqlglot): one object, three renderings, so they cannot drift apart.

String comparisons ignore case and surrounding whitespace: CRM exports spell the same
industry ``Staffing``, ``staffing`` and ``STAFFING ``. A value that is missing (absent,
``None`` or an empty string) fails every operator except ``exists: false``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

Scalar = str | int | float | bool

V = TypeVar("V")  # a value a condition tests (a column), as a SQL renderer knows it
E = TypeVar("E")  # a SQL expression

#: What ``equals: true`` and ``equals: false`` accept in text (any case).
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


class SqlRender(Protocol[V, E]):
    """The SQL forms a rule is made of; :mod:`leadgrade.sql` implements them with sqlglot.

    Values reach SQL as text (a lead attribute or event property column). Each test
    method returns a boolean expression that is true exactly when the Python test holds
    for that text, and false or NULL otherwise (so tests combine with AND and OR, never
    NOT). ``fold`` means stripped of surrounding whitespace and case-folded, as
    :func:`_fold`; texts handed to the methods are already folded and never empty."""

    def attribute(self, name: str) -> V: ...

    def event_property(self, name: str) -> V: ...

    def present(self, value: V) -> E: ...

    def missing(self, value: V) -> E: ...

    def folded_in(self, value: V, texts: Sequence[str]) -> E: ...

    def number_in(self, value: V, numbers: Sequence[float]) -> E: ...

    def number_between(self, value: V, low: float | None, high: float | None) -> E: ...

    def folded_contains(self, value: V, needle: str) -> E: ...

    def folded_prefix(self, value: V, prefix: str) -> E: ...

    def search(self, value: V, pattern: re.Pattern[str]) -> E: ...

    def all_of(self, parts: Sequence[E]) -> E: ...

    def any_of(self, parts: Sequence[E]) -> E: ...

    def never(self) -> E: ...

    def event_type_in(self, types: Sequence[str]) -> E: ...

    def first_case(self, cases: Sequence[tuple[E, float]]) -> E: ...


class Condition(Protocol):
    def test(self, value: object) -> bool: ...

    def describe(self) -> str: ...

    def sql(self, to: SqlRender[V, E], value: V) -> E: ...


def is_missing(value: object) -> bool:
    """Absent, None, blank text, or an empty list."""
    if value is None:
        return True
    if type(value) is str:
        return not value.strip()
    return isinstance(value, (list, tuple, set, frozenset, dict)) and not value


def _fold(value: object) -> str:
    return str(value).strip().casefold()


def as_number(value: object) -> float | None:
    """``value`` as a float, or None when it is not a number (booleans are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").strip())
        except ValueError:
            return None
    return None


def _same(expected: Scalar, value: object) -> bool:
    if isinstance(expected, bool):
        if isinstance(value, bool):
            return value is expected
        return _fold(value) in (TRUE_WORDS if expected else FALSE_WORDS)
    if isinstance(expected, int | float):
        number = as_number(value)
        return number is not None and number == float(expected)
    return _fold(value) == expected.strip().casefold()


def _same_sql(to: SqlRender[V, E], value: V, expected: Scalar) -> E:
    """:func:`_same` on a text value (and not missing), in SQL."""
    if isinstance(expected, bool):
        return to.folded_in(value, TRUE_WORDS if expected else FALSE_WORDS)
    if isinstance(expected, int | float):
        return to.number_in(value, [float(expected)])
    folded = expected.strip().casefold()
    return to.folded_in(value, [folded]) if folded else to.never()


def _items(value: object) -> Iterable[object]:
    """A list property tests element-wise; anything else is one element."""
    if isinstance(value, list | tuple | set | frozenset):
        return value
    return (value,)


@dataclass(frozen=True, slots=True)
class Equals:
    expected: Scalar

    def test(self, value: object) -> bool:
        return not is_missing(value) and any(_same(self.expected, v) for v in _items(value))

    def describe(self) -> str:
        return f"is {self.expected!r}"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return _same_sql(to, value, self.expected)


@dataclass(frozen=True, slots=True)
class In:
    options: tuple[Scalar, ...]
    label: str = ""
    _folded: frozenset[str] = frozenset()

    @classmethod
    def of(cls, options: Iterable[Scalar], label: str = "") -> In:
        options = tuple(options)
        folded = frozenset(o.strip().casefold() for o in options if isinstance(o, str))
        return cls(options, label, folded)

    def test(self, value: object) -> bool:
        if is_missing(value):
            return False
        for item in _items(value):
            # Text options compare with any value as text (50 is in ["50"]); number and
            # true/false options compare as numbers and truth values.
            if _fold(item) in self._folded:
                return True
            if any(not isinstance(o, str) and _same(o, item) for o in self.options):
                return True
        return False

    def describe(self) -> str:
        if self.label:
            return f"is in list {self.label!r}"
        return f"is one of {', '.join(repr(o) for o in self.options)}"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        texts = set(self._folded) - {""}  # a missing value never matches
        numbers: list[float] = []
        for option in self.options:
            if isinstance(option, bool):
                texts.update(TRUE_WORDS if option else FALSE_WORDS)
            elif not isinstance(option, str):
                numbers.append(float(option))
        parts = []
        if texts:
            parts.append(to.folded_in(value, sorted(texts)))
        if numbers:
            parts.append(to.number_in(value, sorted(set(numbers))))
        return to.any_of(parts) if parts else to.never()


@dataclass(frozen=True, slots=True)
class Matches:
    pattern: re.Pattern[str]

    def test(self, value: object) -> bool:
        return not is_missing(value) and any(
            self.pattern.search(str(v)) is not None for v in _items(value)
        )

    def describe(self) -> str:
        return f"matches /{self.pattern.pattern}/"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return to.all_of([to.present(value), to.search(value, self.pattern)])


@dataclass(frozen=True, slots=True)
class Between:
    """Numeric range, inclusive at both ends; either end may be open (None)."""

    low: float | None
    high: float | None

    def test(self, value: object) -> bool:
        number = as_number(value)
        if number is None:
            return False
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )

    def describe(self) -> str:
        if self.low is None:
            return f"is at most {self.high:g}"
        if self.high is None:
            return f"is at least {self.low:g}"
        return f"is between {self.low:g} and {self.high:g}"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return to.number_between(value, self.low, self.high)


@dataclass(frozen=True, slots=True)
class Exists:
    present: bool

    def test(self, value: object) -> bool:
        return is_missing(value) is not self.present

    def describe(self) -> str:
        return "is present" if self.present else "is missing"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return to.present(value) if self.present else to.missing(value)


@dataclass(frozen=True, slots=True)
class Contains:
    needle: Scalar

    def test(self, value: object) -> bool:
        if is_missing(value):
            return False
        if isinstance(value, list | tuple | set | frozenset):
            return any(_same(self.needle, v) for v in value)
        return _fold(self.needle) in _fold(value)

    def describe(self) -> str:
        return f"contains {self.needle!r}"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        needle = _fold(self.needle)
        if not needle:
            return to.present(value)
        return to.all_of([to.present(value), to.folded_contains(value, needle)])


@dataclass(frozen=True, slots=True)
class Prefix:
    prefix: str

    def test(self, value: object) -> bool:
        return not is_missing(value) and any(
            _fold(v).startswith(self.prefix.casefold()) for v in _items(value)
        )

    def describe(self) -> str:
        return f"starts with {self.prefix!r}"

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        prefix = self.prefix.casefold()  # not stripped: the value is, the prefix is not
        if not prefix:
            return to.present(value)
        return to.all_of([to.present(value), to.folded_prefix(value, prefix)])


@dataclass(frozen=True, slots=True)
class AllOf:
    """Several operators on the same value (``{at_least: 10, contains: x}``): all must hold."""

    parts: tuple[Condition, ...]

    def test(self, value: object) -> bool:
        return all(part.test(value) for part in self.parts)

    def describe(self) -> str:
        return " and ".join(part.describe() for part in self.parts)

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return to.all_of([part.sql(to, value) for part in self.parts])


OPERATORS = (
    "equals",
    "in",
    "in_list",
    "matches",
    "between",
    "at_least",
    "at_most",
    "exists",
    "contains",
    "prefix",
)


class Memo:
    """A condition that remembers its answers for plain values: job titles, industries,
    page paths repeat across thousands of leads and events, and a dictionary lookup is
    cheaper than a regular expression. The memory is bounded."""

    __slots__ = ("answers", "condition")
    LIMIT = 65_536

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.answers: dict[object, bool] = {}

    def test(self, value: object) -> bool:
        # True == 1 == 1.0 as keys, yet they compare differently: key non-strings by type.
        key = value if type(value) is str else (type(value), value)
        try:
            return self.answers[key]
        except KeyError:
            answer = self.condition.test(value)
            if len(self.answers) >= self.LIMIT:
                self.answers.clear()
            self.answers[key] = answer
            return answer
        except TypeError:  # unhashable: a list property
            return self.condition.test(value)

    def describe(self) -> str:
        return self.condition.describe()

    def sql(self, to: SqlRender[V, E], value: V) -> E:
        return self.condition.sql(to, value)


def build(operands: Mapping[str, object], lists: Mapping[str, Iterable[str]]) -> Condition:
    """One condition from already-validated operands (``{"between": [50, 5000]}``)."""
    parts: list[Condition] = []
    for op, operand in operands.items():
        parts.append(_build_one(op, operand, lists))
    return Memo(parts[0] if len(parts) == 1 else AllOf(tuple(parts)))


def _build_one(op: str, operand: object, lists: Mapping[str, Iterable[str]]) -> Condition:
    if op == "equals":
        return Equals(_scalar(operand))
    if op == "in":
        assert isinstance(operand, list | tuple)
        return In.of(_scalar(o) for o in operand)
    if op == "in_list":
        assert isinstance(operand, str)
        return In.of(lists[operand], label=operand)
    if op == "matches":
        assert isinstance(operand, str)
        return Matches(re.compile(operand))
    if op == "between":
        assert isinstance(operand, list | tuple)
        low, high = operand
        return Between(float(low), float(high))
    if op == "at_least":
        return Between(float(_number(operand)), None)
    if op == "at_most":
        return Between(None, float(_number(operand)))
    if op == "exists":
        return Exists(bool(operand))
    if op == "contains":
        return Contains(_scalar(operand))
    if op == "prefix":
        return Prefix(str(operand))
    raise ValueError(f"unknown operator {op!r}")


def _scalar(value: object) -> Scalar:
    assert isinstance(value, str | int | float | bool)
    return value


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    assert not isinstance(value, bool)
    return float(value)

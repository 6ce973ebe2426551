"""The SQL forms of a model's tests, for one engine: :class:`SqlRender` built on sqlglot.

Rules render themselves (``FitRule.sql``, ``EngagementRule.sql`` and each condition's
``sql``); this module says what each form is in SQL. Values arrive as text columns. A
value is prepared once per row in the query's first step — its text, its folded text
(``lower`` of the text stripped of Python's whitespace) and its number — and the tests
read the prepared columns, so a value used by several rules is folded once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from leadgrade.sql.regex import WHITESPACE, Flavor, literal_class, translate

Dialect = Literal["duckdb", "postgres", "spark", "bigquery", "snowflake"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "postgres", "spark", "bigquery", "snowflake")

#: The regular-expression dialect of each engine.
FLAVORS: dict[Dialect, Flavor] = {
    "duckdb": "re2",
    "bigquery": "re2",
    "postgres": "postgres",
    "spark": "java",
    "snowflake": "re2",
}

#: Text that Python's ``float()`` reads, after commas and surrounding whitespace are
#: removed, written so that every engine's cast reads it the same way: ASCII digits with
#: single underscores between them, at most 200 characters before an exponent of at most
#: two digits (so no cast overflows). Anything else is not a number (``n/a``, ``50 staff``).
NUMBER_PATTERN = (
    r"^[+-]?([0-9](_?[0-9])*([.]([0-9](_?[0-9])*)?)?|[.][0-9](_?[0-9])*)([eE][+-]?[0-9]{1,2})?$"
)
NUMBER_MAX_LENGTH = 200
INFINITY_WORDS = ("inf", "+inf", "infinity", "+infinity")
MINUS_INFINITY_WORDS = ("-inf", "-infinity")


class CompileError(ValueError):
    """A model (or an option) that cannot be compiled to SQL with the engine's numbers."""


_TYPES: dict[str, exp.DataType] = {}


def cast(value: exp.Expr, to: str) -> exp.Cast:
    """``CAST(value AS to)`` without copying ``value`` (sqlglot's builder copies)."""
    if to not in _TYPES:
        _TYPES[to] = exp.DataType.build(to)
    return exp.Cast(this=value, to=_TYPES[to].copy())


def double(value: float) -> exp.Expr:
    """A float as an explicit DOUBLE literal written in scientific notation, which every
    engine reads as a binary float (a bare ``0.1`` is an exact NUMERIC/DECIMAL in several,
    slower and rounded differently)."""
    if value != value:  # NaN
        raise CompileError("NaN has no place in a scoring query")
    if value in (float("inf"), float("-inf")):
        return cast(text("inf" if value > 0 else "-inf"), "DOUBLE")
    written = repr(float(value))
    if "e" not in written:
        written += "e0"
    literal = exp.Literal.number(written)
    return cast(literal, "DOUBLE")


def text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def and_(parts: Sequence[exp.Expr]) -> exp.Expr:
    kept = [p for p in parts if not isinstance(p, exp.Boolean) or not p.this]
    if any(isinstance(p, exp.Boolean) and not p.this for p in kept):
        return exp.false()
    kept = [p for p in kept if not isinstance(p, exp.Boolean)]
    if not kept:
        return exp.true()
    if len(kept) == 1:
        return kept[0]
    return exp.and_(*(exp.paren(p) if isinstance(p, exp.Or) else p for p in kept))


def or_(parts: Sequence[exp.Expr]) -> exp.Expr:
    kept = [p for p in parts if not (isinstance(p, exp.Boolean) and not p.this)]
    if any(isinstance(p, exp.Boolean) and p.this for p in kept):
        return exp.true()
    if not kept:
        return exp.false()
    if len(kept) == 1:
        return kept[0]
    return exp.paren(exp.or_(*kept))


@dataclass
class Value:
    """One text value the tests read: a lead attribute or an event property column,
    and which prepared forms of it the query must compute."""

    source: str  # the column name in the input table
    slot: int  # its number among the prepared values
    present_in_input: bool  # False: the column is absent, so every value is missing
    raw: bool = False
    folded: bool = False
    number: bool = False

    @property
    def raw_name(self) -> str:
        return f"v{self.slot}"

    @property
    def folded_name(self) -> str:
        return f"f{self.slot}"

    @property
    def number_name(self) -> str:
        return f"n{self.slot}"


@dataclass
class Values:
    """The prepared values of one input table (leads or events)."""

    columns: frozenset[str] | None  # the table's columns; None: assume the ones asked for
    by_source: dict[str, Value] = field(default_factory=dict)

    def get(self, source: str) -> Value:
        value = self.by_source.get(source)
        if value is None:
            present = self.columns is None or source in self.columns
            value = self.by_source[source] = Value(source, len(self.by_source), present)
        return value


class Renderer:
    """:class:`leadgrade.core.conditions.SqlRender` for one dialect, over the prepared
    columns of the leads (``attribute``) and events (``event_property``) tables."""

    def __init__(self, dialect: Dialect, attributes: Values, properties: Values) -> None:
        self.dialect = dialect
        self.flavor = FLAVORS[dialect]
        self.attributes = attributes
        self.properties = properties
        #: Inside the events' match step the type is already joined: its test is true.
        self.types_joined = True

    # ------------------------------------------------------------------ values

    def attribute(self, name: str) -> Value:
        return self.attributes.get(name)

    def event_property(self, name: str) -> Value:
        return self.properties.get(name)

    def _raw(self, value: Value) -> exp.Expr:
        value.raw = True
        return column(value.raw_name)

    def _folded(self, value: Value) -> exp.Expr:
        value.folded = True
        return column(value.folded_name)

    def _number(self, value: Value) -> exp.Expr:
        value.number = True
        return column(value.number_name)

    # ------------------------------------------------------------------- tests

    def present(self, value: Value) -> exp.Expr:
        if not value.present_in_input:
            return exp.false()
        return exp.NEQ(this=self._folded(value), expression=text(""))

    def missing(self, value: Value) -> exp.Expr:
        if not value.present_in_input:
            return exp.true()
        folded = self._folded(value)
        return exp.paren(exp.or_(exp.Is(this=folded, expression=exp.null()), folded.eq(text(""))))

    def folded_in(self, value: Value, texts: Sequence[str]) -> exp.Expr:
        if not value.present_in_input or not texts:
            return exp.false()
        folded = self._folded(value)
        if len(texts) == 1:
            return folded.eq(text(texts[0]))
        return exp.In(this=folded, expressions=[text(t) for t in texts])

    def number_in(self, value: Value, numbers: Sequence[float]) -> exp.Expr:
        if not value.present_in_input or not numbers:
            return exp.false()
        number = self._number(value)
        return or_([number.eq(double(n)) for n in numbers])

    def number_between(self, value: Value, low: float | None, high: float | None) -> exp.Expr:
        if not value.present_in_input:
            return exp.false()
        number = self._number(value)
        parts: list[exp.Expr] = []
        if low is not None:
            parts.append(exp.GTE(this=number, expression=double(low)))
        if high is not None:
            parts.append(exp.LTE(this=number, expression=double(high)))
        if not parts:
            parts.append(exp.Not(this=exp.Is(this=number, expression=exp.null())))
        return and_(parts)

    def folded_contains(self, value: Value, needle: str) -> exp.Expr:
        if not value.present_in_input:
            return exp.false()
        position = exp.StrPosition(this=self._folded(value), substr=text(needle))
        return exp.GT(this=position, expression=exp.Literal.number(0))

    def folded_prefix(self, value: Value, prefix: str) -> exp.Expr:
        if not value.present_in_input:
            return exp.false()
        return exp.StartsWith(this=self._folded(value), expression=text(prefix))

    def search(self, value: Value, pattern: re.Pattern[str]) -> exp.Expr:
        if not value.present_in_input:
            return exp.false()
        try:
            translated = translate(pattern, self.flavor)
        except ValueError as exc:
            raise CompileError(
                f"the regular expression /{pattern.pattern}/ cannot run on {self.dialect}: {exc}"
            ) from None
        return regex_search(self.dialect, self._raw(value), translated)

    def all_of(self, parts: Sequence[exp.Expr]) -> exp.Expr:
        return and_(parts)

    def any_of(self, parts: Sequence[exp.Expr]) -> exp.Expr:
        return or_(parts)

    def never(self) -> exp.Expr:
        return exp.false()

    def event_type_in(self, types: Sequence[str]) -> exp.Expr:
        if self.types_joined:
            return exp.true()
        return exp.In(this=column("type"), expressions=[text(t) for t in types])

    def first_case(self, cases: Sequence[tuple[exp.Expr, float]]) -> exp.Expr:
        live = []
        for test, points in cases:
            if isinstance(test, exp.Boolean) and not test.this:
                continue
            live.append((test, points))
            if isinstance(test, exp.Boolean):
                break  # always true: the cases after it are never reached
        if not live:
            return cast(exp.null(), "DOUBLE")
        case = exp.Case()
        for test, points in live:
            case = case.when(test, double(points), copy=False)
        return case

    # ----------------------------------------------------------- preparation

    def prepared(self, values: Values, table: str) -> list[exp.Expr]:
        """The select list that prepares ``values`` from ``table``'s columns."""
        out: list[exp.Expr] = []
        for value in values.by_source.values():
            if not value.present_in_input:
                continue
            raw = cast(column(value.source, table), "VARCHAR")
            if value.raw:
                out.append(raw.as_(value.raw_name, quoted=True, copy=False))
            if value.folded:
                out.append(self.fold(raw).as_(value.folded_name, quoted=True, copy=False))
            if value.number:
                out.append(self.number(raw).as_(value.number_name, quoted=True, copy=False))
        return out

    def strip(self, value: exp.Expr) -> exp.Expr:
        """``value`` without Python's whitespace at either end (``str.strip()``). Most
        values have none: a regular expression finds the few that do, and only those
        are trimmed (a trim by a set of characters is slow in some engines)."""
        space = literal_class(WHITESPACE, self.flavor)
        padded = regex_search(self.dialect, value, f"^{space}|{space}$")
        trimmed = exp.Trim(this=value.copy(), expression=self.whitespace(), position="BOTH")
        return exp.Case(ifs=[exp.If(this=padded, true=trimmed)], default=value.copy())

    def fold(self, value: exp.Expr) -> exp.Expr:
        return exp.Lower(this=self.strip(value))

    def whitespace(self) -> exp.Expr:
        """Every character ``str.isspace`` accepts, as a string expression."""
        if self.dialect == "spark":
            # Spark's chr() is Latin-1 only; its string literals take any character.
            return text(WHITESPACE)
        parts: list[exp.Expr] = [
            exp.Chr(expressions=[exp.Literal.number(ord(ch))]) for ch in WHITESPACE
        ]
        joined = parts[0]
        for part in parts[1:]:
            joined = exp.DPipe(this=joined, expression=part, safe=True)
        return exp.paren(joined)

    def number(self, raw: exp.Expr) -> exp.Expr:
        """``as_number`` on text: commas removed, stripped, read as a float; NULL when
        Python's ``float()`` would refuse it (or for ``nan``, which compares false as
        NULL does). Infinities are read too."""
        cleaned = self.strip(exp.func("REPLACE", raw, text(","), text(""), dialect="duckdb"))
        digits = exp.func("REPLACE", cleaned, text("_"), text(""), dialect="duckdb")
        length = exp.Length(this=cleaned)
        is_number = exp.and_(
            exp.LTE(this=length, expression=exp.Literal.number(NUMBER_MAX_LENGTH)),
            regex_search(self.dialect, cleaned, NUMBER_PATTERN),
        )
        lowered = exp.Lower(this=cleaned)
        return (
            exp.Case()
            .when(is_number, cast(digits, "DOUBLE"), copy=False)
            .when(
                exp.In(this=lowered, expressions=[text(w) for w in INFINITY_WORDS]),
                double(float("inf")),
                copy=False,
            )
            .when(
                exp.In(this=lowered, expressions=[text(w) for w in MINUS_INFINITY_WORDS]),
                double(float("-inf")),
                copy=False,
            )
        )


def unshare(tree: exp.Expr) -> exp.Expr:
    """``tree`` with every node in one place only. The builders here reuse a node (a
    column read by several tests) without copying it, which is cheap but leaves it with
    one parent among several; sqlglot's dialect rewrites replace nodes in place, so
    each place gets its own copy before the tree is written out."""
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expr):
                if id(value) in seen:
                    value = value.copy()
                node.set(key, value)
                seen.add(id(value))
                stack.append(value)
            elif isinstance(value, list) and any(isinstance(v, exp.Expr) for v in value):
                items = []
                for item in value:
                    if isinstance(item, exp.Expr):
                        if id(item) in seen:
                            item = item.copy()
                        seen.add(id(item))
                        stack.append(item)
                    items.append(item)
                node.set(key, items)
    return tree


def regex_search(dialect: Dialect, value: exp.Expr, pattern: str) -> exp.Expr:
    """Whether ``pattern`` (already in the engine's syntax) occurs anywhere in ``value``."""
    if dialect == "snowflake":  # REGEXP_LIKE anchors the whole value there
        found = exp.Anonymous(this="REGEXP_INSTR", expressions=[value, text(pattern)])
        return exp.GT(this=found, expression=exp.Literal.number(0))
    return exp.RegexpLike(this=value, expression=text(pattern))


def epoch_seconds(dialect: Dialect, value: exp.Expr) -> exp.Expr:
    """A timestamp as float seconds since the Unix epoch, to the microsecond: the
    microseconds divided by 10⁶, as Python's ``datetime.timestamp()`` computes it."""
    if dialect == "postgres":  # EXTRACT gives exact NUMERIC seconds there
        return cast(exp.Extract(this=exp.var("EPOCH"), expression=value), "DOUBLE")
    micros: exp.Expr
    if dialect == "duckdb":
        micros = exp.Anonymous(this="EPOCH_US", expressions=[value])
    elif dialect == "snowflake":
        micros = exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), value])
    else:  # spark, bigquery
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[value])
    return exp.Div(this=cast(micros, "DOUBLE"), expression=double(1e6), typed=False, safe=False)

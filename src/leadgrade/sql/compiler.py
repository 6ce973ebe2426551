"""A scoring model compiled to one SQL query, for DuckDB, PostgreSQL, Spark and warehouses.

The query reads two tables (names and columns in docs/scale.md):

- ``leads``: ``id`` and one column per attribute the fit rules read;
- ``events``: ``id``, ``lead_id``, ``type``, ``occurred_at`` (a timestamp, UTC) and one
  column per property the engagement rules filter on;

and gives one row per lead, as of one time: ``id``, ``fit``, ``engagement``, ``score``,
``grade``, ``mql``, then each rule's points (``points__<rule>``, NULL when the rule
does not contribute), each engagement rule's events counted (``events__<rule>``), and
the clip adjustments (``fit_clip``, ``engagement_clip``) — the core's explanation, as
columns. The numbers are the core's (:func:`leadgrade.core.score`): the same tests
(each rule renders its own SQL, see :class:`leadgrade.core.conditions.SqlRender`), the
same fixed cap windows counted from the epoch with events ranked by (time, event id),
the same decay ``exp(−λ·age)`` of each allocation, clips, grades and MQL condition.
Sums are plain SQL sums, so totals agree with the core's exactly rounded ``fsum`` to
floating-point rounding (1e-9 relative, far less in practice).

The steps, as common table expressions:

1. ``lead_values``: each attribute a rule reads, prepared once (text, folded text, number);
2. ``fit_points``: each fit rule's points (its first case that holds);
3. ``event_values``: events of scored types at or before the as-of time, their time in
   epoch seconds and their properties prepared;
4. ``matches``: one row per (event, rule it feeds), by a join on the event type and
   each rule's filters;
5. ``positioned``: each match's place ``k`` in its (lead, rule, cap window), by time
   then event id, and whether it replays the row before it (same id, same time);
6. ``engagement_points``: per lead, each rule's allocations decayed to the as-of time,
   and the events it counted;
7. ``totals`` → ``clipped`` → ``graded`` → the result: sums, clips, grade, MQL.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlglot import exp

from leadgrade.core import Model
from leadgrade.core.model import EngagementRule, MqlCondition
from leadgrade.sql.render import (
    DIALECTS,
    CompileError,
    Dialect,
    Renderer,
    Values,
    cast,
    column,
    double,
    epoch_seconds,
    text,
    unshare,
)

#: Output columns before the per-rule ones.
BASE_COLUMNS = ("id", "fit", "engagement", "score", "grade", "mql")
#: Below this exponent ``exp`` underflows (PostgreSQL raises an error); its value there
#: (about 1e-304) is zero to any tolerance.
_SMALLEST_EXPONENT = -700.0


@dataclass(frozen=True)
class Inputs:
    """Where the query reads, and what it may assume.

    ``lead_columns`` and ``event_columns`` are the tables' columns when known (the batch
    runner knows them): a rule reading a column that is absent sees a missing value for
    every row, as the engine does for a CSV file without that column. When None, every
    column the model reads is assumed present (``email`` too, when a rule reads
    ``email_domain``, which is derived from it as the engine derives it).
    An event row repeated with the same id for the same lead at the same time (a replay)
    counts once; ``unique_event_ids`` skips that check, for tables whose ids are unique."""

    leads: str = "leads"
    events: str = "events"
    lead_columns: frozenset[str] | None = None
    event_columns: frozenset[str] | None = None
    unique_event_ids: bool = False


@dataclass(frozen=True)
class RuleColumn:
    """The output columns of one rule."""

    rule_id: str
    kind: Literal["fit", "engagement"]
    points: str
    events: str | None = None


@dataclass(frozen=True)
class Compiled:
    dialect: Dialect
    as_of: float
    expression: exp.Expr
    rules: tuple[RuleColumn, ...]
    columns: tuple[str, ...]
    inputs: Inputs = field(default_factory=Inputs)

    @property
    def sql(self) -> str:
        return self.expression.sql(dialect=self.dialect, identify=True)

    def pretty(self) -> str:
        """The query laid out for reading, after a comment naming its inputs and outputs."""
        when = datetime.fromtimestamp(self.as_of, UTC).isoformat().replace("+00:00", "Z")
        lines = [
            f"-- leadgrade: scores as of {when}, for {self.dialect}",
            f"-- reads {self.inputs.leads} (id, attributes) and {self.inputs.events} "
            "(id, lead_id, type, occurred_at, properties)",
            "-- one row per lead: " + ", ".join(BASE_COLUMNS),
        ]
        for rule in self.rules:
            shown = rule.points + (f", {rule.events}" if rule.events else "")
            lines.append(f"--   {rule.kind} rule {rule.rule_id!r}: {shown}")
        lines.append("--   fit_clip, engagement_clip: what clipping to the bounds added")
        body = self.expression.sql(dialect=self.dialect, identify=True, pretty=True)
        return "\n".join(lines) + "\n" + body + ";\n"


def output_names(model: Model) -> tuple[RuleColumn, ...]:
    """Each rule's output column names: ``points__`` or ``events__`` and the rule id with
    ``-`` and ``.`` written ``_`` (names every engine accepts unquoted, BigQuery too);
    a second id that comes out the same gets ``_2``, ``_3``…"""
    taken: set[str] = set()

    def name(rule_id: str) -> str:
        base = re.sub(r"[^0-9a-z_]", "_", rule_id.lower())
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        return candidate

    out = [RuleColumn(r.id, "fit", f"points__{name(r.id)}") for r in model.fit_rules]
    for rule in model.engagement_rules:
        slug = name(rule.id)
        out.append(RuleColumn(rule.id, "engagement", f"points__{slug}", f"events__{slug}"))
    return tuple(out)


def compile_model(
    model: Model, dialect: str, as_of: float, inputs: Inputs | None = None
) -> Compiled:
    """``model`` as one query for ``dialect``, scoring as of ``as_of`` (epoch seconds).
    Raises :class:`CompileError` for what cannot be said exactly in that dialect."""
    if dialect not in DIALECTS:
        raise CompileError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    if not math.isfinite(as_of):
        raise CompileError("the as-of time must be a finite number of seconds")
    inputs = inputs or Inputs()
    return _Query(model, dialect, as_of, inputs).build()


class _Query:
    def __init__(self, model: Model, dialect: Dialect, as_of: float, inputs: Inputs) -> None:
        self.model = model
        self.dialect = dialect
        self.as_of = as_of
        self.inputs = inputs
        lead_columns = inputs.lead_columns
        self.has_email = lead_columns is None or "email" in lead_columns
        if lead_columns is not None and self.has_email:
            lead_columns = lead_columns | {"email_domain"}  # derived from email
        self.attributes = Values(lead_columns)
        self.properties = Values(inputs.event_columns)
        self.render = Renderer(dialect, self.attributes, self.properties)
        self.ctes: list[tuple[str, exp.Expr]] = []

    # ----------------------------------------------------------------- helpers

    def cte(self, name: str, query: exp.Expr) -> None:
        self.ctes.append((name, query))

    def lead_raw(self, source: str) -> exp.Expr:
        """The text of a lead attribute; ``email_domain`` is derived from ``email`` where
        it is not given, as :func:`leadgrade.core.attributes.enrich` derives it."""
        given = cast(column(source, "l"), "VARCHAR")
        if source != "email_domain" or not self.has_email:
            return given
        email = cast(column("email", "l"), "VARCHAR")
        at = exp.StrPosition(this=exp.func("REVERSE", email), substr=text("@"))
        after = exp.Substring(
            this=email,
            start=exp.Add(
                this=exp.Sub(this=exp.Length(this=email), expression=at),
                expression=exp.Literal.number(2),
            ),
        )
        derived = exp.Case().when(
            exp.GT(this=at, expression=exp.Literal.number(0)),
            exp.Lower(this=self.render.strip(after)),
            copy=False,
        )
        columns = self.inputs.lead_columns
        if columns is not None and "email_domain" not in columns:
            return derived
        blank = exp.or_(exp.Is(this=given, expression=exp.null()), given.eq(text("")))
        return exp.Case().when(blank, derived, copy=False).else_(given, copy=False)

    # ------------------------------------------------------------------- leads

    def fit(self) -> list[str]:
        """``lead_values`` and ``fit_points``; returns the fit columns."""
        names = [f"fit_{i}" for i in range(len(self.model.fit_rules))]
        points = [
            rule.sql(self.render).as_(name, quoted=True, copy=False)
            for rule, name in zip(self.model.fit_rules, names, strict=True)
        ]
        prepared = []
        for value in self.attributes.by_source.values():
            if not value.present_in_input:
                continue
            raw = self.lead_raw(value.source)
            if value.raw:
                prepared.append(raw.as_(value.raw_name, quoted=True, copy=False))
            if value.folded:
                prepared.append(
                    self.render.fold(raw).as_(value.folded_name, quoted=True, copy=False)
                )
            if value.number:
                prepared.append(
                    self.render.number(raw).as_(value.number_name, quoted=True, copy=False)
                )
        lead_id = cast(column("id", "l"), "VARCHAR").as_("lead_id", quoted=True, copy=False)
        self.cte(
            "lead_values",
            exp.select(lead_id, *prepared).from_(
                exp.to_table(self.inputs.leads).as_("l", copy=False), copy=False
            ),
        )
        self.cte(
            "fit_points", exp.select(column("lead_id"), *points).from_("lead_values", copy=False)
        )
        return names

    # ------------------------------------------------------------------ events

    def engagement(self) -> tuple[list[str], list[str]]:
        """The event steps; returns the engagement and events-counted columns."""
        rules = self.model.engagement_rules
        tests = [rule.sql(self.render) for rule in rules]  # registers the properties used
        as_of = double(self.as_of)
        seconds = epoch_seconds(self.dialect, column("occurred_at", "e"))
        types = sorted({t for rule in rules for t in rule.event_types})
        event_values = (
            exp.select(
                cast(column("lead_id", "e"), "VARCHAR").as_("lead_id", quoted=True, copy=False),
                cast(column("id", "e"), "VARCHAR").as_("event_id", quoted=True, copy=False),
                cast(column("type", "e"), "VARCHAR").as_("type", quoted=True, copy=False),
                seconds.as_("t", quoted=True, copy=False),
                *self.render.prepared(self.properties, "e"),
            )
            .from_(exp.to_table(self.inputs.events).as_("e", copy=False), copy=False)
            .where(
                exp.and_(
                    exp.In(this=column("type", "e"), expressions=[text(t) for t in types]),
                    exp.LTE(this=seconds.copy(), expression=as_of),
                ),
                copy=False,
            )
        )
        self.cte("event_values", event_values)
        source = "event_values"
        pairs = [(t, rule.index) for rule in rules for t in rule.event_types]
        selects = [
            exp.select(
                text(t).as_("type", quoted=True, copy=False),
                exp.Literal.number(i).as_("rule", quoted=True, copy=False),
            )
            for t, i in pairs
        ]
        rule_types: exp.Expr = selects[0]
        for select in selects[1:]:
            rule_types = exp.union(rule_types, select, distinct=False)
        self.cte("rule_types", rule_types)

        feeds = exp.Case(this=column("rule", "r"))
        filtered = False
        for rule, test in zip(rules, tests, strict=True):
            feeds = feeds.when(exp.Literal.number(rule.index), test, copy=False)
            filtered = filtered or not (isinstance(test, exp.Boolean) and test.this)
        matches = (
            exp.select(
                column("lead_id", "v"),
                column("event_id", "v"),
                column("t", "v"),
                column("rule", "r"),
            )
            .from_(exp.to_table(source).as_("v", copy=False), copy=False)
            .join(
                exp.to_table("rule_types").as_("r", copy=False),
                on=column("type", "v").eq(column("type", "r")),
                copy=False,
            )
        )
        if filtered:
            matches = matches.where(feeds.else_(exp.false(), copy=False))
        self.cte("matches", matches)

        capped = [r for r in rules if r.limit is not None]
        replays = not self.inputs.unique_event_ids
        where: exp.Expr | None = None
        if capped or replays:
            windowed = [r for r in capped if r.window is not None]
            partition: list[exp.Expr] = [column("lead_id"), column("rule")]
            if windowed:
                window = exp.Case(this=column("rule"))
                for rule in windowed:
                    assert rule.window is not None
                    floor = exp.Floor(
                        this=exp.Div(this=column("t"), expression=double(rule.window))
                    )
                    window = window.when(exp.Literal.number(rule.index), floor, copy=False)
                partition.append(window.else_(exp.Literal.number(0), copy=False))
            order = [column("t"), self.collated(column("event_id"))]

            def over(function: exp.Expr) -> exp.Window:
                return exp.Window(
                    this=function,
                    partition_by=[p.copy() for p in partition],
                    order=exp.Order(expressions=[exp.Ordered(this=o.copy()) for o in order]),
                )

            # The place of an event among the distinct (time, id) of its window: a row
            # replayed with the same id at the same time shares its place, and counts once.
            k = exp.Sub(
                this=over(exp.Anonymous(this="DENSE_RANK")), expression=exp.Literal.number(1)
            )
            selected = [
                column("lead_id"),
                column("rule"),
                column("t"),
                k.as_("k", quoted=True, copy=False),
            ]
            if replays:
                same = exp.and_(
                    exp.EQ(
                        this=over(exp.Lag(this=column("event_id"))), expression=column("event_id")
                    ),
                    exp.EQ(this=over(exp.Lag(this=column("t"))), expression=column("t")),
                )
                replay = exp.Case(
                    ifs=[exp.If(this=same, true=exp.Literal.number(1))],
                    default=exp.Literal.number(0),
                )
                selected.append(replay.as_("replay", quoted=True, copy=False))
                where = column("replay").eq(exp.Literal.number(0))
            self.cte("positioned", exp.select(*selected).from_("matches", copy=False))
            source = "positioned"
        else:
            source = "matches"

        # One pass over the matches, one sum per rule (a sum over no rows is NULL: the
        # rule does not contribute).
        values, counts, sums = [], [], []
        for rule in rules:
            is_rule = column("rule").eq(exp.Literal.number(rule.index))
            value: exp.Expr = exp.Sum(
                this=exp.Case(ifs=[exp.If(this=is_rule, true=self.worth(rule))])
            )
            if rule.limit is None:  # the sum of decay factors, times the points (as the core)
                value = exp.Mul(this=value, expression=double(rule.points))
                counted: exp.Expr = exp.Literal.number(1)
            else:
                under = exp.LT(this=column("k"), expression=exp.Literal.number(rule.limit))
                counted = exp.Case(
                    ifs=[exp.If(this=under, true=exp.Literal.number(1))],
                    default=exp.Literal.number(0),
                )
            count = exp.Sum(this=exp.Case(ifs=[exp.If(this=is_rule.copy(), true=counted)]))
            values.append(f"engagement_{rule.index}")
            counts.append(f"events_{rule.index}")
            sums += [
                value.as_(values[-1], quoted=True, copy=False),
                count.as_(counts[-1], quoted=True, copy=False),
            ]
        points = exp.select(column("lead_id"), *sums).from_(source, copy=False)
        if where is not None:
            points = points.where(where, copy=False)
        self.cte("engagement_points", points.group_by(column("lead_id"), copy=False))
        return values, counts

    def worth(self, rule: EngagementRule) -> exp.Expr:
        """A match's worth at the as-of time: its allocation (the points, or for a capped
        rule what its place ``k`` leaves of the cap) times its decay. For an uncapped
        rule only the decay: the sum is multiplied by the points afterwards."""
        rate = self.model.decay_rate if rule.decays else 0.0
        factor: exp.Expr | None = None
        if rate:
            age = exp.paren(exp.Sub(this=double(self.as_of), expression=column("t")))
            exponent = exp.Mul(this=double(-rate), expression=age)
            factor = exp.Exp(
                this=exp.Greatest(this=exponent, expressions=[double(_SMALLEST_EXPONENT)])
            )
        if rule.limit is None:
            return factor if factor is not None else double(1.0)
        assert rule.cap is not None
        magnitude = abs(rule.points)
        taken = exp.Mul(this=cast(column("k"), "DOUBLE"), expression=double(magnitude))
        left = exp.Sub(this=double(rule.cap), expression=taken)
        share: exp.Expr = exp.Greatest(
            this=double(0.0), expressions=[exp.Least(this=double(magnitude), expressions=[left])]
        )
        if rule.points < 0:
            share = exp.Neg(this=exp.paren(share))
        allocation = (
            exp.Case()
            .when(
                exp.LT(this=column("k"), expression=exp.Literal.number(rule.limit)),
                share,
                copy=False,
            )
            .else_(double(0.0), copy=False)
        )
        return allocation if factor is None else exp.Mul(this=allocation, expression=factor)

    def collated(self, value: exp.Expr) -> exp.Expr:
        """Text ordered by code point, as Python orders strings (PostgreSQL orders by the
        database's collation unless told)."""
        if self.dialect == "postgres":
            return exp.Collate(this=value, expression=exp.Identifier(this="C", quoted=True))
        return value

    # ------------------------------------------------------------------ result

    def build(self) -> Compiled:
        model = self.model
        fit_columns = self.fit()
        engagement_columns: list[str] = []
        count_columns: list[str] = []
        if model.engagement_rules:
            engagement_columns, count_columns = self.engagement()

        def total(names: list[str]) -> exp.Expr:
            if not names:
                return double(0.0)
            parts = [exp.Coalesce(this=column(n), expressions=[double(0.0)]) for n in names]
            out: exp.Expr = parts[0]
            for part in parts[1:]:
                out = exp.Add(this=out, expression=part)
            return out

        totals = exp.select(
            column("lead_id", "f"),
            *(column(n, "f") for n in fit_columns),
            *(column(n, "g") for n in engagement_columns),
            *(column(n, "g") for n in count_columns),
            total(fit_columns).as_("fit_raw", quoted=True, copy=False),
            total(engagement_columns).as_("engagement_raw", quoted=True, copy=False),
        ).from_(exp.to_table("fit_points").as_("f", copy=False), copy=False)
        if model.engagement_rules:
            totals = totals.join(
                exp.to_table("engagement_points").as_("g", copy=False),
                on=column("lead_id", "f").eq(column("lead_id", "g")),
                join_type="left",
                copy=False,
            )
        self.cte("totals", totals)

        fit_raw, engagement_raw = column("fit_raw"), column("engagement_raw")
        fit_max, engagement_max = double(model.fit_max), double(model.engagement_max)
        fit = exp.Case().when(exp.GT(this=fit_raw, expression=fit_max), fit_max, copy=False)
        fit_clip = exp.Case().when(
            exp.GT(this=fit_raw, expression=fit_max),
            exp.Sub(this=fit_max, expression=fit_raw),
            copy=False,
        )
        if model.fit_min is not None:
            fit_min = double(model.fit_min)
            fit = fit.when(exp.LT(this=fit_raw, expression=fit_min), fit_min, copy=False)
            fit_clip = fit_clip.when(
                exp.LT(this=fit_raw, expression=fit_min),
                exp.Sub(this=fit_min, expression=fit_raw),
                copy=False,
            )
        over = exp.GT(this=engagement_raw, expression=engagement_max)
        engagement = (
            exp.Case().when(over, engagement_max, copy=False).else_(engagement_raw, copy=False)
        )
        engagement_clip = exp.Case().when(
            over.copy(), exp.Sub(this=engagement_max, expression=engagement_raw), copy=False
        )
        self.cte(
            "clipped",
            exp.select(
                "*",
                fit.else_(fit_raw.copy(), copy=False).as_("fit", quoted=True, copy=False),
                engagement.as_("engagement", quoted=True, copy=False),
                fit_clip.as_("fit_clip", quoted=True, copy=False),
                engagement_clip.as_("engagement_clip", quoted=True, copy=False),
            ).from_("totals", copy=False),
        )
        score = exp.Add(this=column("fit"), expression=column("engagement"))
        self.cte(
            "graded",
            exp.select(
                "*",
                score.as_("score", quoted=True, copy=False),
                self.grade().as_("grade", quoted=True, copy=False),
            ).from_("clipped", copy=False),
        )

        rules = output_names(model)
        outputs: list[exp.Expr] = [
            column("lead_id").as_("id", quoted=True, copy=False),
            column("fit"),
            column("engagement"),
            column("score"),
            column("grade"),
            self.mql(model.mql).as_("mql", quoted=True, copy=False),
        ]
        fit_rules = [r for r in rules if r.kind == "fit"]
        engagement_rules = [r for r in rules if r.kind == "engagement"]
        for name, rule in zip(fit_columns, fit_rules, strict=True):
            outputs.append(column(name).as_(rule.points, quoted=True, copy=False))
        for value, count, rule in zip(
            engagement_columns, count_columns, engagement_rules, strict=True
        ):
            assert rule.events is not None
            outputs.append(column(value).as_(rule.points, quoted=True, copy=False))
            counted = exp.Coalesce(this=column(count), expressions=[exp.Literal.number(0)])
            outputs.append(cast(counted, "BIGINT").as_(rule.events, quoted=True, copy=False))
        outputs += [column("fit_clip"), column("engagement_clip")]
        query = exp.select(*outputs).from_("graded", copy=False)
        for name, cte in self.ctes:
            query = query.with_(exp.to_identifier(name, quoted=True), as_=cte, copy=False)
        names = [*BASE_COLUMNS]
        for rule in rules:
            names.append(rule.points)
            if rule.events:
                names.append(rule.events)
        names += ["fit_clip", "engagement_clip"]
        return Compiled(self.dialect, self.as_of, unshare(query), rules, tuple(names), self.inputs)

    def grade(self) -> exp.Expr:
        g = self.model.spec.grades
        letter = exp.Case()
        for name, threshold in (("A", g.fit.A), ("B", g.fit.B), ("C", g.fit.C)):
            letter = letter.when(
                exp.GTE(this=column("fit"), expression=double(threshold)), text(name), copy=False
            )
        digit = exp.Case()
        for name, threshold in (
            ("1", g.engagement.one),
            ("2", g.engagement.two),
            ("3", g.engagement.three),
        ):
            digit = digit.when(
                exp.GTE(this=column("engagement"), expression=double(threshold)),
                text(name),
                copy=False,
            )
        return exp.DPipe(
            this=letter.else_(text("D"), copy=False),
            expression=digit.else_(text("4"), copy=False),
            safe=True,
        )

    def mql(self, when: MqlCondition) -> exp.Expr:
        parts: list[exp.Expr] = []
        for name, threshold in (
            ("score", when.score_at_least),
            ("fit", when.fit_at_least),
            ("engagement", when.engagement_at_least),
        ):
            if threshold is not None:
                parts.append(exp.GTE(this=column(name), expression=double(threshold)))
        if when.grades is not None:
            parts.append(
                exp.In(this=column("grade"), expressions=[text(g) for g in sorted(when.grades)])
            )
        if when.any_of:
            parts.append(exp.paren(exp.or_(*(exp.paren(self.mql(c)) for c in when.any_of))))
        if not parts:
            return exp.true()
        return exp.and_(*parts) if len(parts) > 1 else parts[0]


__all__ = ["CompileError", "Compiled", "Inputs", "RuleColumn", "compile_model", "output_names"]

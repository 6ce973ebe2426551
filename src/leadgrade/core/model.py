"""A scoring model: validated from YAML text, compiled into rule objects that score.

``parse_model`` is the one way in. It checks the file's shape (:mod:`.spec`), then what
needs the whole file and the workspace (unique rule ids, named lists, the compliance
lint of DESIGN §9.1), and reports every problem with the file, line and key at fault.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from leadgrade.core import conditions, lint, positions, spec
from leadgrade.core.conditions import Condition, E, SqlRender, V
from leadgrade.core.durations import format_duration

SpecT = TypeVar("SpecT", bound=BaseModel)

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int
    key: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.key}: " if self.key else ""
        label = "" if self.severity == "error" else "warning: "
        return f"{self.source}:{self.line}: {label}{where}{self.message}"


class ModelError(ValueError):
    """A model file that does not load; ``problems`` holds every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------------------- rule objects


@dataclass(frozen=True, slots=True, eq=False)
class FitRule:
    """A rule on one lead attribute; the first of its cases that holds gives its points."""

    id: str
    description: str
    field: str
    cases: tuple[tuple[Condition, float], ...]
    _outcomes: dict[object, tuple[float, str] | None] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )

    def evaluate(self, attributes: Mapping[str, object]) -> tuple[float, str] | None:
        """(points, why) when the rule holds for these attributes, else None."""
        value = attributes.get(self.field)
        key = value if type(value) is str else (type(value), value)
        try:
            return self._outcomes[key]
        except KeyError:
            outcome = self._evaluate(value)
            if len(self._outcomes) >= 65_536:
                self._outcomes.clear()
            self._outcomes[key] = outcome
            return outcome
        except TypeError:  # an unhashable value (a list attribute)
            return self._evaluate(value)

    def _evaluate(self, value: object) -> tuple[float, str] | None:
        for condition, points in self.cases:
            if condition.test(value):
                shown = "missing" if conditions.is_missing(value) else repr(value)
                return points, f"{self.field} {shown} {condition.describe()}"
        return None

    def sql(self, to: SqlRender[V, E]) -> E:
        """The rule as SQL: the points of the first case that holds, else NULL."""
        value = to.attribute(self.field)
        cases = [(condition.sql(to, value), points) for condition, points in self.cases]
        return to.first_case(cases)


@dataclass(frozen=True, slots=True, eq=False)
class EngagementRule:
    """A rule on events of some types, with property filters, points, a cap and decay.

    With a cap, events are counted in event-time order (ties broken by event id) within
    each window of ``window`` seconds since the Unix epoch (or over all time); the k-th
    event of a window adds ``allocation(k)``, so the first events take the whole cap and
    later ones add nothing, whatever order they arrived in.
    """

    index: int
    id: str
    description: str
    event_types: tuple[str, ...]
    where: tuple[tuple[str, Condition], ...]
    points: float
    cap: float | None
    window: float | None
    once: bool
    decays: bool
    limit: int | None = field(init=False)
    reason: str = field(init=False)

    def __post_init__(self) -> None:
        limit = None
        if self.cap is not None:
            # How many events share the cap; a tolerance keeps 30/10 at 3, not 4.
            limit = max(1, math.ceil(self.cap / abs(self.points) - 1e-9))
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "reason", self.describe())

    def allocation(self, position: int) -> float:
        """Points added by the event at ``position`` (0-based) in its window."""
        if self.cap is None:
            return self.points
        left = self.cap - position * abs(self.points)
        return math.copysign(max(0.0, min(abs(self.points), left)), self.points)

    def window_of(self, at: float) -> int:
        return 0 if self.window is None else math.floor(at / self.window)

    def matches(self, properties: Mapping[str, object]) -> bool:
        return all(condition.test(properties.get(name)) for name, condition in self.where)

    def sql(self, to: SqlRender[V, E]) -> E:
        """Which events feed the rule, as SQL: their type and ``where`` filters. Caps and
        decay are arithmetic on the matches (see :mod:`leadgrade.sql`)."""
        tests = [to.event_type_in(self.event_types)]
        tests += [condition.sql(to, to.event_property(name)) for name, condition in self.where]
        return to.all_of(tests)

    def describe(self) -> str:
        text = " or ".join(self.event_types)
        if self.where:
            text += " where " + " and ".join(f"{n} {c.describe()}" for n, c in self.where)
        text += f": {self.points:+g} each"
        if self.once:
            text += ", once"
        elif self.cap is not None:
            span = "in all" if self.window is None else f"per {format_duration(self.window)}"
            text += f", at most {self.cap:g} {span}"
        if not self.decays:
            text += ", no decay"
        return text


class EventDispatch:
    """The engagement rules of one event type, and which of them an event feeds.

    The answer depends only on the values of the properties the rules filter on, which
    repeat (page paths, form names), so it is remembered per combination of values."""

    __slots__ = ("_answers", "names", "rules")
    LIMIT = 65_536

    def __init__(self, rules: tuple[EngagementRule, ...]) -> None:
        self.rules = rules
        self.names = tuple(dict.fromkeys(name for rule in rules for name, _ in rule.where))
        self._answers: dict[object, tuple[EngagementRule, ...]] = {}

    def fed(self, properties: Mapping[str, object]) -> tuple[EngagementRule, ...]:
        names = self.names
        if not names:
            return self.rules
        key: object
        if len(names) == 1:  # the common case, kept free of generator overhead
            value = properties.get(names[0])
            values: tuple[object, ...] = (value,)
            # True == 1 == 1.0 as keys, yet they compare differently: key them by type.
            key = value if type(value) is str or value is None else (type(value), value)
        else:
            values = tuple(properties.get(name) for name in names)
            key = tuple(v if type(v) is str or v is None else (type(v), v) for v in values)
        try:
            return self._answers[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list property)
            return self._evaluate(values)
        answer = self._evaluate(values)
        if len(self._answers) >= self.LIMIT:
            self._answers.clear()
        self._answers[key] = answer
        return answer

    def _evaluate(self, values: tuple[object, ...]) -> tuple[EngagementRule, ...]:
        view = dict(zip(self.names, values, strict=True))
        return tuple(rule for rule in self.rules if rule.matches(view))


@dataclass(frozen=True, slots=True)
class MqlCondition:
    score_at_least: float | None = None
    fit_at_least: float | None = None
    engagement_at_least: float | None = None
    grades: frozenset[str] | None = None
    any_of: tuple[MqlCondition, ...] = ()

    def holds(self, score: float, fit: float, engagement: float, grade: str) -> bool:
        if self.score_at_least is not None and score < self.score_at_least:
            return False
        if self.fit_at_least is not None and fit < self.fit_at_least:
            return False
        if self.engagement_at_least is not None and engagement < self.engagement_at_least:
            return False
        if self.grades is not None and grade not in self.grades:
            return False
        return not self.any_of or any(c.holds(score, fit, engagement, grade) for c in self.any_of)

    def describe(self) -> str:
        parts = []
        if self.score_at_least is not None:
            parts.append(f"score ≥ {self.score_at_least:g}")
        if self.fit_at_least is not None:
            parts.append(f"fit ≥ {self.fit_at_least:g}")
        if self.engagement_at_least is not None:
            parts.append(f"engagement ≥ {self.engagement_at_least:g}")
        if self.grades is not None:
            parts.append("grade in " + ", ".join(sorted(self.grades)))
        if self.any_of:
            parts.append("(" + " or ".join(c.describe() for c in self.any_of) + ")")
        return " and ".join(parts)

    @classmethod
    def of(cls, when: spec.MqlWhen) -> MqlCondition:
        return cls(
            when.score_at_least,
            when.fit_at_least,
            when.engagement_at_least,
            frozenset(when.grades) if when.grades is not None else None,
            tuple(cls.of(w) for w in when.any or ()),
        )


FIT_LETTERS = ("A", "B", "C", "D")
ENGAGEMENT_DIGITS = ("1", "2", "3", "4")


@dataclass(frozen=True)
class AccountRule:
    """How leads roll up to accounts (``accounts`` in a model): the account's fit is its
    best contact's fit, its engagement the sum of its contacts' engagement (up to
    ``engagement_max``), graded with the model's fit letters and these engagement
    thresholds; an MQA when ``mqa`` holds and enough contacts are engaged."""

    domain_field: str
    skip_domains: frozenset[str]
    engagement_max: float
    thresholds: tuple[float, float, float]  # engagement digits 1, 2, 3
    mqa: MqlCondition | None
    contacts_at_least: int

    def engagement_digit(self, engagement: float) -> str:
        for digit, threshold in zip("123", self.thresholds, strict=True):
            if engagement >= threshold:
                return digit
        return "4"

    @classmethod
    def of(cls, parsed: spec.ModelSpec, lists: Mapping[str, Iterable[str]]) -> AccountRule:
        accounts = parsed.accounts
        assert accounts is not None
        grades = accounts.grades or parsed.grades.engagement
        skip = accounts.skip_domains_in
        return cls(
            domain_field=accounts.domain_field,
            skip_domains=frozenset(
                d.strip().lower() for d in (lists.get(skip, ()) if skip else ())
            ),
            engagement_max=accounts.engagement_max or 3 * parsed.engagement.max,
            thresholds=(grades.one, grades.two, grades.three),
            mqa=None if accounts.mqa is None else MqlCondition.of(accounts.mqa.when),
            contacts_at_least=(
                1 if accounts.mqa is None else accounts.mqa.when.contacts_at_least or 1
            ),
        )


@dataclass(frozen=True, eq=False)
class Model:
    spec: spec.ModelSpec
    source: str
    digest: str
    fit_rules: tuple[FitRule, ...]
    engagement_rules: tuple[EngagementRule, ...]
    half_life: float | None
    mql: MqlCondition
    by_event: Mapping[str, tuple[EngagementRule, ...]]
    dispatch: Mapping[str, EventDispatch]
    warnings: tuple[Problem, ...] = ()
    accounts: AccountRule | None = None

    @property
    def audience(self) -> str:
        return self.spec.audience

    @property
    def kind(self) -> Literal["employer", "candidate"]:
        return self.spec.audience_kind

    @property
    def fit_max(self) -> float:
        return self.spec.fit.max

    @property
    def fit_min(self) -> float | None:
        return self.spec.fit.min

    @property
    def engagement_max(self) -> float:
        return self.spec.engagement.max

    @property
    def expire_below(self) -> float | None:
        return self.spec.mql.expire_below

    @property
    def decay_rate(self) -> float:
        """λ in ``exp(-λ·age)``, per second; 0 without decay."""
        return 0.0 if self.half_life is None else math.log(2.0) / self.half_life

    def rules_for(self, event_type: str) -> tuple[EngagementRule, ...]:
        return self.by_event.get(event_type, ())

    def fed_by(
        self, event_type: str, properties: Mapping[str, object]
    ) -> tuple[EngagementRule, ...]:
        """The engagement rules an event of this type and these properties feeds."""
        dispatch = self.dispatch.get(event_type)
        return () if dispatch is None else dispatch.fed(properties)

    def fit_letter(self, fit: float) -> str:
        g = self.spec.grades.fit
        for letter, threshold in (("A", g.A), ("B", g.B), ("C", g.C)):
            if fit >= threshold:
                return letter
        return "D"

    def engagement_digit(self, engagement: float) -> str:
        g = self.spec.grades.engagement
        for digit, threshold in (("1", g.one), ("2", g.two), ("3", g.three)):
            if engagement >= threshold:
                return digit
        return "4"

    def grade(self, fit: float, engagement: float) -> str:
        return self.fit_letter(fit) + self.engagement_digit(engagement)

    def is_mql(self, score: float, fit: float, engagement: float, grade: str) -> bool:
        return self.mql.holds(score, fit, engagement, grade)


# ------------------------------------------------------------------------------- parsing


def parse_model(
    text: str, source: str = "<model>", lists: Mapping[str, Iterable[str]] | None = None
) -> Model:
    """The model in ``text``; raises :class:`ModelError` listing every problem."""
    model, problems = check_model(text, source, lists)
    if model is None:
        raise ModelError([p for p in problems if p.severity == "error"])
    return model


def check_model(
    text: str, source: str = "<model>", lists: Mapping[str, Iterable[str]] | None = None
) -> tuple[Model | None, list[Problem]]:
    """The model (None when it has errors) and every problem, errors and warnings."""
    try:
        located = positions.load(text)
    except positions.YamlError as exc:
        return None, [Problem(source, exc.line, "", exc.message)]
    if not isinstance(located.data, dict):
        return None, [Problem(source, 1, "", "a model file is a mapping (audience, fit, …)")]
    try:
        parsed = spec.ModelSpec.model_validate(located.data)
    except ValidationError as exc:
        return None, _shape_problems(exc, located, source)
    lists = lists or {}
    problems = _semantic_problems(parsed, located, source, lists)
    if any(p.severity == "error" for p in problems):
        return None, problems
    warnings = tuple(p for p in problems if p.severity == "warning")
    return _compile(parsed, text, source, lists, warnings), problems


def _compile(
    parsed: spec.ModelSpec,
    text: str,
    source: str,
    lists: Mapping[str, Iterable[str]],
    warnings: tuple[Problem, ...],
) -> Model:
    fit_rules = []
    for rule in parsed.fit.rules:
        cases: list[tuple[Condition, float]]
        if rule.bins is not None:
            cases = [(conditions.build(b.operands(), lists), b.points) for b in rule.bins]
        elif rule.cases is not None:
            cases = [(conditions.build(c.operands(), lists), c.points) for c in rule.cases]
        else:
            assert rule.points is not None
            cases = [(conditions.build(rule.operands(), lists), rule.points)]
        fit_rules.append(FitRule(rule.id, rule.description, rule.field, tuple(cases)))

    engagement_rules = []
    by_event: dict[str, list[EngagementRule]] = {}
    for index, erule in enumerate(parsed.engagement.rules):
        cap = abs(erule.points) if erule.once else (erule.cap.points if erule.cap else None)
        compiled = EngagementRule(
            index=index,
            id=erule.id,
            description=erule.description,
            event_types=erule.event_types,
            where=tuple(
                (name, conditions.build(ops.operands(), lists)) for name, ops in erule.where.items()
            ),
            points=erule.points,
            cap=cap,
            window=erule.cap.per if erule.cap else None,
            once=erule.once,
            decays=erule.decays,
        )
        engagement_rules.append(compiled)
        for event_type in compiled.event_types:
            by_event.setdefault(event_type, []).append(compiled)

    return Model(
        spec=parsed,
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        fit_rules=tuple(fit_rules),
        engagement_rules=tuple(engagement_rules),
        half_life=half_life_of(parsed.engagement.decay),
        mql=MqlCondition.of(parsed.mql.when),
        by_event={k: tuple(v) for k, v in by_event.items()},
        dispatch={k: EventDispatch(tuple(v)) for k, v in by_event.items()},
        warnings=warnings,
        accounts=None if parsed.accounts is None else AccountRule.of(parsed, lists),
    )


def half_life_of(decay: spec.Decay | None) -> float | None:
    """Seconds; ``lose 25% per 90d`` is ``90d · ln 2 / −ln 0.75`` ≈ 216.9 days."""
    if decay is None:
        return None
    if decay.half_life is not None:
        return decay.half_life
    assert decay.per is not None
    assert decay.lose is not None
    return decay.per * math.log(2.0) / -math.log1p(-decay.lose)


# ---------------------------------------------------------------------------- problems

_ALLOWED: dict[str, type[spec.Strict]] = {
    "": spec.ModelSpec,
    "fit": spec.FitSpec,
    "fit.rules.*": spec.FitRule,
    "fit.rules.*.bins.*": spec.Bin,
    "fit.rules.*.cases.*": spec.Case,
    "engagement": spec.EngagementSpec,
    "engagement.decay": spec.Decay,
    "engagement.rules.*": spec.EngagementRule,
    "engagement.rules.*.where.*": spec.Operators,
    "engagement.rules.*.cap": spec.Cap,
    "grades": spec.Grades,
    "grades.fit": spec.FitGrades,
    "grades.engagement": spec.EngagementGrades,
    "mql": spec.Mql,
    "mql.when": spec.MqlWhen,
    "accounts": spec.AccountsSpec,
    "accounts.grades": spec.EngagementGrades,
    "accounts.mqa": spec.Mqa,
    "accounts.mqa.when": spec.MqaWhen,
}


def _shape(path: positions.Path) -> str:
    parts = []
    for i, part in enumerate(path):
        # where.<property> and when.any.<n>.… take any name or nesting depth.
        if isinstance(part, int) or (i > 0 and path[i - 1] == "where"):
            parts.append("*")
        else:
            parts.append(str(part))
    shape = ".".join(parts)
    while ".any.*" in shape:
        shape = shape.replace(".any.*", "")
    return shape


def format_path(path: positions.Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _data_path(
    loc: tuple[int | str, ...], data: object, missing: bool
) -> tuple[positions.Path, str | None]:
    """Pydantic's error location as a path into the data; for a ``missing`` error the
    last element, the key that is not in the data, is returned apart."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif missing and i == len(loc) - 1 and isinstance(part, str):
            return tuple(path), part
        # anything else is a tag pydantic adds (a union member, a validator name)
    return tuple(path), None


def _shape_problems(exc: ValidationError, located: positions.Located, source: str) -> list[Problem]:
    grouped: dict[tuple[positions.Path, str | None], list[ErrorDetails]] = {}
    for error in exc.errors(include_url=False):
        path, missing = _data_path(error["loc"], located.data, error["type"] == "missing")
        grouped.setdefault((path, missing), []).append(error)
    problems = []
    for (path, missing), errors in grouped.items():
        line = located.line_of(path)
        if missing is not None:
            problems.append(Problem(source, line, format_path(path), f"missing key {missing!r}"))
            continue
        kinds = {e["type"] for e in errors}
        if "extra_forbidden" in kinds:
            problems.append(Problem(source, line, format_path(path), _unknown_key(path)))
            continue
        messages = []
        for error in errors:
            message = str(error["msg"]).removeprefix("Value error, ")
            if message not in messages:
                messages.append(message)
        if len(messages) > 1 and all(e["type"].endswith("_type") for e in errors):
            message = "expected text, a number or true/false"
        else:
            message = "; ".join(messages)
        problems.append(Problem(source, line, format_path(path), message[:1].lower() + message[1:]))
    return sorted(problems, key=lambda p: (p.line, p.key))


def _unknown_key(path: positions.Path) -> str:
    key = str(path[-1])
    schema = _ALLOWED.get(_shape(path[:-1]))
    if schema is None:
        return f"unknown key {key!r}"
    allowed = spec.schema_keys(schema)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (allowed here: {', '.join(allowed)})"


def _semantic_problems(
    parsed: spec.ModelSpec,
    located: positions.Located,
    source: str,
    lists: Mapping[str, Iterable[str]],
) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: positions.Path, message: str, severity: Severity = "error") -> None:
        problems.append(
            Problem(source, located.line_of(path), format_path(path), message, severity)
        )

    candidates = parsed.audience_kind == "candidate"
    seen: dict[str, positions.Path] = {}

    def check_id(rule_id: str, path: positions.Path) -> None:
        if rule_id in seen:
            first = located.line_of(seen[rule_id])
            add((*path, "id"), f"rule id {rule_id!r} is already used on line {first}")
        else:
            seen[rule_id] = path

    def check_field(name: str, path: positions.Path, what: str) -> None:
        guardrail = lint.guardrail_for(name, candidates=candidates)
        if guardrail is not None:
            audience = f" for the {parsed.audience!r} audience" if guardrail.candidates_only else ""
            add(
                path,
                f"{what} {name!r} may not score{audience}: guardrail "
                f"'protected attributes never score' ({guardrail.name}): {guardrail.why}",
            )

    def check_operands(operands: Mapping[str, object], path: positions.Path) -> None:
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
        options = operands.get("in")
        if isinstance(options, list):
            texts += [str(v) for v in options]
        if isinstance(name, str) and name in lists:
            texts += list(lists[name])
        coded = sorted({w for t in texts for w in lint.coded_words(t)})
        if coded:
            add(
                path,
                f"the rule tests for words read as age- or sex-coded ({', '.join(coded)}); "
                "check it with counsel (EEOC guidance on job-ad language)",
                "warning",
            )

    for i, rule in enumerate(parsed.fit.rules):
        path: positions.Path = ("fit", "rules", i)
        check_id(rule.id, path)
        check_field(rule.field, (*path, "field"), "the field")
        check_operands(rule.operands(), path)
        for j, case in enumerate(rule.cases or ()):
            check_operands(case.operands(), (*path, "cases", j))

    for i, erule in enumerate(parsed.engagement.rules):
        path = ("engagement", "rules", i)
        check_id(erule.id, path)
        for name, ops in erule.where.items():
            check_field(name, (*path, "where", name), "the event property")
            check_operands(ops.operands(), (*path, "where", name))

    fit_max, eng_max = parsed.fit.max, parsed.engagement.max
    fit_best = sum(max([0.0, *_rule_points(r)]) for r in parsed.fit.rules)
    if parsed.fit.rules and fit_best < parsed.grades.fit.A:
        add(
            ("grades", "fit", "A"),
            f"no lead can reach grade A: fit rules add at most {fit_best:g}",
            "warning",
        )
    if parsed.grades.fit.A > fit_max:
        add(("grades", "fit", "A"), f"above fit.max ({fit_max:g}): no lead can be an A", "warning")
    if parsed.grades.engagement.one > eng_max:
        add(
            ("grades", "engagement", "1"),
            f"above engagement.max ({eng_max:g}): no lead can be a 1",
            "warning",
        )
    when = parsed.mql.when
    if when.score_at_least is not None and when.score_at_least > fit_max + eng_max:
        add(
            ("mql", "when", "score_at_least"),
            f"above the highest possible score ({fit_max + eng_max:g}): no lead can be an MQL",
            "warning",
        )
    expire = parsed.mql.expire_below
    if expire is not None and when.score_at_least is not None and expire > when.score_at_least:
        add(
            ("mql", "expire_below"),
            "above mql.when.score_at_least: a new MQL would expire at once",
            "warning",
        )
    accounts = parsed.accounts
    if accounts is not None:
        skip = accounts.skip_domains_in
        if skip is not None and skip not in lists:
            known = ", ".join(sorted(lists)) or "none"
            add(("accounts", "skip_domains_in"), f"no named list {skip!r} (lists found: {known})")
        if parsed.audience_kind != "employer":
            add(
                ("accounts",),
                "accounts roll up employer leads; this is a candidate audience",
                "warning",
            )
        grades = accounts.grades or parsed.grades.engagement
        top = accounts.engagement_max or 3 * eng_max
        if grades.one > top:
            add(
                ("accounts", "grades", "1") if accounts.grades else ("accounts",),
                f"above the accounts' engagement_max ({top:g}): no account can be a 1",
                "warning",
            )
    return sorted(problems, key=lambda p: (p.line, p.key))


def _rule_points(rule: spec.FitRule) -> list[float]:
    if rule.bins is not None:
        return [b.points for b in rule.bins]
    if rule.cases is not None:
        return [c.points for c in rule.cases]
    return [rule.points or 0.0]


def check_yaml(
    text: str, source: str, shape: type[SpecT]
) -> tuple[SpecT | None, list[Problem], positions.Located | None]:
    """A workspace YAML file other than a model (routing, segments) read into ``shape``:
    the spec (None on errors), every shape problem with its line, and the located data
    for the caller's own checks."""
    try:
        located = positions.load(text)
    except positions.YamlError as exc:
        return None, [Problem(source, exc.line, "", exc.message)], None
    try:
        return shape.model_validate(located.data or {}), [], located
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path, missing = _data_path(error["loc"], located.data, error["type"] == "missing")
            line = located.line_of(path)
            if missing is not None:
                message = f"missing key {missing!r}"
            elif error["type"] == "extra_forbidden":
                message = "unknown key"
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                message = message[:1].lower() + message[1:]
            problem = Problem(source, line, format_path(path), message)
            if problem not in problems:
                problems.append(problem)
        return None, sorted(problems, key=lambda p: (p.line, p.key)), located

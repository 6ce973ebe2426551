"""The schema of a model file, as pydantic models.

This is the shape check only: unknown keys, types, required keys and value ranges.
Checks that need the whole file or the workspace (rule ids unique, named lists exist,
compliance) live in :mod:`leadgrade.core.model`, and the runtime objects that score are
compiled from a validated spec there too.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from leadgrade.core.conditions import OPERATORS
from leadgrade.core.durations import parse_duration, parse_percent

Scalar = str | bool | int | float
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)]
GradeCell = Annotated[str, Field(pattern=r"^[A-D][1-4]$")]


def _seconds(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("write a duration with a unit, e.g. 90d, 12h or 2w")


def _fraction(value: object) -> object:
    if isinstance(value, str):
        return parse_percent(value)
    raise ValueError("write a percentage, e.g. 25%")


Seconds = Annotated[float, BeforeValidator(_seconds)]
Fraction = Annotated[float, BeforeValidator(_fraction)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Operators(Strict):
    """Operators on one value. Several given together must all hold."""

    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    in_list: Slug | None = None
    matches: str | None = None
    between: tuple[float, float] | None = None
    at_least: float | None = None
    at_most: float | None = None
    exists: bool | None = None
    contains: Scalar | None = None
    prefix: str | None = None

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("between")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"the low end {value[0]:g} is above the high end {value[1]:g}")
        return value

    def operands(self) -> dict[str, object]:
        """The operators that were given, by their file names (``in``, not ``in_``)."""
        given = self.model_dump(by_alias=True, exclude_none=True)
        return {op: given[op] for op in OPERATORS if op in given}


def _require_operator(spec: Operators) -> None:
    if not spec.operands():
        raise ValueError(f"give one operator: {', '.join(OPERATORS)}")


class Bin(Strict):
    """One numeric bin: ``{between: [50, 199], points: 5}``."""

    between: tuple[float, float] | None = None
    at_least: float | None = None
    at_most: float | None = None
    points: float

    @model_validator(mode="after")
    def _one_range(self) -> Bin:
        if sum(x is not None for x in (self.between, self.at_least, self.at_most)) != 1:
            raise ValueError("a bin has exactly one of between, at_least, at_most")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("the low end of between is above the high end")
        return self

    def operands(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True, exclude={"points"})


class Case(Operators):
    """One case of a rule with several outcomes; the first case that holds scores."""

    points: float

    @model_validator(mode="after")
    def _has_operator(self) -> Case:
        _require_operator(self)
        return self


class FitRule(Operators):
    id: Slug
    description: str = ""
    field: Annotated[str, Field(min_length=1)]
    points: float | None = None
    bins: list[Bin] | None = Field(default=None, min_length=1)
    cases: list[Case] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> FitRule:
        outcomes = [x for x in (self.bins, self.cases) if x is not None]
        if len(outcomes) > 1:
            raise ValueError("a rule has bins or cases, not both")
        if outcomes:
            if self.operands() or self.points is not None:
                raise ValueError("a rule with bins or cases takes no operator or points of its own")
        else:
            _require_operator(self)
            if self.points is None:
                raise ValueError("give the rule's points (or bins, or cases)")
        return self


def _where_value(value: object) -> object:
    """``form: consultation`` means equals; ``form: [a, b]`` means in."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"in": value}
    return {"equals": value}


class Cap(Strict):
    points: float = Field(gt=0, description="most points the rule adds per window (a magnitude)")
    per: Seconds | None = Field(default=None, description="window length; none = over all time")


class EngagementRule(Strict):
    id: Slug
    description: str = ""
    event: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    where: dict[str, Annotated[Operators, BeforeValidator(_where_value)]] = Field(
        default_factory=dict
    )
    points: float
    cap: Cap | None = None
    once: bool = False
    decays: bool = True

    @model_validator(mode="after")
    def _check(self) -> EngagementRule:
        if self.points == 0:
            raise ValueError("points must not be zero")
        if self.once and self.cap is not None:
            raise ValueError("once: true already caps the rule at one event; drop cap or once")
        for name, operators in self.where.items():
            if not operators.operands():
                raise ValueError(f"where.{name} gives no operator")
        return self

    @property
    def event_types(self) -> tuple[str, ...]:
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)


class Decay(Strict):
    per: Seconds | None = None
    lose: Fraction | None = None
    half_life: Seconds | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Decay:
        if self.half_life is not None:
            if self.per is not None or self.lose is not None:
                raise ValueError("give either half_life, or per and lose, not both")
        elif self.per is None or self.lose is None:
            raise ValueError("give half_life (e.g. 217d), or per and lose (e.g. 90d and 25%)")
        return self


class FitSpec(Strict):
    max: float = Field(gt=0)
    min: float | None = None
    rules: list[FitRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _range(self) -> FitSpec:
        if self.min is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        return self


class EngagementSpec(Strict):
    max: float = Field(gt=0)
    decay: Decay | None = None
    rules: list[EngagementRule] = Field(default_factory=list)


class FitGrades(Strict):
    A: float
    B: float
    C: float

    @model_validator(mode="after")
    def _descending(self) -> FitGrades:
        if not self.A > self.B > self.C:
            raise ValueError("thresholds must fall from A to C (A > B > C)")
        return self


class EngagementGrades(Strict):
    one: float = Field(alias="1")
    two: float = Field(alias="2")
    three: float = Field(alias="3")

    @model_validator(mode="after")
    def _descending(self) -> EngagementGrades:
        if not self.one > self.two > self.three:
            raise ValueError("thresholds must fall from 1 to 3 (1 > 2 > 3)")
        return self


class Grades(Strict):
    fit: FitGrades
    engagement: EngagementGrades


class MqlWhen(Strict):
    """Conditions given together must all hold; ``any`` holds when one of its items does."""

    score_at_least: float | None = None
    fit_at_least: float | None = None
    engagement_at_least: float | None = None
    grades: list[GradeCell] | None = Field(default=None, min_length=1)
    any: list[MqlWhen] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _not_empty(self) -> MqlWhen:
        if not self.model_dump(exclude_none=True):
            raise ValueError(
                "give at least one of score_at_least, fit_at_least, engagement_at_least, "
                "grades, any"
            )
        return self


class Mql(Strict):
    when: MqlWhen
    expire_below: float | None = None


class MqaWhen(MqlWhen):
    """As ``mql.when``, for an account's numbers, and how many of its contacts must be
    engaged (engagement above zero)."""

    contacts_at_least: int | None = Field(default=None, ge=1)


class Mqa(Strict):
    when: MqaWhen


class AccountsSpec(Strict):
    """Employer leads roll up to their company's account, found by a domain: the
    ``domain_field`` attribute (a website or domain), else the e-mail's domain unless it is
    in the ``skip_domains_in`` list (personal mailboxes are not companies)."""

    domain_field: str = Field(default="company_domain", min_length=1)
    skip_domains_in: str | None = None
    engagement_max: float | None = Field(default=None, gt=0)
    grades: EngagementGrades | None = None
    mqa: Mqa | None = None


class ModelSpec(Strict):
    audience: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
    kind: Literal["employer", "candidate"] | None = None
    description: str = ""
    fit: FitSpec
    engagement: EngagementSpec
    grades: Grades
    mql: Mql
    accounts: AccountsSpec | None = None

    @property
    def audience_kind(self) -> Literal["employer", "candidate"]:
        """Who the audience's leads are; anything not declared an employer audience is
        treated as candidates, the stricter guardrails."""
        if self.kind is not None:
            return self.kind
        return "employer" if self.audience == "employer" else "candidate"


def schema_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def as_data(spec: BaseModel) -> dict[str, Any]:
    return spec.model_dump(by_alias=True, exclude_none=True)

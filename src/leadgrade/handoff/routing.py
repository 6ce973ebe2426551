"""``routing.yaml``: who gets an MQL, how fast they must touch it, and what sales may say
back (DESIGN §7; docs/handoff.md).

Reps and teams, ordered rules whose first match names a team (or the account's owner),
round-robin within the team skipping reps who are away or at capacity, a fallback team;
the first-touch SLA by grade, optionally in a team's business hours; the feedback reason
codes and the rejection cool-down; when placed candidates are due for re-engagement.
Routing never reads a protected attribute (DESIGN §9), as scoring never does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from leadgrade.core import lint
from leadgrade.core.conditions import Condition, build
from leadgrade.core.model import Problem, check_yaml
from leadgrade.core.spec import GradeCell, Operators, Seconds, Slug, Strict
from leadgrade.handoff.calendar import Calendar, CalendarSpec

HOUR, DAY = 3600.0, 86400.0
Name = Annotated[str, Field(min_length=1, max_length=200)]


class RepSpec(Strict):
    """A member of sales: who they are, how many open MQLs they can hold, when they're away."""

    name: Name
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    slack: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]+$", description="user id")
    capacity: int | None = Field(default=None, ge=0, description="open MQLs (mql, sal) at most")
    away: bool = False
    away_dates: list[tuple[date, date]] = Field(
        default_factory=list, description="[first day, last day] ranges, both included"
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> RepSpec:
        for first, last in self.away_dates:
            if first > last:
                raise ValueError(f"away_dates: {first} is after {last}")
        return self


class TeamSpec(Strict):
    members: list[Slug] = Field(min_length=1)
    manager: Slug | None = None
    calendar: CalendarSpec | None = None
    reassign_on_breach: bool | None = Field(
        default=None, description="overrides sla.reassign_on_breach for this team"
    )


class When(Strict):
    """What a rule matches: the audience, whether the lead's account already has an owner,
    and conditions on attributes (any other key: ``country: {in: [US, CA]}``)."""

    audience: list[Slug] | None = None
    account_has_owner: bool | None = None
    attributes: dict[str, Operators] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _attributes_inline(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        known = {"audience", "account_has_owner", "attributes"}
        inline = {k: v for k, v in value.items() if k not in known}
        out = {k: v for k, v in value.items() if k in known}
        if isinstance(out.get("audience"), str):
            out["audience"] = [out["audience"]]
        if inline:
            out["attributes"] = {**(out.get("attributes") or {}), **inline}
        return out


class RuleSpec(Strict):
    id: Slug
    when: When = Field(default_factory=When)
    team: Slug | None = None
    assign: Literal["account_owner"] | None = Field(
        default=None, description="account_owner: the rep who owns the lead's account"
    )

    @model_validator(mode="after")
    def _one_target(self) -> RuleSpec:
        if (self.team is None) == (self.assign is None):
            raise ValueError("give a team, or assign: account_owner")
        return self


def _first_touch_default() -> dict[str, float]:
    return {"A1": HOUR, "A2": HOUR, "default": DAY}


class CadenceSpec(Strict):
    touches: int = Field(default=6, ge=1, le=100)
    within: Seconds = 14 * DAY


class SlaSpec(Strict):
    first_touch: dict[GradeCell | Literal["default"], Seconds] = Field(
        default_factory=_first_touch_default
    )
    business_hours: bool = Field(
        default=False, description="count the clock in the owner's team calendar"
    )
    notify_manager: bool = True
    reassign_on_breach: bool = False
    cadence: CadenceSpec = Field(default_factory=CadenceSpec)

    def due_in(self, grade: str) -> float | None:
        return self.first_touch.get(grade, self.first_touch.get("default"))


REJECT_REASONS = [
    "not-a-fit",
    "no-budget",
    "no-authority",
    "no-need",
    "bad-timing",
    "unreachable",
    "duplicate",
    "competitor",
    "student-or-job-seeker",
    "already-in-process",
]
DISQUALIFY_REASONS = ["spam", "fake-contact", "do-not-contact", "existing-customer", "other"]


class FeedbackSpec(Strict):
    reject_reasons: list[Slug] = Field(default_factory=lambda: list(REJECT_REASONS), min_length=1)
    disqualify_reasons: list[Slug] = Field(
        default_factory=lambda: list(DISQUALIFY_REASONS), min_length=1
    )
    cooldown: Seconds = Field(
        default=30 * DAY, description="after a rejection, no MQL again before this has passed"
    )
    #: What qualifying needs, per audience: detail fields that must be present and true
    #: or non-empty (BANT for employers; applied and passed screening for candidates).
    qualify_requires: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "employer": ["budget", "authority", "need", "timeline"],
            "candidate": ["applied", "passed_screening"],
        }
    )


class ReengagementSpec(Strict):
    audience: Slug = "candidate"
    after_start: Seconds = Field(default=365 * DAY, description="after the placement starts")
    before_end: Seconds = Field(default=30 * DAY, description="before a known contract end")
    enabled: bool = True


class RoutingSpec(Strict):
    reps: dict[Slug, RepSpec] = Field(default_factory=dict)
    teams: dict[Slug, TeamSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    fallback: Slug | None = None
    sla: SlaSpec = Field(default_factory=SlaSpec)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    reengagement: ReengagementSpec = Field(default_factory=ReengagementSpec)


# ------------------------------------------------------------------------ compiled


@dataclass(frozen=True)
class Rep:
    id: str
    spec: RepSpec

    def away_on(self, day: date) -> bool:
        return self.spec.away or any(first <= day <= last for first, last in self.spec.away_dates)

    def card(self) -> dict[str, Any]:
        """The rep as messages show them: no personal data of a lead, only the rep's own
        work contacts, which notifications need to reach them."""
        return {
            "id": self.id,
            "name": self.spec.name,
            "email": self.spec.email,
            "slack": self.spec.slack,
        }


@dataclass(frozen=True)
class Team:
    id: str
    members: tuple[str, ...]
    manager: str | None
    calendar: Calendar
    zone: ZoneInfo
    reassign_on_breach: bool


@dataclass(frozen=True)
class Rule:
    id: str
    audiences: frozenset[str] | None
    account_has_owner: bool | None
    conditions: tuple[tuple[str, Condition], ...]
    team: str | None
    account_owner: bool

    def matches(
        self, audience: str, attributes: Mapping[str, Any], account_owner: str | None
    ) -> bool:
        if self.audiences is not None and audience not in self.audiences:
            return False
        if self.account_has_owner is not None and self.account_has_owner != (
            account_owner is not None
        ):
            return False
        return all(condition.test(attributes.get(field)) for field, condition in self.conditions)


@dataclass(frozen=True)
class Routing:
    """A checked ``routing.yaml``, ready to route."""

    reps: Mapping[str, Rep]
    teams: Mapping[str, Team]
    rules: tuple[Rule, ...]
    fallback: str | None
    sla: SlaSpec
    feedback: FeedbackSpec
    reengagement: ReengagementSpec
    text: str = ""

    def team_of(self, rep: str) -> str | None:
        for team in self.teams.values():
            if rep in team.members:
                return team.id
        return None

    def manager_of(self, team: str | None) -> Rep | None:
        found = self.teams.get(team or "")
        if found is None or found.manager is None:
            return None
        return self.reps.get(found.manager)

    def due_at(self, grade: str, team: str | None, start: float) -> float | None:
        """When the first touch of an MQL of ``grade`` assigned at ``start`` is due: the
        SLA's duration by grade, in the team's business hours when so configured."""
        seconds = self.sla.due_in(grade)
        if seconds is None:
            return None
        found = self.teams.get(team or "")
        if self.sla.business_hours and found is not None:
            return found.calendar.add(start, seconds)
        return start + seconds

    def today(self, team: str | None, at: float) -> date:
        found = self.teams.get(team or "")
        zone = found.zone if found is not None else ZoneInfo("UTC")
        return datetime.fromtimestamp(at, UTC).astimezone(zone).date()


EMPTY = RoutingSpec()


def check_routing(
    text: str,
    source: str = "routing.yaml",
    lists: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[Routing | None, list[Problem]]:
    """The routing (None when it has errors) and every problem, each with its line;
    ``lists`` are the workspace's named lists (``in_list`` conditions)."""
    lists = lists or {}
    parsed, problems, located = check_yaml(text, source, RoutingSpec)
    if parsed is None or located is None:
        return None, problems

    def at(*path: str | int) -> int:
        return located.line_of(tuple(path))

    def problem(path: tuple[str | int, ...], message: str) -> None:
        key = ".".join(str(p) for p in path)
        problems.append(Problem(source, at(*path), key, message))

    for team_id, team in parsed.teams.items():
        for i, member in enumerate(team.members):
            if member not in parsed.reps:
                problem(("teams", team_id, "members", i), f"no rep {member!r} in reps")
        if team.manager is not None and team.manager not in parsed.reps:
            problem(("teams", team_id, "manager"), f"no rep {team.manager!r} in reps")
    seen: set[str] = set()
    for i, rule in enumerate(parsed.rules):
        if rule.id in seen:
            problem(("rules", i, "id"), f"rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        if rule.team is not None and rule.team not in parsed.teams:
            problem(("rules", i, "team"), f"no team {rule.team!r} in teams")
        candidates = rule.when.audience is None or "candidate" in rule.when.audience
        for field in rule.when.attributes:
            guardrail = lint.guardrail_for(field, candidates=candidates)
            if guardrail is not None:
                problem(
                    ("rules", i, "when", field),
                    f"{field!r} may not route leads: {guardrail.why}",
                )
            named = rule.when.attributes[field].in_list
            if named is not None and named not in lists:
                problem(("rules", i, "when", field, "in_list"), f"no list {named!r} in lists/")
    if parsed.fallback is not None and parsed.fallback not in parsed.teams:
        problem(("fallback",), f"no team {parsed.fallback!r} in teams")
    if parsed.rules and parsed.fallback is None:
        problem(("fallback",), "name a fallback team for leads no rule matches")
    if problems:
        return None, sorted(problems, key=lambda p: (p.line, p.key))
    return compile_routing(parsed, text, lists), []


def compile_routing(
    parsed: RoutingSpec, text: str = "", lists: Mapping[str, tuple[str, ...]] | None = None
) -> Routing:
    teams = {}
    for team_id, team in parsed.teams.items():
        calendar = Calendar(team.calendar) if team.calendar is not None else Calendar.always()
        zone = ZoneInfo(team.calendar.timezone) if team.calendar is not None else ZoneInfo("UTC")
        teams[team_id] = Team(
            team_id,
            tuple(team.members),
            team.manager,
            calendar,
            zone,
            parsed.sla.reassign_on_breach
            if team.reassign_on_breach is None
            else team.reassign_on_breach,
        )
    rules = tuple(
        Rule(
            rule.id,
            None if rule.when.audience is None else frozenset(rule.when.audience),
            rule.when.account_has_owner,
            tuple(
                (f, build(ops.operands(), lists or {})) for f, ops in rule.when.attributes.items()
            ),
            rule.team,
            rule.assign == "account_owner",
        )
        for rule in parsed.rules
    )
    return Routing(
        {rep_id: Rep(rep_id, rep) for rep_id, rep in parsed.reps.items()},
        teams,
        rules,
        parsed.fallback,
        parsed.sla,
        parsed.feedback,
        parsed.reengagement,
        text,
    )


class RoutingError(Exception):
    """A routing file with errors; the message lists them, one a line."""


def load_routing(path: Path, lists: Mapping[str, tuple[str, ...]] | None = None) -> Routing:
    """``routing.yaml`` at ``path``; no file routes nobody (every default holds)."""
    if not path.is_file():
        return compile_routing(EMPTY)
    routing, problems = check_routing(path.read_text(encoding="utf-8"), str(path), lists)
    if routing is None:
        raise RoutingError("\n".join(str(p) for p in problems))
    return routing

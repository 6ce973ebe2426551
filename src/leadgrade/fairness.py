"""The fairness report (DESIGN §9.4): MQL and placement rates by self-identified group,
and each group's impact ratio against the highest-rate group (the four-fifths rule).

Self-identified demographics — what a firm collects for EEO reporting: race and
ethnicity, sex, age band, veteran and disability status — live in their own table,
``demographics``, loaded by :func:`record_demographics` (``PUT
/v1/people/{id}/demographics``) and :func:`import_demographics` (``leadgrade demographics
import``). This module and those two adapters are the only readers: no scoring code
path reads the table (``tests/test_fairness.py`` holds that), and the model lint refuses
these attributes as scoring inputs anyway.

The arithmetic (:func:`judge`, :func:`fisher_exact`) is pure; :func:`fairness_report`
counts in the store and hands the counts to it.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.batch.files import BadRow, parse_time
from leadgrade.core.attributes import attribute_name
from leadgrade.store.schema import demographics, identities, leads, people, stage_changes
from leadgrade.times import epoch, utc

__all__ = [
    "FIELDS",
    "NOT_DISCLOSED",
    "DemographicsError",
    "FairnessReport",
    "FairnessTable",
    "GroupCounts",
    "GroupFigures",
    "StepFigures",
    "Thresholds",
    "fairness_report",
    "fisher_exact",
    "import_demographics",
    "judge",
    "parse_by",
    "read_demographics",
    "record_demographics",
]

#: The fields of the usual self-identification form (EEO-1 categories), reported by
#: default; any other field is reported when asked for by name.
FIELDS = ("race_ethnicity", "sex", "age_band", "veteran", "disability")
NOT_DISCLOSED = "not disclosed"
#: Answers that mean the person chose not to say; they count as not disclosed.
DECLINED = frozenset(
    {
        "not disclosed",
        "undisclosed",
        "unknown",
        "decline",
        "declined",
        "decline to answer",
        "declined to answer",
        "decline to self-identify",
        "declined to self-identify",
        "i don't wish to answer",
        "i do not wish to answer",
        "prefer not to say",
        "prefer not to answer",
    }
)
#: Stages at or past the MQL step: a lead whose history reached one was selected as an
#: MQL (a lead moved by hand straight to ``sal`` or ``won`` was selected too).
MQL_STAGES = ("mql", "sal", "sql", "opportunity", "won")
STEPS = ("mql", "placement")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_VALUE_MAX = 100
_RESERVED = frozenset({"person_id", "email", "collected_at"})


class DemographicsError(ValueError):
    """A demographics record or file that cannot be stored; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------------ the arithmetic


@dataclass(frozen=True)
class Thresholds:
    """When a figure is judged. A group is *too small to judge* with fewer than
    ``min_group`` leads; a step is *too few to judge* for a group when it and the
    reference group together have fewer than ``min_selected`` selections; an impact ratio
    under ``impact_ratio`` is adverse (the four-fifths rule)."""

    impact_ratio: float = 0.8
    min_group: int = 30
    min_selected: int = 5

    def public(self) -> dict[str, Any]:
        return {
            "impact_ratio": self.impact_ratio,
            "min_group": self.min_group,
            "min_selected": self.min_selected,
        }


@dataclass(frozen=True)
class GroupCounts:
    """One group's leads, and how many of them became MQLs and were placed (won)."""

    group: str
    values: tuple[str | None, ...]  # the group's value of each field reported on
    leads: int
    mqls: int
    placements: int

    @property
    def disclosed(self) -> bool:
        return self.group != NOT_DISCLOSED

    def selected(self, step: str) -> int:
        return self.mqls if step == "mql" else self.placements


@dataclass(frozen=True)
class StepFigures:
    """A group's figures for one step (MQL or placement). ``status`` is ``reference``
    (the highest-rate group the others are compared with), ``adverse`` (impact ratio
    under the threshold), ``ok``, ``too small`` (the group has too few leads), ``too few
    selected``, ``no selections`` (the reference selected nobody: no ratio) or ``not
    disclosed``."""

    selected: int
    rate: float | None
    impact_ratio: float | None
    p_value: float | None
    status: str

    @property
    def adverse(self) -> bool:
        return self.status == "adverse"

    def public(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "rate": self.rate,
            "impact_ratio": self.impact_ratio,
            "p_value": self.p_value,
            "status": self.status,
            "adverse": self.adverse,
        }


@dataclass(frozen=True)
class GroupFigures:
    counts: GroupCounts
    mql: StepFigures
    placement: StepFigures

    def step(self, name: str) -> StepFigures:
        return self.mql if name == "mql" else self.placement

    def public(self, by: Sequence[str]) -> dict[str, Any]:
        return {
            "group": self.counts.group,
            "values": dict(zip(by, self.counts.values, strict=True)),
            "disclosed": self.counts.disclosed,
            "leads": self.counts.leads,
            "mql": self.mql.public(),
            "placement": self.placement.public(),
        }


def _rate(selected: int, total: int) -> float | None:
    return selected / total if total else None


def judge(
    counts: Sequence[GroupCounts], thresholds: Thresholds = Thresholds()
) -> tuple[list[GroupFigures], dict[str, str | None]]:
    """Rates, impact ratios, p-values and statuses for every group, and the reference
    group of each step. The reference is the disclosed group with the highest rate among
    those large enough to judge (among all disclosed groups when none is); the group not
    disclosed gets rates only. Ratios are compared with the threshold exactly (as
    fractions), so 0.32 / 0.4 is 0.8 and not adverse."""
    limit = Fraction(str(thresholds.impact_ratio))
    disclosed = [c for c in counts if c.disclosed and c.leads > 0]
    large = [c for c in disclosed if c.leads >= thresholds.min_group]
    figures: dict[str, dict[str, StepFigures]] = {c.group: {} for c in counts}
    references: dict[str, str | None] = {}
    for step in STEPS:
        pool = large or disclosed
        reference = max(
            pool,
            key=lambda c: (Fraction(c.selected(step), c.leads), c.leads, c.group),
            default=None,
        )
        references[step] = None if reference is None else reference.group
        for c in counts:
            selected = c.selected(step)
            rate = _rate(selected, c.leads)
            if not c.disclosed or reference is None or c.leads == 0:
                figures[c.group][step] = StepFigures(selected, rate, None, None, NOT_DISCLOSED)
                continue
            chosen = reference.selected(step)
            if chosen == 0:
                figures[c.group][step] = StepFigures(selected, rate, None, None, "no selections")
                continue
            ratio = Fraction(selected * reference.leads, c.leads * chosen)
            p_value = None
            if c is not reference:
                p_value = fisher_exact(
                    selected, c.leads - selected, chosen, reference.leads - chosen
                )
            if c.leads < thresholds.min_group:
                status = "too small"
            elif c is reference:
                status = "reference"
            elif selected + chosen < thresholds.min_selected:
                status = "too few selected"
            elif ratio < limit:
                status = "adverse"
            else:
                status = "ok"
            figures[c.group][step] = StepFigures(selected, rate, float(ratio), p_value, status)
    made = [GroupFigures(c, figures[c.group]["mql"], figures[c.group]["placement"]) for c in counts]
    return made, references


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """The two-sided p-value of Fisher's exact test on the 2×2 table ``[[a, b], [c, d]]``
    (rows: two groups; columns: selected, not selected), as R's ``fisher.test`` and
    SciPy's ``fisher_exact`` give it: the probability, with the margins fixed, of a table
    no more likely than the one seen. Exact at any size: the hypergeometric tails are
    summed from where they fall below the observed table's probability, outwards, until
    what is left cannot change the sum."""
    if min(a, b, c, d) < 0:
        raise ValueError("a 2×2 table has no negative counts")
    row, other, selected = a + b, c + d, a + c
    total = row + other
    if row == 0 or other == 0 or selected == 0 or selected == total:
        return 1.0
    low, high = max(0, selected - other), min(selected, row)

    def log_p(k: int) -> float:
        return (
            _log_choose(selected, k)
            + _log_choose(total - selected, row - k)
            - _log_choose(total, row)
        )

    # Tables as likely as the observed one (to a relative 1e-7, as R and SciPy allow)
    # count as "no more likely".
    cut = log_p(a) + math.log1p(1e-7)
    mode = min(high, max(low, (row + 1) * (selected + 1) // (total + 2)))

    def tail(start: int, stop: int, step: int) -> float:
        # Probabilities fall monotonically from the mode towards each end; the first k
        # (from the end) whose probability exceeds ``cut`` ends the tail.
        inside, outside = start, stop  # log_p(inside) <= cut (unless none is)
        if log_p(start) > cut:
            return 0.0
        # Binary search for the last k (going from ``start`` towards ``stop``) at or
        # under the cut.
        while abs(outside - inside) > 1:
            middle = (inside + outside) // 2
            if log_p(middle) <= cut:
                inside = middle
            else:
                outside = middle
        if log_p(outside) <= cut:
            inside = outside
        total_p, k = 0.0, inside
        while (k - start) * step >= 0:
            term = math.exp(log_p(k))
            total_p += term
            if term <= total_p * 1e-17:  # the rest cannot change the sum (or all underflow)
                break
            k -= step
        return total_p

    lower = tail(low, mode - 1, 1) if mode > low else 0.0
    upper = tail(high, mode, -1)
    return min(1.0, lower + upper)


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class FairnessTable:
    """The figures of one field (or one intersection of fields, such as sex by race)."""

    by: tuple[str, ...]
    groups: list[GroupFigures]
    references: dict[str, str | None]

    def public(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "reference": self.references,
            "groups": [g.public(self.by) for g in self.groups],
            "leads": sum(g.counts.leads for g in self.groups),
            "not_disclosed": sum(g.counts.leads for g in self.groups if not g.counts.disclosed),
        }


@dataclass(frozen=True)
class FairnessReport:
    audience: str
    since: float | None
    until: float | None
    generated_at: float
    thresholds: Thresholds
    tables: list[FairnessTable] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "report": "fairness",
            "audience": self.audience,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "generated_at": _iso(float(int(self.generated_at))),
            "thresholds": self.thresholds.public(),
            "tables": [t.public() for t in self.tables],
        }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else utc(seconds).isoformat().replace("+00:00", "Z")


def parse_by(text: str) -> tuple[str, ...]:
    """``sex`` is one field; ``sex,race_ethnicity`` their intersection. Raises
    DemographicsError for a name that is not a field name."""
    names = tuple(attribute_name(part) for part in text.split(",") if part.strip())
    if not names:
        raise DemographicsError("name a demographic field, e.g. sex", field="by")
    for name in names:
        if not _FIELD.match(name):
            raise DemographicsError(f"{name!r} is not a field name", field="by")
    if len(set(names)) != len(names):
        raise DemographicsError(f"{text!r} names a field twice", field="by")
    return names


def _label(values: Sequence[str | None]) -> str:
    if any(v is None or v.strip().lower() in DECLINED for v in values):
        return NOT_DISCLOSED
    return " / ".join(v for v in values if v is not None)


def fields_present(conn: sa.Connection) -> list[str]:
    """The usual fields (:data:`FIELDS`) that at least one person has a value for."""
    found = []
    for name in FIELDS:
        value = demographics.c.data[name].as_string()
        if conn.scalar(sa.select(sa.literal(1)).where(value.is_not(None)).limit(1)):
            found.append(name)
    return found


def _window(query: sa.Select[Any], since: float | None, until: float | None) -> sa.Select[Any]:
    if since is not None:
        query = query.where(leads.c.created_at >= utc(since))
    if until is not None:
        query = query.where(leads.c.created_at < utc(until))
    return query


def _reached(until: float | None) -> sa.Subquery:
    """Per lead that got there: 1 in ``mql`` when its history reached an MQL stage, 1
    in ``won`` when it reached ``won`` (before ``until``)."""
    query = (
        sa.select(
            stage_changes.c.lead_id,
            sa.literal(1).label("mql"),
            sa.func.max(sa.case((stage_changes.c.to_stage == "won", 1), else_=0)).label("won"),
        )
        .where(stage_changes.c.to_stage.in_(MQL_STAGES))
        .group_by(stage_changes.c.lead_id)
    )
    if until is not None:
        query = query.where(stage_changes.c.at < utc(until))
    return query.subquery("reached")


Raw = dict[tuple[str | None, ...], list[int]]  # field values → [leads, MQLs, placements]


def _counts(
    conn: sa.Connection,
    audience: str,
    by: Sequence[str],
    since: float | None,
    until: float | None,
) -> Raw:
    reached = _reached(until)
    # One row per lead with its group's values, then counted by group: grouping by the
    # JSON expressions themselves would repeat their (bound) paths, which PostgreSQL
    # does not recognise as the same expression.
    per_lead = _window(
        sa.select(
            *(demographics.c.data[name].as_string().label(f"v{i}") for i, name in enumerate(by)),
            sa.func.coalesce(reached.c.mql, 0).label("mql"),
            sa.func.coalesce(reached.c.won, 0).label("won"),
        )
        .select_from(leads)
        .outerjoin(reached, reached.c.lead_id == leads.c.id)
        .outerjoin(demographics, demographics.c.person_id == leads.c.person_id)
        .where(leads.c.audience == audience),
        since,
        until,
    ).subquery("per_lead")
    values = [per_lead.c[f"v{i}"] for i in range(len(by))]
    query = sa.select(
        *values,
        sa.func.count().label("leads"),
        sa.func.sum(per_lead.c.mql).label("mqls"),
        sa.func.sum(per_lead.c.won).label("won"),
    ).group_by(*values)
    raw: Raw = {}
    for row in conn.execute(query):
        key = tuple(_clean(v) for v in row[: len(by)])
        totals = raw.setdefault(key, [0, 0, 0])
        for i, number in enumerate(row[len(by) :]):
            totals[i] += int(number or 0)
    _follow_merges(conn, raw, audience, by, since, until, reached)
    return raw


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _follow_merges(
    conn: sa.Connection,
    raw: Raw,
    audience: str,
    by: Sequence[str],
    since: float | None,
    until: float | None,
    reached: sa.Subquery,
) -> None:
    """Demographics recorded for a person who was later merged into another (an
    anonymous visitor and their e-mail, say) belong to the person they were merged into,
    unless that person has their own. Their leads, counted above as not disclosed, are
    moved to the recorded group."""
    merged = conn.execute(
        sa.select(demographics.c.data, demographics.c.collected_at, people.c.merged_into)
        .join(people, people.c.id == demographics.c.person_id)
        .where(people.c.merged_into.is_not(None))
    ).all()
    if not merged:
        return
    adopted: dict[str, tuple[float, tuple[str | None, ...]]] = {}
    for data, collected_at, into in merged:
        survivor = _survivor(conn, into)
        key = tuple(_clean(data.get(name)) for name in by)
        when = epoch(collected_at)
        if survivor not in adopted or adopted[survivor][0] < when:
            adopted[survivor] = (when, key)
    own = set(
        conn.scalars(
            sa.select(demographics.c.person_id).where(demographics.c.person_id.in_(list(adopted)))
        )
    )
    chosen = {person: key for person, (_, key) in adopted.items() if person not in own}
    if not chosen:
        return
    query = (
        sa.select(
            leads.c.person_id,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(reached.c.mql), 0),
            sa.func.coalesce(sa.func.sum(reached.c.won), 0),
        )
        .select_from(leads)
        .outerjoin(reached, reached.c.lead_id == leads.c.id)
        .where(leads.c.audience == audience, leads.c.person_id.in_(list(chosen)))
        .group_by(leads.c.person_id)
    )
    unknown = tuple(None for _ in by)
    for person, *numbers in conn.execute(_window(query, since, until)):
        moved = raw.setdefault(chosen[person], [0, 0, 0])
        left = raw[unknown]
        for i, number in enumerate(numbers):
            moved[i] += int(number)
            left[i] -= int(number)
        if not any(left):
            del raw[unknown]


def _survivor(conn: sa.Connection, person: str) -> str:
    seen = {person}
    while True:
        into = conn.scalar(sa.select(people.c.merged_into).where(people.c.id == person))
        if into is None or into in seen:
            return person
        seen.add(into)
        person = into


def group_counts(raw: Raw) -> list[GroupCounts]:
    """Fold raw counts into groups (every combination with an undisclosed part is one
    group, not disclosed), largest disclosed group first, not disclosed last."""
    folded: dict[str, tuple[tuple[str | None, ...], list[int]]] = {}
    for values, numbers in raw.items():
        label = _label(values)
        shown = values if label != NOT_DISCLOSED else tuple(None for _ in values)
        entry = folded.setdefault(label, (shown, [0, 0, 0]))
        for i, number in enumerate(numbers):
            entry[1][i] += number
    made = [GroupCounts(label, shown, *numbers) for label, (shown, numbers) in folded.items()]
    return sorted(made, key=lambda c: (not c.disclosed, -c.leads, c.group))


def fairness_report(
    conn: sa.Connection,
    now: float,
    *,
    audience: str = "candidate",
    by: Iterable[Sequence[str]] | None = None,
    since: float | None = None,
    until: float | None = None,
    thresholds: Thresholds = Thresholds(),
) -> FairnessReport:
    """The report on ``audience``'s leads created in [``since``, ``until``): one table per
    entry of ``by`` (a field, or several for their intersection; default: every field of
    :data:`FIELDS` anyone has a value for). A lead counts as an MQL when its stage history
    reached ``mql`` or a later stage, and as placed when it reached ``won``, before
    ``until``."""
    fields = [tuple(b) for b in by] if by is not None else [(f,) for f in fields_present(conn)]
    tables = []
    for names in fields:
        groups, references = judge(
            group_counts(_counts(conn, audience, names, since, until)), thresholds
        )
        tables.append(FairnessTable(names, groups, references))
    return FairnessReport(audience, since, until, now, thresholds, tables)


# ----------------------------------------------------------------- storing demographics


def clean_fields(data: Mapping[str, object]) -> dict[str, str]:
    """Field names as attribute names (``Race/Ethnicity`` is ``race_ethnicity``), values
    as trimmed text; empty values are left out. Raises DemographicsError."""
    cleaned: dict[str, str] = {}
    for key, value in data.items():
        name = attribute_name(str(key))
        if not _FIELD.match(name) or name in _RESERVED:
            raise DemographicsError(f"{key!r} is not a demographic field name", field=str(key))
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise DemographicsError(f"{key!r} must be text", field=str(key))
        if isinstance(value, bool):
            value = "yes" if value else "no"
        text = " ".join(str(value).split())
        if len(text) > _VALUE_MAX:
            raise DemographicsError(
                f"{key!r} is longer than {_VALUE_MAX} characters", field=str(key)
            )
        if text:
            cleaned[name] = text
    return cleaned


def _live_person(conn: sa.Connection, person_id: str) -> str | None:
    if conn.scalar(sa.select(people.c.id).where(people.c.id == person_id)) is None:
        return None
    return _survivor(conn, person_id)


def _store(conn: sa.Connection, person_id: str, data: dict[str, str], at: float) -> None:
    values = {"data": data, "collected_at": utc(at)}
    done = conn.execute(
        sa.update(demographics).where(demographics.c.person_id == person_id).values(values)
    ).rowcount
    if not done:
        conn.execute(sa.insert(demographics).values(person_id=person_id, **values))


def record_demographics(
    conn: sa.Connection,
    person_id: str,
    data: Mapping[str, object],
    now: float,
    *,
    actor: str,
    collected_at: float | None = None,
) -> tuple[str, dict[str, str]]:
    """Replace a person's self-identified demographics (a person merged into another is
    recorded on the one they were merged into); audited with the field names only.
    Returns the person recorded and the fields stored. Raises KeyError for an unknown
    person, DemographicsError for a bad field."""
    cleaned = clean_fields(data)
    person = _live_person(conn, person_id)
    if person is None:
        raise KeyError(person_id)
    _store(conn, person, cleaned, now if collected_at is None else collected_at)
    audit.record(conn, actor, "demographics.recorded", person, {"fields": sorted(cleaned)}, now)
    return person, cleaned


@dataclass(frozen=True)
class DemographicsRow:
    line: int
    person_id: str | None
    email: str | None
    data: dict[str, str]
    collected_at: float | None


def read_demographics(path: Path) -> Iterator[DemographicsRow]:
    """The rows of a demographics CSV file: ``person_id`` or ``email``, optionally
    ``collected_at``, and any other column a field. Raises :class:`BadRow`."""
    if path.suffix.lower() != ".csv":
        raise BadRow(str(path), 0, "", "unknown file type; use .csv")
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadRow(str(path), 0, "", f"cannot be read: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise BadRow(str(path), 1, "", "is empty; the first line names the columns")
        names = [attribute_name(h) for h in header]
        if "person_id" not in names and "email" not in names:
            raise BadRow(str(path), 1, "", "needs a person_id or email column")
        for raw, name in zip(header, names, strict=True):
            if name not in _RESERVED and not _FIELD.match(name):
                raise BadRow(str(path), 1, raw, "is not a demographic field name")
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(names):
                raise BadRow(
                    str(path), number, "", f"has {len(cells)} cells; the header has {len(names)}"
                )
            row = dict(zip(names, (c.strip() for c in cells), strict=True))
            person_id, email = row.pop("person_id", "") or None, row.pop("email", "") or None
            if person_id is None and email is None:
                raise BadRow(str(path), number, "person_id", "names no person (person_id, email)")
            when = row.pop("collected_at", "")
            collected = None
            if when:
                try:
                    collected = parse_time(when)
                except ValueError as exc:
                    raise BadRow(str(path), number, "collected_at", str(exc)) from None
            try:
                data = clean_fields(row)
            except DemographicsError as exc:
                raise BadRow(str(path), number, exc.field, str(exc)) from None
            yield DemographicsRow(number, person_id, email, data, collected)


def import_demographics(
    conn: sa.Connection, path: Path, now: float, *, actor: str, skip_unknown: bool = False
) -> tuple[int, list[BadRow]]:
    """Load a demographics file in the caller's transaction: each row replaces its
    person's record. A bad row, or one naming nobody known, raises
    :class:`DemographicsError` with the file and line (nothing is stored when the caller
    rolls back); with ``skip_unknown`` rows naming nobody are skipped and returned.
    Audited as one entry with the file name and the number of people."""
    try:
        stored, skipped = _import(conn, path, now, skip_unknown)
    except BadRow as exc:  # frozen: it cannot travel through a context manager's exit
        raise DemographicsError(str(exc), field=exc.column) from None
    audit.record(
        conn,
        actor,
        "demographics.imported",
        None,
        {"file": path.name, "people": stored, "skipped": len(skipped)},
        now,
    )
    return stored, skipped


def _import(
    conn: sa.Connection, path: Path, now: float, skip_unknown: bool
) -> tuple[int, list[BadRow]]:
    stored, skipped = 0, []
    for row in read_demographics(path):
        person = None
        if row.person_id is not None:
            person = _live_person(conn, row.person_id)
        elif row.email is not None:
            found = conn.scalar(
                sa.select(identities.c.person_id).where(
                    identities.c.kind == "email", identities.c.value == row.email.lower()
                )
            )
            person = None if found is None else _survivor(conn, found)
        if person is None:
            column = "person_id" if row.person_id is not None else "email"
            bad = BadRow(str(path), row.line, column, "names no known person")
            if not skip_unknown:
                raise bad
            skipped.append(bad)
            continue
        _store(conn, person, row.data, now if row.collected_at is None else row.collected_at)
        stored += 1
    return stored, skipped

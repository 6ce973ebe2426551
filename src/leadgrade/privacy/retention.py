"""Retention: erase the people a rule says not to keep any longer (DESIGN §9).

A rule names an audience, regions and a time without activity (``[privacy] retention``
in ``leadgrade.toml``): for example EU candidates without talent-pool consent, six months
after their last event. A person some legal hold still covers (``[privacy] holds``) is
not erased by the job: they are reported as blocked, and erased once the hold is over.
People an erasure request left only for a hold are erased for good when it ends.

The job runs once a day inside ``leadgrade serve`` (a timer) and from
``leadgrade privacy retention`` for cron; each erasure is logged in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from leadgrade import audit
from leadgrade.engine import Engine
from leadgrade.privacy.erasure import UnknownPerson, erase_in, held_events, held_people
from leadgrade.settings import EU_COUNTRIES, PrivacySection, RetentionRule
from leadgrade.store.bulk import among, chunked
from leadgrade.store.schema import consents, events, leads, people
from leadgrade.times import epoch, utc


@dataclass
class RetentionRun:
    at: float
    erased: list[dict[str, Any]] = field(default_factory=list)  # person, rule
    blocked: list[dict[str, Any]] = field(default_factory=list)  # person, why
    dry_run: bool = False

    def report(self) -> dict[str, Any]:
        return {
            "at": utc(self.at).isoformat(),
            "dry_run": self.dry_run,
            "erased": self.erased,
            "blocked": self.blocked,
        }


def _regions(rule: RetentionRule) -> set[str] | None:
    if not rule.regions:
        return None
    found: set[str] = set()
    for region in rule.regions:
        found |= set(EU_COUNTRIES) if region.upper() == "EU" else {region.upper()}
    return found


def _inactive(conn: sa.Connection, rule: RetentionRule, now: float) -> list[str]:
    """People with a lead in the rule's audience and no event since the cut-off."""
    cutoff = utc(now - rule.after_inactivity)
    last = (
        sa.select(events.c.person_id, sa.func.max(events.c.occurred_at).label("last"))
        .group_by(events.c.person_id)
        .subquery()
    )
    query = (
        sa.select(people.c.id)
        .join(leads, sa.and_(leads.c.person_id == people.c.id, leads.c.audience == rule.audience))
        .outerjoin(last, last.c.person_id == people.c.id)
        .where(
            people.c.merged_into.is_(None),
            sa.func.coalesce(last.c.last, people.c.created_at) < cutoff,
        )
        .order_by(people.c.id)
    )
    return list(conn.scalars(query))


def _consented(conn: sa.Connection, persons: Iterable[str], purpose: str) -> set[str]:
    """Of these people, those whose newest consent for ``purpose`` is an opt-in."""
    newest: dict[str, tuple[float, str]] = {}
    for chunk in chunked(conn, sorted(set(persons))):
        for row in conn.execute(
            sa.select(
                consents.c.person_id, consents.c.status, consents.c.evidence, consents.c.at
            ).where(among(conn, consents.c.person_id, chunk))
        ):
            evidence = row.evidence if isinstance(row.evidence, dict) else {}
            if evidence.get("purpose") != purpose:
                continue
            at = epoch(row.at)
            if row.person_id not in newest or at >= newest[row.person_id][0]:
                newest[row.person_id] = (at, row.status)
    return {person for person, (_, status) in newest.items() if status == "opted_in"}


def _holding(conn: sa.Connection, privacy: PrivacySection, person: str, now: float) -> list[str]:
    """The reasons of the holds that cover some event of ``person`` at ``now``."""
    if not privacy.holds:
        return []
    rows = conn.execute(
        sa.select(events.c.id, events.c.type, events.c.occurred_at, events.c.properties).where(
            events.c.person_id == person
        )
    )
    return held_events(rows, privacy.holds, now)[2]


def run_in(
    conn: sa.Connection,
    engine: Engine,
    privacy: PrivacySection,
    now: float,
    *,
    actor: str = "retention",
    dry_run: bool = False,
) -> RetentionRun:
    """Apply every retention rule at ``now`` in the caller's transaction."""
    done = RetentionRun(now, dry_run=dry_run)
    seen: set[str] = set()
    for index, rule in enumerate(privacy.retention):
        regions = _regions(rule)
        inactive = [p for p in _inactive(conn, rule, now) if p not in seen]
        attributes: dict[str, Any] = {}
        for chunk in chunked(conn, inactive):
            attributes.update(
                conn.execute(
                    sa.select(people.c.id, people.c.attributes).where(
                        among(conn, people.c.id, chunk)
                    )
                ).all()
            )
        chosen = []
        for person in inactive:
            country = str((attributes.get(person) or {}).get("country") or "").strip().upper()
            if regions is None or country in regions:
                chosen.append(person)
        if rule.unless_consent is not None:
            keep = _consented(conn, chosen, rule.unless_consent)
            chosen = [p for p in chosen if p not in keep]
        label = f"retention[{index}]: {rule.audience} {','.join(rule.regions) or 'all regions'}"
        for person in chosen:
            seen.add(person)
            why = _holding(conn, privacy, person, now)
            if why:
                done.blocked.append({"person_id": person, "rule": label, "holds": why})
                continue
            done.erased.append({"person_id": person, "rule": label})
            if not dry_run:
                erase_in(conn, engine, person, now, basis="retention", source=label)
    for person in held_people(conn, now):  # an earlier request's hold is over
        if person in seen:
            continue
        done.erased.append({"person_id": person, "rule": "legal hold ended"})
        if not dry_run:
            try:
                erase_in(conn, engine, person, now, basis="request", source="hold ended")
            except UnknownPerson:
                continue
    if not dry_run:
        audit.record(
            conn,
            actor,
            "retention.run",
            None,
            {"erased": len(done.erased), "blocked": len(done.blocked)},
            now,
        )
    return done


def run(
    engine: Engine,
    privacy: PrivacySection,
    now: float,
    *,
    actor: str = "retention",
    dry_run: bool = False,
) -> RetentionRun:
    with engine.store.transaction() as conn:
        return run_in(conn, engine, privacy, now, actor=actor, dry_run=dry_run)

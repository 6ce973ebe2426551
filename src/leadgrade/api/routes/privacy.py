"""Privacy: a person's data exported, a person erased (GDPR articles 15, 17, 20)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from leadgrade import audit
from leadgrade.api.deps import AdminKey, EngineDep, NowDep
from leadgrade.privacy.erasure import UnknownPerson, erase_in, export
from leadgrade.settings import PrivacySection

router = APIRouter(tags=["privacy"])


@router.get("/v1/people/{person_id}/export")
def export_person(person_id: str, engine: EngineDep, now: NowDep, key: AdminKey) -> dict[str, Any]:
    """Everything held about a person, as JSON: profile, identities, events, leads and
    scores, stage history, assignments, touches, feedback, consent, messages, segments,
    demographics. The export is recorded in the audit log."""
    with engine.store.transaction() as conn:
        try:
            found = export(conn, person_id)
        except UnknownPerson:
            raise HTTPException(404, f"no person {person_id!r}") from None
        audit.record(conn, f"api-key:{key.name}", "person.exported", found["person_id"], {}, now)
    return found


@router.delete("/v1/people/{person_id}")
def erase_person(
    person_id: str,
    request: Request,
    engine: EngineDep,
    now: NowDep,
    key: AdminKey,
    basis: str = "request",
) -> dict[str, Any]:
    """Erase a person and everything about them, leaving a tombstone (salted hashes of
    their e-mail and phone) that refuses them if they come back and keeps them
    suppressed. Records a legal hold keeps are reported under ``held``; the erasure
    finishes when the hold ends. Recorded in the audit log."""
    privacy: PrivacySection = request.app.state.privacy
    with engine.store.transaction() as conn:
        try:
            done = erase_in(
                conn,
                engine,
                person_id,
                now,
                basis=basis[:100],
                source=f"api-key:{key.name}"[:100],
                holds=privacy.holds,
            )
        except UnknownPerson:
            raise HTTPException(404, f"no person {person_id!r}") from None
        report = done.report()
        audit.record(
            conn,
            f"api-key:{key.name}",
            "person.erased",
            done.person_id,
            {"basis": basis, **{k: report[k] for k in ("erased", "tombstones", "held")}},
            now,
        )
    return report

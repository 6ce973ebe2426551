"""A person's consent: the ledger, their status per channel, and whether they may be
contacted now (docs/compliance.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from leadgrade.api.deps import EngineDep, NowDep, ReadKey, WriteKey
from leadgrade.api.schemas import Strict
from leadgrade.privacy.consent import (
    ConsentError,
    ConsentIn,
    consent_report,
    consent_state,
    record_consent,
    records_of,
)
from leadgrade.privacy.optout import contact_rules

router = APIRouter(tags=["consent"])

EvidenceKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ConsentBody(Strict):
    """A consent change. ``id`` is its idempotency key: sending it again changes nothing."""

    id: str | None = Field(default=None, min_length=1, max_length=200)
    channel: Literal["email", "sms", "phone", "all"]
    status: Literal["opted_in", "opted_out", "objected"]
    source: str = Field(min_length=1, max_length=100, examples=["form"])
    at: AwareDatetime | None = Field(default=None, description="when it happened (default: now)")
    basis: Literal["consent", "legitimate_interest"] | None = Field(
        default=None, description="the GDPR lawful basis; an EU person's opt-in needs one"
    )
    basis_ref: str | None = Field(default=None, max_length=300)
    evidence: dict[EvidenceKey, str | int | float | bool | None] = Field(
        default_factory=dict,
        max_length=30,
        description="form, url, disclosure (its version), ip, keyword, purpose, …",
        examples=[{"form": "apply", "url": "https://jobs.firm.example/apply", "disclosure": "v3"}],
    )

    @field_validator("evidence")
    @classmethod
    def _short(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 2000:
                raise ValueError(f"evidence {key!r} is longer than 2,000 characters")
        return value

    def change(self) -> ConsentIn:
        return ConsentIn(
            channel=self.channel,
            status=self.status,
            source=self.source,
            evidence=self.evidence,
            at=None if self.at is None else self.at.timestamp(),
            basis=self.basis,
            basis_ref=self.basis_ref,
            id=self.id,
        )


def refused(exc: ConsentError) -> HTTPException:
    if exc.status == 404:
        return HTTPException(404, str(exc))
    path = "$." + exc.field if exc.field else "$"
    return HTTPException(exc.status, [{"path": path, "message": str(exc)}])


@router.get("/v1/people/{person_id}/consent")
def get_consent(person_id: str, engine: EngineDep, now: NowDep, _key: ReadKey) -> dict[str, Any]:
    """The person's consent per channel (``opted_in``, ``opted_out``, ``objected`` or
    ``unknown``), whether each channel may be used now and why, the ledger (newest
    first) and replies waiting for a human."""
    try:
        with engine.store.engine.connect() as conn:
            return consent_report(conn, contact_rules(engine), person_id, now)
    except ConsentError as exc:
        raise refused(exc) from None


@router.post("/v1/people/{person_id}/consent", status_code=status.HTTP_201_CREATED)
def post_consent(
    person_id: str,
    body: ConsentBody,
    engine: EngineDep,
    now: NowDep,
    _key: WriteKey,
    response: Response,
) -> dict[str, Any]:
    """Record a consent change with its evidence. An SMS (or ``all``) opt-in needs the
    disclosure version and where it was given; an EU person's opt-in its lawful basis.
    With an ``id``, a retry is answered 200 and changes nothing."""
    try:
        with engine.store.transaction() as conn:
            record, replayed = record_consent(conn, person_id, body.change(), now)
            state = consent_state(records_of(conn, record.person_id))
    except ConsentError as exc:
        raise refused(exc) from None
    if replayed:
        response.status_code = status.HTTP_200_OK
    return {"consent": record.to_dict(), "replayed": replayed, "channels": state.to_dict()}

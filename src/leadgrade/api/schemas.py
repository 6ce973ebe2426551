"""Request and response shapes of the REST API (one family per resource)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from leadgrade.engine import EventIn, PersonRef


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalId(Strict):
    system: str = Field(min_length=1, max_length=40, examples=["bullhorn"])
    id: str = Field(min_length=1, max_length=320)


class PersonFields(Strict):
    """How a request names its person: any of their ids."""

    person_id: str | None = Field(default=None, max_length=36)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    anonymous_id: str | None = Field(default=None, max_length=320)
    external: ExternalId | None = None

    @model_validator(mode="after")
    def _names_a_person(self) -> PersonFields:
        if not (self.person_id or self.email or self.anonymous_id or self.external):
            raise ValueError("name the person: person_id, email, anonymous_id or external")
        return self

    def ref(self) -> PersonRef:
        return PersonRef(
            self.person_id,
            self.email,
            self.anonymous_id,
            self.external.system if self.external else None,
            self.external.id if self.external else None,
        )


class EventBody(PersonFields):
    """One event. ``id`` is its idempotency key: sending it again changes nothing."""

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
        examples=["web.page_view"],
    )
    occurred_at: AwareDatetime
    audience: str | None = Field(default=None, max_length=40)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict, description="person attributes")
    channel: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)

    def to_event(self) -> EventIn:
        return EventIn(
            id=self.id,
            type=self.type,
            occurred_at=self.occurred_at.timestamp(),
            person=self.ref(),
            audience=self.audience,
            properties=self.properties,
            traits=self.traits,
            channel=self.channel,
            source=self.source,
            campaign=self.campaign,
        )


class EventBatch(Strict):
    events: list[EventBody] = Field(min_length=1, max_length=1000)


class IngestPublic(BaseModel):
    accepted: int = Field(description="events stored now")
    duplicates: int = Field(description="events already stored (replays): nothing changed")
    refused: int = Field(
        description="events naming an erased person (by e-mail or phone): not stored"
    )
    valid: int = Field(description="events in the request, all valid")


class StageMove(Strict):
    stage: str
    reason: str = Field(min_length=1, max_length=2000)
    placement_start: AwareDatetime | None = Field(
        default=None, description="moving a candidate to won: when the placement starts"
    )
    contract_end: AwareDatetime | None = Field(
        default=None, description="moving a candidate to won: when the contract ends, if known"
    )


class TouchIn(Strict):
    """A sales touch: the first since the lead's assignment stops its SLA clock."""

    id: str | None = Field(
        default=None, min_length=1, max_length=200, description="idempotency key"
    )
    kind: Literal["call", "email", "sms", "meeting"]
    at: AwareDatetime | None = Field(default=None, description="when; default now")
    actor: str | None = Field(default=None, max_length=200, description="default: the key")
    note: str | None = Field(default=None, max_length=2000)


class FeedbackIn(Strict):
    """Sales' answer on an MQL (docs/handoff.md)."""

    id: str | None = Field(
        default=None, min_length=1, max_length=200, description="idempotency key"
    )
    decision: Literal["accept", "qualify", "reject", "disqualify"]
    reason: str | None = Field(default=None, max_length=100, description="a reason code")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="qualify: BANT fields (budget, authority, need, timeline) for employer "
        "leads, applied and passed_screening for candidates; any: a note",
    )
    actor: str | None = Field(default=None, max_length=200, description="default: the key")


class AssignIn(Strict):
    owner: str | None = Field(
        default=None, max_length=200, description="a rep id; none: route the lead afresh"
    )
    reason: str = Field(default="", max_length=2000)


class LeadPublic(BaseModel):
    id: str
    person_id: str
    email: str | None
    audience: str
    fit: float
    engagement: float
    score: float
    grade: str
    mql: bool
    stage: str
    owner: str | None


class LeadPage(BaseModel):
    items: list[LeadPublic]
    next: str | None


class IdentifyBody(PersonFields):
    """Who someone is: any of their ids (an anonymous visitor named with an e-mail is
    merged into that person, and their earlier activity counts) and what we know."""

    traits: dict[str, Any] = Field(default_factory=dict)


class PersonBody(Strict):
    attributes: dict[str, Any]


class AccountPublic(BaseModel):
    id: str
    audience: str
    domain: str
    name: str | None
    fit: float = Field(description="the best contact's fit")
    engagement: float = Field(description="the contacts' engagement summed, decayed to now")
    score: float
    grade: str
    mqa: bool = Field(description="a marketing-qualified account now (accounts.mqa in the model)")
    mqa_since: float | None = Field(description="when it became an MQA (seconds since the epoch)")
    contacts: int
    engaged_contacts: int = Field(description="contacts with engagement above zero")


class AccountPage(BaseModel):
    items: list[AccountPublic]
    next: str | None


class ContactPublic(BaseModel):
    lead_id: str
    person_id: str
    email: str | None
    fit: float
    engagement: float
    stage: str


class AccountDetail(AccountPublic):
    people: list[ContactPublic]

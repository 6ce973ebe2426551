"""Greenhouse webhooks, read as leadgrade changes (docs/integrations.md).

Pure: the raw body, its headers and the receive time in; a :class:`Change` out. Greenhouse
posts ``{"action": …, "payload": {…}}``, signs the raw body (``Signature: sha256 <hex>``,
an HMAC-SHA256 with the webhook's secret key) and names each delivery in
``Greenhouse-Event-ID``, which becomes the event id ``greenhouse:<id>``: a retried
delivery changes nothing.

A candidate is the person known in the ``greenhouse`` system by their candidate id (and
by their e-mail); each of their applications is an id in ``greenhouse_application``, so
an offer, which names only its application, finds its candidate.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadgrade.core.attributes import attribute_name
from leadgrade.engine import EventIn, PersonRef
from leadgrade.integrations.apply import Change, Erase, Link, StageMove
from leadgrade.integrations.strip import protected, strip
from leadgrade.integrations.values import email, ident, moment, text, us_state
from leadgrade.settings import GreenhouseSection

logger = logging.getLogger(__name__)

SOURCE = "greenhouse"
SYSTEM = "greenhouse"  # the identity kind of candidate ids
APPLICATION = "greenhouse_application"  # the identity kind of application ids
ID_PREFIX = "greenhouse:"
EVENT_ID_HEADER = "Greenhouse-Event-ID"
SIGNATURE_HEADER = "Signature"

#: Actions carrying an application, and the event type each becomes.
APPLICATION_ACTIONS = {
    "new_candidate_application": "job.apply",
    "new_prospect_application": "ats.prospect",
    "candidate_stage_change": "ats.stage_change",
    "application_updated": "ats.application_update",
    "hire_candidate": "ats.placement_start",
    "candidate_hired": "ats.placement_start",  # an alias some accounts send
}
OFFER_ACTIONS = ("offer_created", "offer_updated")
ACTIONS = (
    *APPLICATION_ACTIONS,
    *OFFER_ACTIONS,
    "delete_candidate",
    "merge_candidate",
    "candidate_anonymized",
    "ping",
)
#: Offer statuses after which an offer no longer means the candidate is in play.
OFFER_OVER = ("rejected", "deprecated")


class WebhookError(ValueError):
    """A body leadgrade cannot read; ``where`` is the JSON path of the problem."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256 <hex>``) is the HMAC-SHA256 of the raw ``body`` with
    ``secret``, compared in constant time."""
    if not header:
        return False
    algorithm, _, given = header.strip().partition(" ")
    if algorithm.strip().lower() != "sha256" or not given.strip():
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def sign(secret: str, body: bytes) -> str:
    """The ``Signature`` header Greenhouse sends with ``body`` (for tests and tools)."""
    return "sha256 " + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def delivery_id(header: str | None, body: bytes) -> str:
    """The event id of a delivery: ``greenhouse:<Greenhouse-Event-ID>``, or a digest of
    the body when the header is missing (so an identical resend is still a replay)."""
    given = (header or "").strip()
    if given and len(given) <= 150:
        return ID_PREFIX + given
    return ID_PREFIX + "sha256:" + hashlib.sha256(given.encode() + body).hexdigest()


@dataclass(frozen=True)
class Webhook:
    """One delivery read: its action, and the change it means (None for a ping or an
    action leadgrade does not map, which is acknowledged and stores nothing)."""

    action: str
    change: Change | None


def read_webhook(
    data: object, event_id: str, settings: GreenhouseSection, received: float
) -> Webhook:
    """Read a parsed webhook body delivered as ``event_id`` at ``received``. Raises
    :class:`WebhookError` naming the path of what cannot be read."""
    if not isinstance(data, dict):
        raise WebhookError("$", "a webhook body is a JSON object")
    action = data.get("action")
    if not isinstance(action, str) or not action:
        raise WebhookError("$.action", "the action is required")
    if action == "ping":
        return Webhook(action, None)
    if action not in ACTIONS:
        logger.info("ignored the Greenhouse action %r", action)
        return Webhook(action, None)
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise WebhookError("$.payload", "an object is required")
    if action in APPLICATION_ACTIONS:
        change = _application(action, payload, event_id, settings, received)
    elif action in OFFER_ACTIONS:
        change = _offer(action, payload, event_id, settings, received)
    elif action == "merge_candidate":
        change = _merge(payload, event_id, received)
    else:
        change = _erasure(action, payload)
    return Webhook(action, change)


# ------------------------------------------------------------------ applications


def _need(container: Mapping[str, Any], key: str, where: str) -> Any:
    value = container.get(key)
    if value in (None, "", [], {}):
        raise WebhookError(f"{where}.{key}", "is required")
    return value


def _object(container: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise WebhookError(f"{where}.{key}", "an object is required")
    return value


def _application(
    action: str,
    payload: dict[str, Any],
    event_id: str,
    settings: GreenhouseSection,
    received: float,
) -> Change:
    where = "$.payload.application"
    application = _object(payload, "application", "$.payload")
    candidate = _object(application, "candidate", where)
    candidate_id = ident(_need(candidate, "id", where + ".candidate"))
    application_id = ident(application.get("id"))
    assert candidate_id is not None
    traits, stripped = candidate_traits(candidate, application)
    person = PersonRef(
        email=traits.get("email") if isinstance(traits.get("email"), str) else None,
        system=SYSTEM,
        external_id=candidate_id,
    )
    stage = application.get("current_stage")
    stage_name = text(stage.get("name")) if isinstance(stage, dict) else None
    jobs = [j for j in application.get("jobs") or [] if isinstance(j, dict)]
    job: dict[str, Any] = jobs[0] if jobs else {}
    if not job and isinstance(application.get("job"), dict):
        job = application["job"]  # deprecated by Greenhouse, still sent
    properties: dict[str, Any] = {
        "action": action,
        "application_id": application_id,
        "status": text(application.get("status")),
        "stage": stage_name,
        "prospect": bool(application.get("prospect")),
        "job_id": ident(job.get("id")) if job else None,
        "job": text(job.get("name")) if job else None,
        "source": _source(application.get("source")),
    }
    kind = APPLICATION_ACTIONS[action]
    when = {
        "new_candidate_application": application.get("applied_at"),
        "new_prospect_application": application.get("applied_at"),
    }.get(action, application.get("last_activity_at"))
    occurred = moment(when) or received
    change = Change(stripped=stripped)
    moves: list[StageMove] = []
    if kind == "ats.placement_start":
        found = application.get("offer")
        offer: dict[str, Any] = found if isinstance(found, dict) else {}
        start = moment(offer.get("starts_at")) or received
        end = _custom_date(offer.get("custom_fields"), settings.contract_end_field)
        properties |= {
            "offer_id": ident(offer.get("id")),
            "placement_start": text(offer.get("starts_at")),
            "contract_end": None if end is None else _iso_day(end),
        }
        occurred = moment(offer.get("resolved_at")) or received
        moves.append(
            StageMove(
                person,
                settings.audience,
                "won",
                event_id,
                f"Greenhouse: hired{_for(properties)}",
                placement_start=start,
                contract_end=end,
                forward_only=False,
            )
        )
    elif stage_name:
        target = _mapped(settings.stages, stage_name)
        if target is not None:
            moves.append(
                StageMove(
                    person,
                    settings.audience,
                    target,
                    event_id,
                    f"Greenhouse: stage {stage_name!r}{_for(properties)}",
                )
            )
    change.events.append(
        EventIn(
            id=event_id,
            type=kind,
            occurred_at=occurred,
            person=person,
            audience=settings.audience,
            properties={k: v for k, v in properties.items() if v is not None},
            traits=traits,
            source=properties["source"],
        )
    )
    if application_id is not None:
        change.links.append(
            Link(
                PersonRef(system=SYSTEM, external_id=candidate_id),
                APPLICATION,
                application_id,
                key=f"{event_id}:application",
                merge=True,
                occurred_at=occurred,
            )
        )
    change.moves += moves
    return change


def candidate_traits(
    candidate: Mapping[str, Any], application: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A Greenhouse candidate's attributes, and the protected fields dropped: names,
    title, company, first e-mail and phone, the state of their address (not the street
    or ZIP code), tags, the recruiter's e-mail, the job's department as ``job_category``,
    ``email_opt_out`` when Greenhouse may not e-mail them, and custom fields by key."""
    kept, stripped = strip(candidate, SOURCE, candidates=True)
    out: dict[str, Any] = {}
    for key, attribute in (
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("title", "job_title"),
        ("company", "company"),
    ):
        value = text(kept.get(key))
        if value:
            out[attribute] = value
    emails = [e for e in kept.get("email_addresses") or [] if isinstance(e, dict)]
    for entry in emails:
        found = email(entry.get("value"))
        if found:
            out["email"] = found
            break
    phones = [p for p in kept.get("phone_numbers") or [] if isinstance(p, dict)]
    if phones and text(phones[0].get("value")):
        out["phone"] = text(phones[0].get("value"))
    addresses = [a for a in kept.get("addresses") or [] if isinstance(a, dict)]
    for entry in addresses:
        state = us_state(entry.get("value"))
        if state:
            out["state"] = state
            break
    tags = [t for t in kept.get("tags") or [] if isinstance(t, str)]
    if tags:
        out["tags"] = tags
    recruiter = kept.get("recruiter")
    if isinstance(recruiter, dict) and email(recruiter.get("email")):
        out["recruiter_email"] = email(recruiter.get("email"))
    if kept.get("can_email") is False:
        out["email_opt_out"] = True  # recorded as an opt-out in the consent ledger
    jobs = [j for j in (application or {}).get("jobs") or [] if isinstance(j, dict)]
    departments = (
        [d for d in (jobs[0].get("departments") or []) if isinstance(d, dict)] if jobs else []
    )
    if departments and text(departments[0].get("name")):
        out["job_category"] = text(departments[0].get("name"))
    custom, dropped = custom_fields(kept.get("custom_fields"))
    out.update({k: v for k, v in custom.items() if k not in out})
    return out, stripped + dropped


def custom_fields(fields: Any) -> tuple[dict[str, Any], list[str]]:
    """Greenhouse custom fields (``{key: {name, type, value}}``) as attributes named by
    their key; a field is dropped when its key or its name is protected (a field keyed
    ``field_7`` but named "Date of Birth" is still a birth date). Empty values and users
    are left out; currencies and ranges keep their amounts."""
    if not isinstance(fields, dict):
        return {}, []
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for key, entry in fields.items():
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name") or "")
        if protected(str(key), SOURCE, candidates=True) or (
            name and protected(name, SOURCE, candidates=True)
        ):
            dropped.append(f"custom_fields.{key}")
            logger.info("dropped the protected field %r from %s", f"custom_fields.{key}", SOURCE)
            continue
        value = entry.get("value")
        if isinstance(value, dict):
            if entry.get("type") == "user":
                continue
            value = value.get("amount", value.get("min_value"))
        if value in (None, "", []):
            continue
        out[attribute_name(str(key)) or str(key)] = value
    return out, dropped


def _source(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return text(value.get("public_name") or value.get("name"), 200)


def _for(properties: Mapping[str, Any]) -> str:
    job, application = properties.get("job"), properties.get("application_id")
    parts = []
    if job:
        parts.append(f"for {job}")
    if application:
        parts.append(f"(application {application})")
    return (" " + " ".join(parts)) if parts else ""


def _mapped(stages: Mapping[str, str], name: str) -> str | None:
    wanted = name.strip().casefold()
    for key, stage in stages.items():
        if key.strip().casefold() == wanted:
            return stage
    return None


def _custom_date(fields: Any, key: str) -> float | None:
    if not isinstance(fields, dict):
        return None
    entry = fields.get(key)
    value = entry.get("value") if isinstance(entry, dict) else entry
    return moment(value)


def _iso_day(seconds: float) -> str:
    from leadgrade.times import utc

    return utc(seconds).date().isoformat()


# ------------------------------------------------------------------------ offers


def _offer(
    action: str,
    payload: dict[str, Any],
    event_id: str,
    settings: GreenhouseSection,
    received: float,
) -> Change:
    application_id = ident(_need(payload, "application_id", "$.payload"))
    assert application_id is not None
    person = PersonRef(system=APPLICATION, external_id=application_id)
    status = text(payload.get("offer_status"))
    start = moment(payload.get("start_date") or payload.get("starts_at"))
    _, stripped = custom_fields(payload.get("custom_fields"))
    properties = {
        "action": action,
        "offer_id": ident(payload.get("id")),
        "application_id": application_id,
        "job_id": ident(payload.get("job_id")),
        "version": payload.get("version") if isinstance(payload.get("version"), int) else None,
        "offer_status": status,
        "start_date": None if start is None else _iso_day(start),
    }
    change = Change(stripped=stripped)
    change.events.append(
        EventIn(
            id=event_id,
            type="ats.offer",
            occurred_at=moment(payload.get("resolved_at")) or received,
            person=person,
            audience=settings.audience,
            properties={k: v for k, v in properties.items() if v is not None},
        )
    )
    if settings.offer_stage and (status or "").casefold() not in OFFER_OVER:
        change.moves.append(
            StageMove(
                person,
                settings.audience,
                settings.offer_stage,
                event_id,
                f"Greenhouse: offer {status or 'made'} (application {application_id})",
            )
        )
    return change


# ------------------------------------------------------------ merges and erasures


def _merge(payload: dict[str, Any], event_id: str, received: float) -> Change:
    person = _object(payload, "person", "$.payload")
    merged = ident(_need(person, "id", "$.payload.person"))
    kept = ident(_need(person, "new_candidate_id", "$.payload.person"))
    assert merged is not None
    assert kept is not None
    return Change(
        links=[
            Link(
                PersonRef(system=SYSTEM, external_id=kept),
                SYSTEM,
                merged,
                key=event_id,
                merge=True,
                occurred_at=received,
            )
        ]
    )


def _erasure(action: str, payload: dict[str, Any]) -> Change:
    if action == "candidate_anonymized":
        candidate = ident(_need(payload, "candidate_id", "$.payload"))
        basis = "ats-anonymize"
    else:
        person = _object(payload, "person", "$.payload")
        candidate = ident(_need(person, "id", "$.payload.person"))
        basis = "ats-delete"
    assert candidate is not None
    return Change(erasures=[Erase(SYSTEM, candidate, basis)])

"""Segment's tracking spec, read as leadgrade events (docs/tracking.md).

Pure: messages in, :class:`~leadgrade.engine.EventIn` out, the receive time a parameter.
Every message becomes one event whose id is its ``messageId`` (so client retries change
nothing): ``page`` a page view, ``track`` the type its name maps to (or
``track.<event_name>``, which no rule scores), ``identify``, ``group`` and ``alias`` events
that carry the person's ids and traits, so an anonymous visitor merges into the person
they turn out to be, in the order the messages were sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from leadgrade.core.attributes import attribute_name
from leadgrade.core.lint import guardrail_for
from leadgrade.engine import EventIn, PersonRef
from leadgrade.settings import TrackingSection, TrackMapping
from leadgrade.times import epoch

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
KINDS = ("track", "page", "screen", "identify", "group", "alias")
ID_PREFIX = "segment:"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MessageError(ValueError):
    """A message leadgrade cannot read; ``where`` is its JSON path, ``code`` Segment's
    name for the problem (``invalid_request``, ``too_large``)."""

    def __init__(self, where: str, message: str, code: str = "invalid_request") -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.code = code


def _text(value: Any) -> Any:
    """Ids may be numbers (Segment's libraries send them as strings)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _object(value: Any) -> Any:
    return {} if value is None else value


Id = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=320)]
Obj = Annotated[dict[str, Any], BeforeValidator(_object)]


class Message(BaseModel):
    """The fields of a Segment message that leadgrade reads; the others are ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["track", "page", "screen", "identify", "group", "alias"]
    message_id: Annotated[str, BeforeValidator(_text)] | None = Field(
        default=None, alias="messageId", min_length=1
    )
    user_id: Id | None = Field(default=None, alias="userId")
    anonymous_id: Id | None = Field(default=None, alias="anonymousId")
    event: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    group_id: Id | None = Field(default=None, alias="groupId")
    previous_id: Id | None = Field(default=None, alias="previousId")
    properties: Obj = Field(default_factory=dict)
    traits: Obj = Field(default_factory=dict)
    context: Obj = Field(default_factory=dict)
    timestamp: datetime | None = None
    original_timestamp: datetime | None = Field(default=None, alias="originalTimestamp")
    sent_at: datetime | None = Field(default=None, alias="sentAt")

    def missing(self) -> str | None:
        """What the spec requires of this type and the message lacks."""
        if self.type == "alias":
            if not self.user_id or not self.previous_id:
                return "an alias needs userId and previousId"
            return None
        if not self.user_id and not self.anonymous_id:
            return "userId or anonymousId is required"
        if self.type == "track" and not (self.event and self.event.strip()):
            return "a track call needs its event name"
        if self.type == "group" and not self.group_id:
            return "a group call needs its groupId"
        return None


@dataclass
class Mapped:
    """A batch read: its events in order, the people whose traits it recorded (their
    leads are refitted), and how many messages of each type and unmapped name it held."""

    events: list[EventIn] = field(default_factory=list)
    refits: list[PersonRef] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, int] = field(default_factory=dict)


def read_batch(
    messages: Sequence[object],
    settings: TrackingSection,
    received: float,
    *,
    sent_at: object = None,
    context: object = None,
    kind: str | None = None,
    where: str = "$.batch",
    known_users: Mapping[str, str] | None = None,
) -> Mapped:
    """Read ``messages`` (a batch's, or one call's with ``kind`` its type) received at
    ``received``; the batch's ``sentAt`` and ``context`` apply to each. ``known_users``
    names the person of every alias ``previousId`` that is already a stored user id.
    Raises :class:`MessageError` at the first message that cannot be read."""
    batch_sent = _moment(sent_at, f"{where.rsplit('.', 1)[0]}.sentAt")
    shared = context if isinstance(context, dict) else {}
    out = Mapped()
    names = {attribute_name(name): mapping for name, mapping in settings.track_events().items()}
    for index, raw in enumerate(messages):
        at = f"{where}[{index}]" if kind is None else where
        if not isinstance(raw, dict):
            raise MessageError(at, "a message is a JSON object")
        if len(json.dumps(raw).encode()) > MAX_MESSAGE_BYTES:
            raise MessageError(at, f"over {MAX_MESSAGE_BYTES // 1024} KB", "too_large")
        data = dict(raw, type=kind) if kind is not None else raw
        try:
            message = Message.model_validate(data)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            raise MessageError(at + path, str(error["msg"]).removeprefix("Value error, ")) from None
        if (problem := message.missing()) is not None:
            raise MessageError(at, problem)
        if shared:
            message.context = {**shared, **message.context}
        occurred = _occurred(message, batch_sent, received)
        event = _event(message, raw, settings, names, occurred, known_users or {})
        out.events.append(event)
        out.kinds[message.type] = out.kinds.get(message.type, 0) + 1
        if message.type == "track" and event.type.startswith(settings.unmapped + "."):
            name = str(message.event)
            out.unmapped[name] = out.unmapped.get(name, 0) + 1
        if message.type in ("identify", "group") and event.traits:
            out.refits.append(_strongest(event.person))
    return out


# ------------------------------------------------------------------------------ time


def _moment(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        return Message.model_validate({"type": "page", "sentAt": value}).sent_at
    except ValidationError:
        raise MessageError(where, "not an ISO 8601 time") from None


def _occurred(message: Message, batch_sent: datetime | None, received: float) -> float:
    """When the message happened, on the server's clock: Segment's
    ``timestamp = receivedAt − (sentAt − timestamp)`` corrects a client's clock that is
    off; with no ``sentAt`` the timestamp stands, with no timestamp it is the receive time."""
    stamp = message.timestamp or message.original_timestamp
    if stamp is None:
        return received
    sent = message.sent_at or batch_sent
    if sent is None:
        return epoch(stamp)
    return received - (epoch(sent) - epoch(stamp))


# ------------------------------------------------------------------------- mapping


def _event(
    message: Message,
    raw: Mapping[str, object],
    settings: TrackingSection,
    names: Mapping[str, TrackMapping],
    occurred: float,
    known_users: Mapping[str, str],
) -> EventIn:
    context = message.context
    page = context.get("page")
    page = page if isinstance(page, dict) else {}
    properties = _snake(message.properties)
    traits: dict[str, object] = {}
    if message.type == "page":
        kind = settings.page
        for key in ("path", "url", "referrer", "title", "search"):
            if key not in properties and isinstance(page.get(key), str):
                properties[key] = page[key]
        url = properties.get("url")
        if "path" not in properties and isinstance(url, str):
            properties["path"] = urlsplit(url).path or "/"
    elif message.type == "screen":
        kind = settings.screen
    elif message.type == "track":
        kind = _track(str(message.event), properties, settings, names)
        context_traits = context.get("traits")
        if isinstance(context_traits, dict):
            traits = _attributes(context_traits, settings)
    elif message.type == "identify":
        kind = settings.identify
        traits = _attributes(message.traits, settings)
    elif message.type == "group":
        kind = settings.group
        properties = {"group_id": message.group_id}
        traits = _company(message.traits, str(message.group_id), settings)
    else:
        kind = settings.alias
        properties = {"previous_id": message.previous_id}
    if message.type in ("page", "screen"):
        for key in ("name", "category"):
            value = getattr(message, key)
            if value and key not in properties:
                properties[key] = value
    if "path" not in properties and isinstance(page.get("path"), str):
        properties["path"] = page["path"]  # so the [events] rules can route by the page
    channel, source, campaign = _campaign(context, properties)
    return EventIn(
        id=_event_id(message, raw),
        type=kind,
        occurred_at=occurred,
        person=_person(message, settings, known_users),
        properties=properties,
        traits=traits,
        channel=channel,
        source=source,
        campaign=campaign,
    )


def _track(
    name: str,
    properties: dict[str, object],
    settings: TrackingSection,
    names: Mapping[str, TrackMapping],
) -> str:
    """The type of a track event by its name (``Form Submitted``, ``form_submitted`` and
    ``formSubmitted`` are one name), its properties completed in place: the mapping's
    fixed properties, ``event_name``, and for a form, ``form`` as rules name forms."""
    mapping = names.get(attribute_name(name))
    if mapping is None:
        kind = f"{settings.unmapped}.{attribute_name(name) or 'unnamed'}"[:100].rstrip("_")
    else:
        kind = mapping.type
        properties.update(mapping.properties)
    properties["event_name"] = name
    if kind == "form.submit":
        form = next(
            (properties[k] for k in ("form", "form_name", "form_id") if properties.get(k)), None
        )
        if isinstance(form, str) and attribute_name(form):
            properties["form"] = attribute_name(form)
    return kind


def _event_id(message: Message, raw: Mapping[str, object]) -> str:
    """``segment:<messageId>``; a long id, or none, is replaced by a digest (of the
    message itself when it has no id, so a resent copy is still the same event)."""
    if message.message_id and len(message.message_id) <= 150:
        return ID_PREFIX + message.message_id
    basis = message.message_id or json.dumps(
        {k: v for k, v in raw.items() if k not in ("sentAt", "writeKey")},
        sort_keys=True,
        default=str,
    )
    return ID_PREFIX + "sha256:" + hashlib.sha256(basis.encode()).hexdigest()


def _email(message: Message) -> str | None:
    candidates: list[object] = [message.traits.get("email"), message.properties.get("email")]
    context_traits = message.context.get("traits")
    if isinstance(context_traits, dict):
        candidates.append(context_traits.get("email"))
    candidates.append(message.user_id)  # some sites identify people by their e-mail
    for value in candidates:
        if isinstance(value, str) and len(value) <= 320 and _EMAIL.match(value.strip()):
            return value.strip()
    return None


def _person(
    message: Message, settings: TrackingSection, known_users: Mapping[str, str]
) -> PersonRef:
    if message.type == "alias":
        previous = str(message.previous_id)
        return PersonRef(
            person_id=known_users.get(previous),
            anonymous_id=None if previous in known_users else previous,
            system=settings.system,
            external_id=message.user_id,
        )
    return PersonRef(
        email=_email(message),
        anonymous_id=message.anonymous_id,
        system=settings.system if message.user_id else None,
        external_id=message.user_id,
    )


def _strongest(person: PersonRef) -> PersonRef:
    if person.person_id:
        return PersonRef(person_id=person.person_id)
    if person.external_id:
        return PersonRef(system=person.system, external_id=person.external_id)
    if person.email:
        return PersonRef(email=person.email)
    return PersonRef(anonymous_id=person.anonymous_id)


def _snake(values: Mapping[str, object]) -> dict[str, object]:
    """Property names as rules name them: ``assetType`` is ``asset_type``."""
    return {attribute_name(key) or key: value for key, value in values.items()}


def _campaign(
    context: Mapping[str, object], properties: Mapping[str, object]
) -> tuple[str | None, str | None, str | None]:
    """UTM fields as channel (medium), source and campaign (name): from
    ``context.campaign``, else from the page URL's query."""
    found = context.get("campaign")
    utm: dict[str, object] = dict(found) if isinstance(found, dict) else {}
    if not utm:
        query = properties.get("search") or urlsplit(str(properties.get("url") or "")).query
        for key, values in parse_qs(str(query).lstrip("?")).items():
            if key.startswith("utm_") and values:
                utm["name" if key == "utm_campaign" else key[4:]] = values[0]

    def text(key: str) -> str | None:
        value = utm.get(key)
        return str(value)[:200] if value not in (None, "") else None

    return text("medium"), text("source"), text("name")


def _attributes(traits: Mapping[str, object], settings: TrackingSection) -> dict[str, object]:
    """Traits as person attributes: snake_case names, Segment's reserved names renamed
    (``title`` is ``job_title``), ``company`` and ``address`` objects spread out, and
    protected attributes dropped (DESIGN §9.1: only the field name is logged)."""
    renamed = settings.trait_names()
    out: dict[str, object] = {}
    for key, value in traits.items():
        name = attribute_name(key) or key
        if name == "company" and isinstance(value, dict):
            for part, attribute in (
                ("name", "company"),
                ("id", "account_id"),
                ("industry", "industry"),
                ("employee_count", "company_size"),
                ("plan", "company_plan"),
            ):
                inner = {attribute_name(k): v for k, v in value.items()}
                if inner.get(part) is not None:
                    out[attribute] = inner[part]
            continue
        if name == "address" and isinstance(value, dict):
            for part, inner_value in value.items():
                out[attribute_name(part) or part] = inner_value
            continue
        out[renamed.get(name, name)] = value
    email = out.get("email")
    if isinstance(email, str):
        out["email"] = email.strip().lower()  # as the engine keeps e-mail identities
    return _allowed(out)


def _company(
    traits: Mapping[str, object], group_id: str, settings: TrackingSection
) -> dict[str, object]:
    """A group call names the person's employer: ``company`` (its name), ``company_domain``
    (the host of its website, lower-case, without ``www.``), ``account_id`` (the groupId),
    ``industry`` and ``company_size``; its other traits as ``company_<trait>``."""
    out: dict[str, object] = {"account_id": group_id}
    for key, value in traits.items():
        name = attribute_name(key) or key
        if name == "name":
            out["company"] = value
        elif name in ("website", "domain"):
            domain = _domain(value)
            if domain:
                out.setdefault("company_domain", domain)
        elif name == "industry":
            out["industry"] = value
        elif name in ("employees", "employee_count"):
            out["company_size"] = value
        elif name not in ("id", "group_id"):
            out[f"company_{name}"] = value
    return _allowed(out)


def _domain(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    host = urlsplit(text if "//" in text else "//" + text).hostname or ""
    host = host.lower().removeprefix("www.")
    return host or None


def _allowed(attributes: dict[str, object]) -> dict[str, object]:
    kept = {}
    for name, value in attributes.items():
        if guardrail_for(name, candidates=False) is not None:
            logger.info("dropped the protected trait %r", name)
            continue
        kept[name] = value
    return kept

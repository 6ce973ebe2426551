"""Bullhorn's event subscription, polled (docs/integrations.md).

Bullhorn has no webhooks for this: a REST *event subscription* collects entity events
(``INSERTED``, ``UPDATED``, ``DELETED``) which the poller fetches in batches
(``{"requestId": n, "events": [{eventId, entityName, entityId, entityEventType,
eventTimestamp, updatedProperties}]}``). Each changed entity is then fetched
(``GET entity/{name}/{id}`` → ``{"data": {…}}``) and read as a change:

- a **Candidate** is a person in the candidate audience (identity ``bullhorn`` / id), a
  **ClientContact** one in the employer audience (``bullhorn_contact`` / id), with their
  **ClientCorporation**'s facts (domain, industry, size);
- a **JobSubmission** moves the candidate to the stage its status maps to, a
  **Placement** to ``won`` with its ``dateBegin`` and ``dateEnd`` (re-engagement is
  scheduled from them); a **JobOrder** is an event on the contact who gave it;
- a deleted Candidate or ClientContact is erased.

**Acknowledgement.** Bullhorn forgets a batch once the next one is fetched, and purges
unconsumed events after 7 days. The poller records the batch's ``requestId`` before it
applies anything and moves on only after every event of the batch is stored; a poller
that dies in between fetches the same batch again by its ``requestId`` on restart (or
finds it through ``lastRequestId``), and applies it again — which changes nothing that
was already stored (event ids ``bullhorn:<eventId>`` are idempotency keys; stage moves
carry their event id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import sqlalchemy as sa

from leadgrade.engine import Engine, EventIn, PersonRef
from leadgrade.integrations import state
from leadgrade.integrations.apply import Applier, Change, Erase, Outcome, StageMove
from leadgrade.integrations.strip import strip
from leadgrade.integrations.values import email, ident, moment, text
from leadgrade.settings import BullhornSection, HoldRule
from leadgrade.store.schema import identities

logger = logging.getLogger(__name__)

SOURCE = "bullhorn"
CANDIDATE = "bullhorn"  # the identity kind of Candidate ids
CONTACT = "bullhorn_contact"  # the identity kind of ClientContact ids
ID_PREFIX = "bullhorn:"
ENTITIES = (
    "Candidate",
    "ClientContact",
    "ClientCorporation",
    "JobOrder",
    "JobSubmission",
    "Placement",
)
#: The fields fetched of each entity (``[integrations.bullhorn] fields`` adds to the
#: Candidate's and ClientContact's). Protected fields are not asked for, and are dropped
#: if a tenant's setup sends them anyway.
FIELDS = {
    "Candidate": (
        "id,firstName,lastName,email,mobile,phone,occupation,companyName,address,status,"
        "source,skillSet,category,owner,massMailOptOut,smsOptIn,isDeleted,isAnonymized"
    ),
    "ClientContact": (
        "id,firstName,lastName,email,phone,mobile,occupation,clientCorporation,address,"
        "status,massMailOptOut,owner,isDeleted,isAnonymized"
    ),
    "ClientCorporation": "id,name,companyURL,industryList,numEmployees,status,address",
    "JobOrder": "id,title,status,employmentType,numOpenings,clientContact,clientCorporation",
    "JobSubmission": "id,candidate,jobOrder,status,source,dateAdded",
    "Placement": "id,candidate,jobOrder,status,employmentType,dateBegin,dateEnd",
}
#: Changes to these Placement fields re-place the candidate (new dates, new status).
PLACEMENT_FIELDS = frozenset({"status", "dateBegin", "dateEnd"})
#: A JobSubmission in this status is a candidate's own application (a web response).
WEB_RESPONSE = "New Lead"


class BullhornError(RuntimeError):
    """Bullhorn refused or failed a call; the message says which and why."""


# ----------------------------------------------------------------------- the client


class BullhornClient:
    """Bullhorn's REST API: OAuth (the authorization code from a username and password,
    then access and refresh tokens), ``/login`` for a ``BhRestToken`` and the ``restUrl``
    of the firm's data centre, and the calls the poller needs. A session that expired
    (401) is renewed once per call, with the refresh token if there is one."""

    def __init__(
        self, settings: BullhornSection, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = httpx.Client(transport=transport, timeout=settings.timeout)
        self.rest_url: str | None = None
        self.token: str | None = None
        self.refresh_token: str | None = None

    def close(self) -> None:
        self.http.close()

    # -- authentication

    def _credentials(self) -> tuple[str, str, str, str]:
        s = self.settings
        missing = [
            name
            for name, value in (
                ("client_id", s.client_id),
                ("client_secret", s.client_secret),
                ("username", s.username),
                ("password", s.password),
            )
            if not value
        ]
        if missing:
            raise BullhornError(
                "Bullhorn is not configured: set [integrations.bullhorn] "
                + ", ".join(missing)
                + " (or LEADGRADE_BULLHORN_<KEY>)"
            )
        assert s.client_id
        assert s.client_secret
        assert s.username
        assert s.password
        return s.client_id, s.client_secret, s.username, s.password

    def login(self) -> None:
        """A new session: a refresh token if we hold one, else the authorization code."""
        client_id, client_secret, username, password = self._credentials()
        auth = self.settings.auth_url.rstrip("/")
        access = None
        if self.refresh_token:
            answer = self.http.post(
                f"{auth}/oauth/token",
                params={
                    "grant_type": "refresh_token",
                    "refresh_token": self.refresh_token,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
            )
            self.refresh_token = None
            if answer.status_code == 200:
                access = self._tokens(answer)
        if access is None:
            answer = self.http.get(
                f"{auth}/oauth/authorize",
                params={
                    "client_id": client_id,
                    "response_type": "code",
                    "action": "Login",
                    "username": username,
                    "password": password,
                },
            )
            location = answer.headers.get("location", "")
            code = parse_qs(urlsplit(location).query).get("code", [None])[0]
            if answer.status_code not in (301, 302, 303, 307) or not code:
                raise BullhornError(
                    "Bullhorn refused the login: check [integrations.bullhorn] client_id, "
                    f"username and password (authorize answered {answer.status_code})"
                )
            answer = self.http.post(
                f"{auth}/oauth/token",
                params={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
            )
            if answer.status_code != 200:
                raise BullhornError(
                    f"Bullhorn refused the OAuth token ({answer.status_code}): check "
                    "[integrations.bullhorn] client_secret"
                )
            access = self._tokens(answer)
        answer = self.http.post(
            f"{self.settings.login_url.rstrip('/')}/login",
            params={"version": "*", "access_token": access},
        )
        data = _json(answer)
        if answer.status_code != 200 or not isinstance(data, dict) or "BhRestToken" not in data:
            raise BullhornError(
                f"Bullhorn's /login answered {answer.status_code}: {_message(data)}"
            )
        self.token = str(data["BhRestToken"])
        self.rest_url = str(data["restUrl"]).rstrip("/") + "/"

    def _tokens(self, answer: httpx.Response) -> str:
        data = _json(answer)
        if not isinstance(data, dict) or not data.get("access_token"):
            raise BullhornError("Bullhorn's OAuth server sent no access token")
        refresh = data.get("refresh_token")
        self.refresh_token = str(refresh) if refresh else None
        return str(data["access_token"])

    def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """``method`` on ``restUrl`` + ``path`` with the session's ``BhRestToken``; logs in
        first if needed and again once if the session expired."""
        for attempt in (1, 2):
            if self.token is None or self.rest_url is None:
                self.login()
            assert self.rest_url is not None
            assert self.token is not None
            answer = self.http.request(
                method,
                self.rest_url + path,
                params=dict(params or {}),
                headers={"BhRestToken": self.token},
            )
            if answer.status_code == 401 and attempt == 1:
                self.token = None  # timed out: a new session, then the same call again
                continue
            return answer
        raise AssertionError("unreachable")

    # -- the event subscription

    def subscribe(self, name: str, entities: Sequence[str] = ENTITIES) -> int:
        """Create (or re-create) the subscription; returns its ``lastRequestId``."""
        answer = self.call(
            "PUT",
            f"event/subscription/{name}",
            {
                "type": "entity",
                "names": ",".join(entities),
                "eventTypes": "INSERTED,UPDATED,DELETED",
            },
        )
        data = self._expect(answer, f"creating the event subscription {name!r}")
        return int(data.get("lastRequestId") or 0)

    def last_request_id(self, name: str) -> int:
        answer = self.call("GET", f"event/subscription/{name}/lastRequestId")
        data = self._expect(answer, "asking for the subscription's lastRequestId")
        return int(data.get("result") or 0)

    def batch(
        self, name: str, max_events: int, request_id: int | None = None
    ) -> dict[str, Any] | None:
        """The next batch of events (None when none are waiting), or with ``request_id``
        the batch fetched under it before (Bullhorn keeps it for this)."""
        params: dict[str, Any] = {"maxEvents": max_events}
        if request_id is not None:
            params["requestId"] = request_id
        answer = self.call("GET", f"event/subscription/{name}", params)
        if answer.status_code == 200 and not answer.content.strip():
            return None
        if request_id is not None and answer.status_code == 404:
            return None  # purged (Bullhorn keeps events 7 days)
        data = self._expect(answer, "fetching events")
        events = data.get("events")
        if not isinstance(events, list):
            raise BullhornError("Bullhorn sent a batch without its events")
        return data

    def entity(self, name: str, entity_id: str, fields: str) -> dict[str, Any] | None:
        """``GET entity/{name}/{id}``'s ``data``; None when the entity is gone (404)."""
        answer = self.call("GET", f"entity/{name}/{entity_id}", {"fields": fields})
        if answer.status_code == 404:
            return None
        data = self._expect(answer, f"fetching {name} {entity_id}").get("data")
        if not isinstance(data, dict):
            raise BullhornError(f"Bullhorn sent {name} {entity_id} without its data")
        return data

    def association(self, name: str, entity_id: str, to_many: str) -> list[str]:
        """The ids of a to-many association (``ClientCorporation/{id}/clientContacts``)."""
        answer = self.call(
            "GET", f"entity/{name}/{entity_id}/{to_many}", {"fields": "id", "count": 500}
        )
        if answer.status_code == 404:
            return []
        data = self._expect(answer, f"fetching the {to_many} of {name} {entity_id}").get("data")
        items = data if isinstance(data, list) else []
        return [
            found for item in items if isinstance(item, dict) and (found := ident(item.get("id")))
        ]

    def _expect(self, answer: httpx.Response, doing: str) -> dict[str, Any]:
        data = _json(answer)
        if answer.status_code != 200 or not isinstance(data, dict):
            raise BullhornError(f"Bullhorn failed {doing}: {answer.status_code} {_message(data)}")
        return data


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("errorMessage") or data.get("error") or data)[:300]
    return "(no JSON body)"


# ---------------------------------------------------------------------- the mapping


def _id_of(value: Any) -> str | None:
    return ident(value.get("id")) if isinstance(value, dict) else None


def candidate_traits(
    data: Mapping[str, Any], extra: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """A Candidate's attributes, and the protected fields dropped (``dateOfBirth``,
    ``gender``, ``ethnicity``, ``veteran``, ``disability``, ``maritalStatus``, ``ssn``,
    ``workAuthorized``…). The address gives city, state and country, not the street or
    ZIP code (a proxy for race and national origin for candidates)."""
    kept, dropped = strip(data, SOURCE, candidates=True)
    address = kept.get("address")
    if isinstance(address, dict):
        inner, more = strip(address, SOURCE, candidates=True, where="address.")
        dropped += more
    else:
        inner = {}
    out: dict[str, Any] = {}
    for key, attribute in (
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("occupation", "job_title"),
        ("companyName", "company"),
        ("status", "bullhorn_status"),
        ("skillSet", "skills"),
        ("source", "lead_source"),
    ):
        value = text(kept.get(key), 2000)
        if value:
            out[attribute] = value
    found = email(kept.get("email"))
    if found:
        out["email"] = found
    phone = text(kept.get("mobile")) or text(kept.get("phone"))
    if phone:
        out["phone"] = phone
    for key in ("city", "state"):
        if text(inner.get(key)):
            out[key] = text(inner.get(key))
    category = kept.get("category")
    if isinstance(category, dict) and text(category.get("name")):
        out["job_category"] = text(category.get("name"))
    if kept.get("massMailOptOut") is True:
        out["email_opt_out"] = True
    out |= _extra(kept, extra)
    return out, dropped


def contact_traits(
    data: Mapping[str, Any], corporation: Mapping[str, Any] | None, extra: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """A ClientContact's attributes, with their company's (domain, industry, size)."""
    kept, dropped = strip(data, SOURCE, candidates=False)
    out: dict[str, Any] = {}
    for key, attribute in (
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("occupation", "job_title"),
        ("status", "bullhorn_status"),
    ):
        value = text(kept.get(key))
        if value:
            out[attribute] = value
    found = email(kept.get("email"))
    if found:
        out["email"] = found
    phone = text(kept.get("phone")) or text(kept.get("mobile"))
    if phone:
        out["phone"] = phone
    address = kept.get("address")
    if isinstance(address, dict):
        for key in ("city", "state"):
            if text(address.get(key)):
                out[key] = text(address.get(key))
    company = kept.get("clientCorporation")
    if isinstance(company, dict) and text(company.get("name")):
        out["company"] = text(company.get("name"))
    if corporation:
        out |= company_traits(corporation)[0]
    if kept.get("massMailOptOut") is True:
        out["email_opt_out"] = True
    out |= _extra(kept, extra)
    return out, dropped


def company_traits(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    kept, dropped = strip(data, SOURCE, candidates=False)
    out: dict[str, Any] = {}
    if text(kept.get("name")):
        out["company"] = text(kept.get("name"))
    url = text(kept.get("companyURL"))
    if url:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
        if host:
            out["company_domain"] = host.lower().removeprefix("www.")
    if text(kept.get("industryList")):
        out["industry"] = text(kept.get("industryList"))
    size = kept.get("numEmployees")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        out["company_size"] = size
    out["bullhorn_company_id"] = ident(kept.get("id"))
    return {k: v for k, v in out.items() if v is not None}, dropped


def _extra(kept: Mapping[str, Any], extra: Mapping[str, str]) -> dict[str, Any]:
    """``[integrations.bullhorn] fields``: more fields, by the attribute names given."""
    out = {}
    for name, attribute in extra.items():
        value = kept.get(name)
        if value not in (None, "") and not isinstance(value, dict | list):
            out[attribute] = value
    return out


@dataclass(frozen=True)
class Fetched:
    """What the poller fetched for one event: the entity (None when it is gone), and for
    a ClientContact its corporation, for a ClientCorporation its contacts we know."""

    entity: dict[str, Any] | None
    corporation: dict[str, Any] | None = None
    contacts: tuple[str, ...] = field(default_factory=tuple)


def read_event(event: Mapping[str, Any], fetched: Fetched, settings: BullhornSection) -> Change:
    """One subscription event, with what was fetched for it, as a change."""
    name = str(event.get("entityName") or "")
    entity_id = ident(event.get("entityId"))
    kind = str(event.get("entityEventType") or "")
    event_id = ID_PREFIX + str(event.get("eventId") or f"{name}:{entity_id}:{kind}")
    occurred = moment(event.get("eventTimestamp")) or time.time()
    updated = [str(p) for p in event.get("updatedProperties") or [] if isinstance(p, str)]
    change = Change()
    if entity_id is None:
        change.notes.append(f"{event_id}: no entityId")
        return change
    if kind == "DELETED":
        if name in ("Candidate", "ClientContact"):
            system = CANDIDATE if name == "Candidate" else CONTACT
            change.erasures.append(Erase(system, entity_id, "ats-delete"))
        return change
    data = fetched.entity
    if data is None:
        change.notes.append(f"{event_id}: {name} {entity_id} was gone before it was fetched")
        return change
    common: dict[str, Any] = {"entity": name, "entity_id": entity_id, "event": kind.lower()}
    if updated:
        common["updated"] = updated[:50]
    if name in ("Candidate", "ClientContact") and data.get("isAnonymized") is True:
        system = CANDIDATE if name == "Candidate" else CONTACT
        change.erasures.append(Erase(system, entity_id, "ats-anonymize"))
        return change
    if name == "Candidate":
        traits, change.stripped = candidate_traits(data, settings.fields)
        change.events.append(
            EventIn(
                event_id,
                "ats.candidate_created" if kind == "INSERTED" else "ats.candidate_updated",
                occurred,
                _person(CANDIDATE, entity_id, traits),
                audience=settings.candidate_audience,
                properties=common,
                traits=traits,
            )
        )
    elif name == "ClientContact":
        traits, change.stripped = contact_traits(data, fetched.corporation, settings.fields)
        change.events.append(
            EventIn(
                event_id,
                "ats.contact_created" if kind == "INSERTED" else "ats.contact_updated",
                occurred,
                _person(CONTACT, entity_id, traits),
                audience=settings.employer_audience,
                properties=common,
                traits=traits,
            )
        )
    elif name == "ClientCorporation":
        traits, change.stripped = company_traits(data)
        for known in fetched.contacts:  # the contacts we know: their company changed
            change.events.append(
                EventIn(
                    f"{event_id}:{known}",
                    "ats.company_updated",
                    occurred,
                    PersonRef(system=CONTACT, external_id=known),
                    audience=settings.employer_audience,
                    properties=common,
                    traits=traits,
                )
            )
    elif name == "JobOrder":
        contact = _id_of(data.get("clientContact"))
        if contact is not None:
            change.events.append(
                EventIn(
                    event_id,
                    "ats.job_order",
                    occurred,
                    PersonRef(system=CONTACT, external_id=contact),
                    audience=settings.employer_audience,
                    properties=common
                    | _present(
                        title=text(data.get("title")),
                        status=text(data.get("status")),
                        employment_type=text(data.get("employmentType")),
                        openings=data.get("numOpenings"),
                    ),
                )
            )
    elif name == "JobSubmission":
        _submission(change, data, event_id, occurred, common, kind, settings)
    elif name == "Placement":
        _placement(change, data, event_id, occurred, common, kind, updated, settings)
    return change


def _person(system: str, entity_id: str, traits: Mapping[str, Any]) -> PersonRef:
    found = traits.get("email")
    return PersonRef(
        email=found if isinstance(found, str) else None, system=system, external_id=entity_id
    )


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _job(data: Mapping[str, Any]) -> dict[str, Any]:
    job = data.get("jobOrder")
    if not isinstance(job, dict):
        return {}
    return _present(job_order_id=ident(job.get("id")), job=text(job.get("title")))


def _submission(
    change: Change,
    data: Mapping[str, Any],
    event_id: str,
    occurred: float,
    common: dict[str, Any],
    kind: str,
    settings: BullhornSection,
) -> None:
    candidate = _id_of(data.get("candidate"))
    if candidate is None:
        change.notes.append(f"{event_id}: a JobSubmission without its candidate")
        return
    status = text(data.get("status")) or ""
    person = PersonRef(system=CANDIDATE, external_id=candidate)
    own = kind == "INSERTED" and status == WEB_RESPONSE  # the candidate applied online
    properties = common | _job(data) | _present(status=status or None)
    change.events.append(
        EventIn(
            event_id,
            "job.apply" if own else "ats.submission",
            occurred,
            person,
            audience=settings.candidate_audience,
            properties=properties,
            source=text(data.get("source"), 200),
        )
    )
    target = _mapped(settings.submission_statuses, status)
    if target is not None:
        change.moves.append(
            StageMove(
                person,
                settings.candidate_audience,
                target,
                event_id,
                f"Bullhorn: submission {status!r}{_for(properties)}",
            )
        )


def _placement(
    change: Change,
    data: Mapping[str, Any],
    event_id: str,
    occurred: float,
    common: dict[str, Any],
    kind: str,
    updated: list[str],
    settings: BullhornSection,
) -> None:
    candidate = _id_of(data.get("candidate"))
    if candidate is None:
        change.notes.append(f"{event_id}: a Placement without its candidate")
        return
    status = text(data.get("status")) or ""
    start, end = moment(data.get("dateBegin")), moment(data.get("dateEnd"))
    person = PersonRef(system=CANDIDATE, external_id=candidate)
    properties = (
        common
        | _job(data)
        | _present(
            status=status or None,
            employment_type=text(data.get("employmentType")),
            placement_start=None if start is None else _day(start),
            contract_end=None if end is None else _day(end),
        )
    )
    change.events.append(
        EventIn(
            event_id,
            "ats.placement_start" if kind == "INSERTED" else "ats.placement_update",
            occurred,
            person,
            audience=settings.candidate_audience,
            properties=properties,
        )
    )
    placed = any(status.casefold() == s.casefold() for s in settings.placement_statuses)
    if placed and (kind == "INSERTED" or not updated or PLACEMENT_FIELDS & set(updated)):
        change.moves.append(
            StageMove(
                person,
                settings.candidate_audience,
                "won",
                event_id,
                f"Bullhorn: placement {status!r}{_for(properties)}",
                placement_start=start,
                contract_end=end,
                forward_only=False,
            )
        )


def _mapped(table: Mapping[str, str], name: str) -> str | None:
    wanted = name.strip().casefold()
    return next((stage for key, stage in table.items() if key.strip().casefold() == wanted), None)


def _for(properties: Mapping[str, Any]) -> str:
    job = properties.get("job")
    return f" for {job}" if job else ""


def _day(seconds: float) -> str:
    from leadgrade.times import utc

    return utc(seconds).date().isoformat()


# ----------------------------------------------------------------------- the poller


@dataclass
class Polled:
    """What one poll did: the batches applied (their request ids) and the outcome."""

    batches: list[int] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    skipped: bool = False  # another process holds the poller


class BullhornPoller:
    """Fetches batches from the subscription and applies them, one event at a time,
    acknowledging a batch only once every event of it is stored (see the module)."""

    def __init__(
        self,
        engine: Engine,
        settings: BullhornSection,
        *,
        holds: Sequence[HoldRule] = (),
        transport: httpx.BaseTransport | None = None,
        client: BullhornClient | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client or BullhornClient(settings, transport)
        self.applier = Applier(engine, SOURCE, holds=holds)
        self.name = f"bullhorn:{settings.subscription}"

    def poll(self, now: float, *, batches: int = 1) -> Polled:
        """Apply up to ``batches`` batches (fewer when no events are waiting)."""
        polled = Polled()
        with state.exclusive(self.engine.store, self.name) as mine:
            if not mine:
                polled.skipped = True
                return polled
            for _ in range(batches):
                request_id = self._one(now, polled.outcome)
                if request_id is None:
                    break
                polled.batches.append(request_id)
        return polled

    def drain(self, now: float, *, limit: int = 1000) -> Polled:
        """Apply batches until none are waiting (``leadgrade integrations bullhorn poll
        --once``)."""
        return self.poll(now, batches=limit)

    def _one(self, now: float, outcome: Outcome) -> int | None:
        position = state.load(self.engine.store, self.name)
        subscription = self.settings.subscription
        if not position.get("subscribed"):
            last = self.client.subscribe(subscription)
            position = {"subscribed": True, "done": last, "pending": None}
            state.save(self.engine.store, self.name, position, now)
        done = int(position.get("done") or 0)
        pending = position.get("pending")
        if pending is None:
            last = self.client.last_request_id(subscription)
            if last > done:  # fetched before a crash, never recorded: fetch it again
                pending = last
        if pending is not None:
            batch = self.client.batch(subscription, self.settings.max_events, int(pending))
            if batch is None:
                logger.error("Bullhorn batch %s can no longer be fetched; skipped", pending)
                state.save(
                    self.engine.store,
                    self.name,
                    {**position, "done": int(pending), "pending": None},
                    now,
                )
                return int(pending)
            logger.info("fetching Bullhorn batch %s again: it was not acknowledged", pending)
        else:
            batch = self.client.batch(subscription, self.settings.max_events)
            if batch is None:
                return None
            pending = int(batch["requestId"])
            # Recorded before anything is applied: a crash from here on re-gets it.
            state.save(self.engine.store, self.name, {**position, "pending": pending}, now)
        for event in batch["events"]:
            if isinstance(event, dict):
                change = read_event(event, self._fetch(event), self.settings)
                outcome.add(self.applier.apply([change], now))
        # Every event of the batch is stored: the acknowledgement.
        state.save(
            self.engine.store, self.name, {**position, "done": int(pending), "pending": None}, now
        )
        return int(pending)

    def _fetch(self, event: Mapping[str, Any]) -> Fetched:
        name = str(event.get("entityName") or "")
        entity_id = ident(event.get("entityId"))
        if event.get("entityEventType") == "DELETED" or entity_id is None or name not in FIELDS:
            return Fetched(None)
        fields = FIELDS[name]
        if name in ("Candidate", "ClientContact") and self.settings.fields:
            fields += "," + ",".join(self.settings.fields)
        data = self.client.entity(name, entity_id, fields)
        if data is None:
            return Fetched(None)
        if name == "ClientContact":
            company = _id_of(data.get("clientCorporation"))
            corporation = (
                self.client.entity("ClientCorporation", company, FIELDS["ClientCorporation"])
                if company
                else None
            )
            return Fetched(data, corporation=corporation)
        if name == "ClientCorporation":
            contacts = self.client.association("ClientCorporation", entity_id, "clientContacts")
            return Fetched(data, contacts=tuple(self._known(CONTACT, contacts)))
        return Fetched(data)

    def _known(self, system: str, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        with self.engine.store.engine.connect() as conn:
            found = set(
                conn.scalars(
                    sa.select(identities.c.value).where(
                        identities.c.kind == system, identities.c.value.in_(list(ids))
                    )
                )
            )
        return [i for i in ids if i in found]

    def close(self) -> None:
        self.client.close()


def run_forever(
    poller: BullhornPoller,
    clock: Callable[[], float],
    every: float,
    report: Callable[[Polled], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll every ``every`` seconds (draining what is waiting each time) until stopped."""
    while True:
        try:
            report(poller.drain(clock()))
        except (BullhornError, httpx.HTTPError) as exc:
            logger.error("polling Bullhorn failed: %s", exc)
        sleep(every)

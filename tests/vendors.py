"""The vendors, played locally for the integration tests: payloads written from each
vendor's published documentation, and real HTTP servers that speak their formats.

- **Greenhouse** sends webhooks: :class:`GreenhouseSender` posts them over HTTP as
  Greenhouse does — the raw JSON body with Unicode and HTML characters escaped,
  ``Signature: sha256 <hex>`` (HMAC-SHA256 of that body) and ``Greenhouse-Event-ID``.
- **Bullhorn** is polled: :class:`BullhornServer` is its OAuth server, ``/login`` (a
  ``BhRestToken`` and ``restUrl``), the event subscription (``PUT``/``GET``, batches
  ``{"requestId", "events"}``, re-get by ``requestId``, ``lastRequestId``) and entity
  fetches ``{"data": {...}}``; a wrong or expired token is answered 401.
- **Jobvite** is polled: :class:`JobviteServer` pages candidates and requisitions
  (``start``/``count``, ``total``) behind the ``x-jvi-api``/``x-jvi-sc`` headers and, as
  Jobvite does, answers a refused credential with HTTP 200 and
  ``{"status": {"code": 401, …}}``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx

from tests.receivers import free_port

# ------------------------------------------------------------------------ Greenhouse


def greenhouse_json(data: Mapping[str, Any]) -> bytes:
    """A body as Greenhouse writes it: JSON with non-ASCII and ``<``, ``>``, ``&``
    escaped (``\\u003cp\\u003e``); the signature is of these exact bytes."""
    text = json.dumps(data, ensure_ascii=True)
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode()


def greenhouse_signature(secret: str, body: bytes) -> str:
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def gh_candidate(
    candidate_id: int = 35897443,
    email: str = "jordan.avery@example.com",
    **extra: Any,
) -> dict[str, Any]:
    """A candidate as Greenhouse's webhooks carry one (application.candidate)."""
    candidate: dict[str, Any] = {
        "id": candidate_id,
        "first_name": "Jordan",
        "last_name": "Avery",
        "title": "Registered Nurse",
        "company": "Mercy General",
        "created_at": "2026-03-02T15:04:11Z",
        "external_id": None,
        "photo_url": "https://prod-heroku.s3.amazonaws.com/photo.jpg",
        "url": f"https://app.greenhouse.io/people/{candidate_id}",
        "is_private": False,
        "can_email": True,
        "phone_numbers": [{"value": "518-555-0134", "type": "mobile"}],
        "email_addresses": [{"value": email, "type": "personal"}],
        "addresses": [{"value": "12 Elm Street\nAlbany, NY 12207", "type": "home"}],
        "website_addresses": [],
        "social_media_addresses": [],
        "educations": [
            {
                "school_name": "SUNY Albany",
                "degree": "Bachelor's Degree",
                "discipline": "Nursing",
                "start_date": "09/01/2009",
                "end_date": "05/15/2013",
            }
        ],
        "employments": [],
        "recruiter": {
            "id": 92121,
            "email": "maya@firm.example",
            "name": "Maya Chen",
            "employee_id": "123ABC",
        },
        "coordinator": None,
        "attachments": [],
        "tags": ["ICU", "Night shift"],
        "custom_fields": {
            "desired_salary": {"name": "Desired Salary", "type": "short_text", "value": "85000"},
            "graduation_year_1": {
                "name": "Graduation Year",
                "type": "single_select",
                "value": "2013",
            },
            "field_7": {"name": "Date of Birth", "type": "date", "value": "1991-04-02"},
            "willing_to_travel": {"name": "Willing to travel", "type": "boolean", "value": True},
        },
    }
    candidate.update(extra)
    return candidate


def gh_job(
    job_id: int = 323753, name: str = "ICU Nurse", department: str = "Nursing"
) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": name,
        "requisition_id": "REQ-88",
        "notes": None,
        "confidential": False,
        "status": "open",
        "opened_at": "2026-01-05T09:00:00Z",
        "closed_at": None,
        "departments": [{"id": 7, "name": department, "external_id": None}],
        "offices": [{"id": 13, "name": "Albany", "location": "Albany, NY", "external_id": None}],
        "custom_fields": {},
    }


def gh_application(
    action: str,
    *,
    application_id: int = 46194062,
    candidate: dict[str, Any] | None = None,
    stage: str = "Application Review",
    status: str = "active",
    offer: dict[str, Any] | None = None,
    job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An application-bearing webhook (``new_candidate_application``,
    ``candidate_stage_change``, ``application_updated``, ``hire_candidate``…)."""
    application: dict[str, Any] = {
        "id": application_id,
        "rejected_at": None,
        "prospect": action == "new_prospect_application",
        "status": status,
        "applied_at": "2026-09-01T14:00:00Z",
        "last_activity_at": "2026-09-20T10:30:00Z",
        "url": f"https://app.greenhouse.io/people/1?application_id={application_id}",
        "source": {"id": 25, "public_name": "Indeed"},
        "credited_to": {"id": 158104, "email": "maya@firm.example", "name": "Maya Chen"},
        "rejection_reason": None,
        "rejection_details": None,
        "current_stage": {"id": 71416, "name": stage, "interviews": []},
        "custom_fields": {},
        "candidate": candidate or gh_candidate(),
        "jobs": [job or gh_job()],
    }
    if offer is not None:
        application["offer"] = offer
    return {"action": action, "payload": {"application": application}}


def gh_offer(
    starts_at: str = "2026-11-02", contract_end: str | None = "2027-05-01"
) -> dict[str, Any]:
    """The offer a ``hire_candidate`` webhook carries: ``starts_at`` the start date, and a
    custom date field the firm keeps a contract's end in."""
    custom: dict[str, Any] = {
        "salary": {"name": "Salary", "type": "currency", "value": {"amount": 82000, "unit": "USD"}},
    }
    if contract_end is not None:
        custom["contract_end_date"] = {
            "name": "Contract End Date",
            "type": "date",
            "value": contract_end,
        }
    return {
        "id": 506409,
        "version": 2,
        "created_at": "2026-10-01T12:00:00Z",
        "sent_at": "2026-10-02",
        "resolved_at": "2026-10-05T16:20:00Z",
        "starts_at": starts_at,
        "custom_fields": custom,
    }


def gh_offer_event(
    action: str = "offer_created", application_id: int = 46194062, status: str = "Created"
) -> dict[str, Any]:
    return {
        "action": action,
        "payload": {
            "id": 12345,
            "application_id": application_id,
            "job_id": 323753,
            "user_id": 67890,
            "version": 1,
            "sent_on": "2026-10-02",
            "resolved_at": None,
            "start_date": "11/02/2026",
            "notes": "Start after orientation",
            "offer_status": status,
            "custom_fields": {},
        },
    }


def gh_person_event(action: str, candidate_id: int, **extra: Any) -> dict[str, Any]:
    """``delete_candidate`` and ``merge_candidate`` (with ``new_candidate_id``)."""
    person = {
        "id": candidate_id,
        "first_name": "Jordan",
        "last_name": "Avery",
        "company": "Mercy General",
        "title": "Registered Nurse",
        "created_at": "2026-03-02T15:04:11Z",
        "is_private": False,
        "recruiter_user_id": 92121,
        "coordinator_user_id": None,
        "can_email": True,
        **extra,
    }
    return {"action": action, "payload": {"person": person}}


class GreenhouseSender:
    """Posts webhooks to ``url`` as Greenhouse does, over a real connection."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.http = httpx.Client(timeout=10)

    def send(
        self,
        data: Mapping[str, Any],
        *,
        event_id: str | None = None,
        secret: str | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        body = greenhouse_json(data)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Greenhouse-Webhook",
            "Greenhouse-Event-ID": event_id or str(uuid.uuid4()),
        }
        if signed:
            headers["Signature"] = greenhouse_signature(secret or self.secret, body)
        return self.http.post(self.url, content=body, headers=headers)

    def close(self) -> None:
        self.http.close()


# ------------------------------------------------------------------------ HTTP base


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a poller killed mid-request: nothing to see


Reply = tuple[int, Mapping[str, str], bytes]


class VendorServer:
    """A local HTTP server answering through :meth:`handle` (one thread per request)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                query = parse_qs(split.query, keep_blank_values=True)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with vendor.lock:
                    vendor.requests.append((method, split.path, query))
                status, extra, content = vendor.handle(method, split.path, query, headers, body)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                if content:
                    self.wfile.write(content)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        raise NotImplementedError

    def calls(self, method: str, prefix: str) -> list[tuple[str, dict[str, list[str]]]]:
        with self.lock:
            return [(p, q) for m, p, q in self.requests if m == method and p.startswith(prefix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(status: int, data: Any) -> Reply:
    return status, {"content-type": "application/json"}, json.dumps(data).encode()


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


# -------------------------------------------------------------------------- Bullhorn


class BullhornServer(VendorServer):
    """Bullhorn's OAuth server, REST login, event subscriptions and entities.

    Events are queued with :meth:`publish`; a ``GET`` of the subscription without a
    ``requestId`` hands out the next batch under a new ``requestId`` and forgets the
    previous one's events from the queue (Bullhorn purges what was consumed), while a
    ``GET`` with ``requestId`` hands the same batch out again. ``entities`` holds what
    ``GET entity/{name}/{id}`` answers; ``gate`` (an event) makes entity fetches wait, so
    a test can kill a poller between fetching a batch and acknowledging it."""

    CORP = "e999"

    def __init__(
        self,
        *,
        client_id: str = "client-1",
        client_secret: str = "client-secret-1",
        username: str = "api.user",
        password: str = "api-password-1",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.codes: set[str] = set()
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.tokens: set[str] = set()  # valid BhRestTokens
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.queue: list[dict[str, Any]] = []
        self.batches: dict[int, list[dict[str, Any]]] = {}
        self.last_request_id = 0
        self.entities: dict[tuple[str, int], dict[str, Any]] = {}
        self.associations: dict[tuple[str, int, str], list[int]] = {}
        self.gate: threading.Event | None = None
        self.hold_after = 0  # entity fetches answered before the gate holds the rest
        self.entity_fetches = 0
        self.fetched = threading.Event()  # set when a batch is handed out
        self.logins = 0
        super().__init__()

    # -- test controls

    def publish(
        self,
        entity: str,
        entity_id: int,
        kind: str = "UPDATED",
        updated: list[str] | None = None,
        at: int = 1_790_812_800_000,
    ) -> str:
        event_id = f"ID:JBM-{uuid.uuid4().hex[:8]}"
        self.queue.append(
            {
                "eventId": event_id,
                "eventType": "ENTITY",
                "entityName": entity,
                "eventMetadata": {"PERSON_ID": "1234", "TRANSACTION_ID": uuid.uuid4().hex},
                "updatedProperties": list(updated or []),
                "entityEventType": kind,
                "eventTimestamp": at,
                "entityId": entity_id,
            }
        )
        return event_id

    def expire_sessions(self) -> None:
        self.tokens.clear()

    @property
    def rest_url(self) -> str:
        return f"{self.url}/rest-services/{self.CORP}/"

    # -- HTTP

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if path == "/oauth/authorize":
            return self._authorize(query)
        if path == "/oauth/token" and method == "POST":
            return self._token(query)
        if path == "/rest-services/login":
            return self._login(query)
        prefix = f"/rest-services/{self.CORP}/"
        if not path.startswith(prefix):
            return _json(404, {"errorMessage": "no such resource"})
        token = headers.get("bhresttoken") or _one(query, "BhRestToken")
        if not token:
            return _json(412, {"errorMessage": "Missing BhRestToken"})
        if token not in self.tokens:
            return _json(401, {"errorMessage": "Bad 'BhRestToken' or timed-out."})
        rest = path[len(prefix) :]
        parts = rest.split("/")
        if parts[:2] == ["event", "subscription"] and len(parts) >= 3:
            return self._subscription(method, parts[2:], query)
        if parts[0] == "entity" and len(parts) in (3, 4) and method == "GET":
            return self._entity(parts[1:], query)
        return _json(404, {"errorMessage": f"no resource {rest}"})

    def _authorize(self, query: dict[str, list[str]]) -> Reply:
        if _one(query, "client_id") != self.client_id or _one(query, "response_type") != "code":
            return _json(400, {"error": "invalid_client"})
        if _one(query, "action") != "Login":
            return 200, {"content-type": "text/html"}, b"<html>login page</html>"
        if _one(query, "username") != self.username or _one(query, "password") != self.password:
            return 200, {"content-type": "text/html"}, b"<html>Invalid credentials</html>"
        code = uuid.uuid4().hex
        self.codes.add(code)
        redirect = _one(query, "redirect_uri") or "https://www.bullhorn.com/"
        return 302, {"location": f"{redirect}?code={code}&client_id={self.client_id}"}, b""

    def _token(self, query: dict[str, list[str]]) -> Reply:
        if (
            _one(query, "client_id") != self.client_id
            or _one(query, "client_secret") != self.client_secret
        ):
            return _json(400, {"error": "invalid_client"})
        grant = _one(query, "grant_type")
        if grant == "authorization_code":
            code = _one(query, "code") or ""
            if code not in self.codes:
                return _json(400, {"error": "invalid_grant"})
            self.codes.discard(code)
        elif grant == "refresh_token":
            refresh = _one(query, "refresh_token") or ""
            if refresh not in self.refresh_tokens:
                return _json(400, {"error": "invalid_grant"})
            self.refresh_tokens.discard(refresh)  # a refresh token works once
        else:
            return _json(400, {"error": "unsupported_grant_type"})
        access, refresh = uuid.uuid4().hex, uuid.uuid4().hex
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return _json(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 600,
                "refresh_token": refresh,
            },
        )

    def _login(self, query: dict[str, list[str]]) -> Reply:
        access = _one(query, "access_token") or ""
        if access not in self.access_tokens or not _one(query, "version"):
            return _json(401, {"errorMessage": "Invalid or expired OAuth access token."})
        self.access_tokens.discard(access)
        token = str(uuid.uuid4())
        self.tokens.add(token)
        self.logins += 1
        return _json(200, {"BhRestToken": token, "restUrl": self.rest_url})

    def _subscription(self, method: str, parts: list[str], query: dict[str, list[str]]) -> Reply:
        name = parts[0]
        if method == "PUT":
            if _one(query, "type") != "entity" or not _one(query, "names"):
                return _json(400, {"errorMessage": "type=entity and names are required"})
            self.subscriptions[name] = {
                "names": (_one(query, "names") or "").split(","),
                "eventTypes": (_one(query, "eventTypes") or "").split(","),
            }
            return _json(
                200,
                {
                    "lastRequestId": self.last_request_id,
                    "subscriptionId": name,
                    "createdOn": 1_790_000_000_000,
                    "jmsSelector": "JMSType='ENTITY' AND BhCorpId=999",
                },
            )
        if name not in self.subscriptions:
            return _json(404, {"errorMessage": f"no subscription {name}"})
        if len(parts) == 2 and parts[1] == "lastRequestId":
            return _json(200, {"result": self.last_request_id})
        if method != "GET":
            return _json(405, {"errorMessage": "method not allowed"})
        again = _one(query, "requestId")
        if again is not None:
            batch = self.batches.get(int(again))
            if batch is None:
                return _json(404, {"errorMessage": f"no request {again}"})
            return _json(200, {"requestId": int(again), "events": copy.deepcopy(batch)})
        wanted = set(self.subscriptions[name]["names"])
        most = int(_one(query, "maxEvents") or "0")
        if most < 1:
            return _json(400, {"errorMessage": "maxEvents is required"})
        events = [e for e in self.queue if e["entityName"] in wanted][:most]
        if not events:
            return 200, {}, b""  # no events: an empty body, as Bullhorn answers
        self.queue = [e for e in self.queue if e not in events]
        self.last_request_id += 1
        self.batches[self.last_request_id] = events
        self.fetched.set()
        return _json(200, {"requestId": self.last_request_id, "events": copy.deepcopy(events)})

    def _entity(self, parts: list[str], query: dict[str, list[str]]) -> Reply:
        with self.lock:
            self.entity_fetches += 1
            held = self.gate is not None and self.entity_fetches > self.hold_after
        if held and self.gate is not None:
            self.gate.wait(30)
        name, ident = parts[0], int(parts[1])
        if not _one(query, "fields") and not _one(query, "layout"):
            return _json(400, {"errorMessage": "fields or layout is required"})
        if len(parts) == 3:  # a to-many association
            ids = self.associations.get((name, ident, parts[2]), [])
            return _json(200, {"total": len(ids), "data": [{"id": i} for i in ids]})
        found = self.entities.get((name, ident))
        if found is None:
            return _json(
                404,
                {
                    "errorMessage": f"Cannot find entity of type '{name}' with id '{ident}'",
                    "errorMessageKey": "errors.cannotFindEntity",
                    "errorCode": 404,
                },
            )
        return _json(200, {"data": copy.deepcopy(found)})


def bh_candidate(candidate_id: int = 5059165, **extra: Any) -> dict[str, Any]:
    """A Candidate as ``GET entity/Candidate/{id}`` gives it (fields from Bullhorn's entity
    reference), protected fields included, as a tenant's layout may return them."""
    data: dict[str, Any] = {
        "id": candidate_id,
        "firstName": "Alanzo",
        "lastName": "Smith",
        "name": "Alanzo Smith",
        "email": "alanzo.smith@example.com",
        "mobile": "916-555-0142",
        "phone": "916-555-0100",
        "occupation": "CNC Machinist",
        "companyName": "Sierra Fabrication",
        "address": {
            "address1": "88 Oak Ave",
            "address2": "",
            "city": "Sacramento",
            "state": "CA",
            "zip": "95814",
            "countryID": 1,
        },
        "status": "Active",
        "source": "LinkedIn",
        "skillSet": "CNC, forklift, blueprint reading",
        "category": {"id": 13, "name": "Manufacturing"},
        "owner": {"id": 7, "firstName": "Lee", "lastName": "Park"},
        "massMailOptOut": False,
        "smsOptIn": True,
        "dateOfBirth": 662688000000,
        "gender": "M",
        "ethnicity": "Hispanic",
        "veteran": "N",
        "disability": "N",
        "maritalStatus": "Married",
        "ssn": "***-**-1234",
        "workAuthorized": True,
        "isDeleted": False,
        "dateAdded": 1_780_000_000_000,
        "dateLastModified": 1_790_000_000_000,
    }
    data.update(extra)
    return data


def bh_contact(contact_id: int = 4242, corporation_id: int = 77, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": contact_id,
        "firstName": "Dana",
        "lastName": "Whitfield",
        "name": "Dana Whitfield",
        "email": "dana.whitfield@acme-health.com",
        "phone": "617-555-0199",
        "occupation": "VP Talent Acquisition",
        "clientCorporation": {"id": corporation_id, "name": "Acme Health"},
        "address": {"city": "Boston", "state": "MA", "zip": "02110", "countryID": 1},
        "status": "Active",
        "massMailOptOut": True,
        "isDeleted": False,
        "gender": "F",
    }
    data.update(extra)
    return data


def bh_corporation(corporation_id: int = 77, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": corporation_id,
        "name": "Acme Health",
        "companyURL": "https://www.acme-health.com",
        "industryList": "Healthcare",
        "numEmployees": 2400,
        "status": "Active Account",
        "address": {"city": "Boston", "state": "MA", "countryID": 1},
    }
    data.update(extra)
    return data


def bh_job_order(job_id: int = 901, contact_id: int = 4242, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job_id,
        "title": "CNC Machinist (2nd shift)",
        "status": "Accepting Candidates",
        "employmentType": "Contract",
        "numOpenings": 3,
        "clientContact": {"id": contact_id, "firstName": "Dana", "lastName": "Whitfield"},
        "clientCorporation": {"id": 77, "name": "Acme Health"},
        "categories": {"total": 1, "data": [{"id": 13, "name": "Manufacturing"}]},
        "dateAdded": 1_789_000_000_000,
    }
    data.update(extra)
    return data


def bh_submission(
    submission_id: int = 3301, candidate_id: int = 5059165, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": submission_id,
        "candidate": {"id": candidate_id, "firstName": "Alanzo", "lastName": "Smith"},
        "jobOrder": {"id": 901, "title": "CNC Machinist (2nd shift)"},
        "status": "Submitted",
        "source": "Web",
        "dateAdded": 1_790_000_000_000,
        "dateLastModified": 1_790_100_000_000,
    }
    data.update(extra)
    return data


def bh_placement(
    placement_id: int = 7701, candidate_id: int = 5059165, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": placement_id,
        "candidate": {"id": candidate_id, "firstName": "Alanzo", "lastName": "Smith"},
        "jobOrder": {"id": 901, "title": "CNC Machinist (2nd shift)"},
        "status": "Approved",
        "employmentType": "Contract",
        "dateBegin": 1_793_577_600_000,  # 2026-11-02
        "dateEnd": 1_809_129_600_000,  # 2027-05-01
        "dateAdded": 1_790_500_000_000,
        "payRate": 31.5,
    }
    data.update(extra)
    return data


# --------------------------------------------------------------------------- Jobvite


class JobviteServer(VendorServer):
    """Jobvite's v2 API: ``GET /api/v2/candidate`` and ``GET /api/v2/job`` paged with
    ``start`` (1-based) and ``count``, answering ``{"status": {"code": 200, …}, "total":
    n, "candidates" | "requisitions": [...]}``. Credentials are the ``x-jvi-api`` and
    ``x-jvi-sc`` headers; a wrong one is answered **HTTP 200** with
    ``{"status": {"code": 401, "messages": [...]}}`` and no records."""

    def __init__(self, api_key: str = "jv-key-1", secret: str = "jv-secret-1") -> None:
        self.api_key = api_key
        self.secret = secret
        self.candidates: list[dict[str, Any]] = []
        self.requisitions: list[dict[str, Any]] = []
        self.fail_with: tuple[int, int] | None = None  # (HTTP status, body status code)
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v2"

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if method != "GET":
            return _json(405, {"status": {"code": 405, "messages": ["Method not allowed"]}})
        if headers.get("x-jvi-api") != self.api_key or headers.get("x-jvi-sc") != self.secret:
            return _json(
                200, {"status": {"code": 401, "messages": ["Invalid api/secret key combination"]}}
            )
        if self.fail_with is not None:
            http_status, code = self.fail_with
            return _json(http_status, {"status": {"code": code, "messages": ["Server error"]}})
        if path == "/api/v2/candidate":
            key, records = "candidates", self.candidates
        elif path == "/api/v2/job":
            key, records = "requisitions", self.requisitions
        else:
            return _json(404, {"status": {"code": 404, "messages": ["Not found"]}})
        start = max(1, int(_one(query, "start") or "1"))
        count = min(500, max(1, int(_one(query, "count") or "100")))
        page = records[start - 1 : start - 1 + count]
        return _json(
            200,
            {
                "status": {"code": 200, "messages": ["Success"]},
                "total": len(records),
                key: copy.deepcopy(page),
            },
        )


def jv_candidate(
    candidate_eid: str = "dOen2hqr",
    application_eid: str = "ovLmTnq8",
    state: str = "New",
    **extra: Any,
) -> dict[str, Any]:
    """A candidate record as ``GET /api/v2/candidate`` gives it: the person, and one
    application with its workflow state and the EEO answers inline."""
    data: dict[str, Any] = {
        "eId": candidate_eid,
        "email": "casey.morgan@example.com",
        "firstName": "Casey",
        "lastName": "Morgan",
        "title": "Staff Accountant",
        "companyName": "Brightline Logistics",
        "city": "Columbus",
        "state": "OH",
        "postalCode": "43215",
        "country": "USA",
        "homePhone": "614-555-0123",
        "mobile": "",
        "workStatus": "US Citizen",
        "application": {
            "eId": application_eid,
            "workflowState": state,
            "workflowStateEId": "mGB7Cdqg",
            "gender": "Female",
            "race": "Decline to Self Identify",
            "veteranStatus": "Not a Veteran",
            "disposition": None,
            "source": "Indeed",
            "sourceType": "Job Board",
            "jobviteChannel": "Job Board",
            "lastUpdatedDate": 1_790_000_000_000,
            "sentDate": 1_789_900_000_000,
            "job": {
                "eId": "iHk17dqT",
                "requisitionId": "ACC-12",
                "title": "Senior Accountant",
                "department": "Finance",
                "company": "Client Co",
            },
            "customField": [
                {"fieldCode": "years_experience", "key": "Years of experience", "value": "6"},
                {"fieldCode": "year_of_graduation", "key": "Year of graduation", "value": "2014"},
            ],
        },
    }
    for key, value in extra.items():
        if key == "application":
            data["application"].update(value)
        else:
            data[key] = value
    return data


def jv_requisition(eid: str = "iHk17dqT", state: str = "Open", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "eId": eid,
        "requisitionId": "ACC-12",
        "title": "Senior Accountant",
        "jobState": state,
        "category": "Accounting and Finance",
        "department": "Finance",
        "location": "Columbus, OH",
        "company": "Client Co",
    }
    data.update(extra)
    return data

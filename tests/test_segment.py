"""The Segment tracking API: the mapping (pure), the routes over the store (SQLite and
PostgreSQL), and Segment's own Python client against a running server."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from segment.analytics import request as segment_request
from segment.analytics.client import Client
from segment.analytics.request import APIError
from typer.testing import CliRunner

from leadgrade.api import create_app
from leadgrade.cli import app as cli
from leadgrade.core import Model
from leadgrade.engine import AudienceMap, AudienceRule, Engine, EventIn, PersonRef
from leadgrade.keys import create_key
from leadgrade.settings import TRACK_EVENTS, Settings, TrackingSection
from leadgrade.store import Store
from leadgrade.store.schema import events, people
from leadgrade.tracking import MessageError, read_batch
from leadgrade.workspace import Workspace

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z
DEFAULTS = TrackingSection()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def one(message: dict[str, Any], settings: TrackingSection = DEFAULTS, **kw: Any) -> EventIn:
    (event,) = read_batch([message], settings, NOW, **kw).events
    return event


# ------------------------------------------------------------------------- mapping


def test_a_page_call_is_a_page_view_with_its_campaign() -> None:
    event = one(
        {
            "type": "page",
            "anonymousId": "a-1",
            "messageId": "m-1",
            "name": "Pricing",
            "properties": {"title": "Rates"},
            "context": {
                "page": {
                    "path": "/pricing",
                    "url": "https://acme-staffing.com/pricing?utm_source=x",
                    "referrer": "https://www.google.com/",
                    "title": "ignored: the properties say",
                },
                "campaign": {"name": "q4-hiring", "source": "google", "medium": "cpc"},
            },
        }
    )
    assert event.id == "segment:m-1"
    assert event.type == "web.page_view"
    assert event.person == PersonRef(anonymous_id="a-1")
    assert event.properties == {
        "title": "Rates",
        "path": "/pricing",
        "url": "https://acme-staffing.com/pricing?utm_source=x",
        "referrer": "https://www.google.com/",
        "name": "Pricing",
    }
    assert (event.channel, event.source, event.campaign) == ("cpc", "google", "q4-hiring")


def test_a_server_side_page_call_finds_its_path_and_utm_in_the_url() -> None:
    event = one(
        {
            "type": "page",
            "userId": "u-1",
            "properties": {
                "url": "https://acme.com/services/it?utm_medium=email&utm_source=hubspot"
                "&utm_campaign=nurture-7"
            },
        }
    )
    assert event.properties["path"] == "/services/it"
    assert (event.channel, event.source, event.campaign) == ("email", "hubspot", "nurture-7")
    assert event.person == PersonRef(system="segment", external_id="u-1")


def test_track_names_map_to_event_types_and_forms_to_form_names() -> None:
    form = one(
        {
            "type": "track",
            "userId": "u-1",
            "event": "Form Submitted",
            "properties": {"formName": "Request Proposal", "email": "Jo@Acme.com"},
            "context": {"page": {"path": "/contact"}},
        }
    )
    assert form.type == "form.submit"
    assert form.properties == {
        "form_name": "Request Proposal",
        "email": "Jo@Acme.com",
        "event_name": "Form Submitted",
        "form": "request_proposal",  # as the model's rules name forms
        "path": "/contact",
    }
    assert form.person == PersonRef(email="Jo@Acme.com", system="segment", external_id="u-1")
    # one name however it is written; property names as rules name them
    download = one(
        {
            "type": "track",
            "anonymousId": "a",
            "event": "content_downloaded",
            "properties": {"assetType": "salary_guide"},
        }
    )
    assert (download.type, download.properties["asset_type"]) == (
        "content.download",
        "salary_guide",
    )
    assert one({"type": "track", "anonymousId": "a", "event": "Job Applied"}).type == "job.apply"


def test_unmapped_track_events_are_kept_under_track_and_counted() -> None:
    mapped = read_batch(
        [
            {"type": "track", "anonymousId": "a", "event": "Video Played"},
            {"type": "track", "anonymousId": "a", "event": "Video Played"},
            {"type": "track", "anonymousId": "a", "event": "Demo Requested"},
            {"type": "track", "anonymousId": "a", "event": "¡¿"},
        ],
        DEFAULTS,
        NOW,
    )
    assert [e.type for e in mapped.events] == [
        "track.video_played",
        "track.video_played",
        "demo.request",
        "track.unnamed",
    ]
    assert mapped.unmapped == {"Video Played": 2, "¡¿": 1}
    assert mapped.kinds == {"track": 4}


def test_the_workspace_adds_mappings_with_fixed_properties() -> None:
    settings = Settings(
        tracking={
            "unmapped": "custom",
            "events": {
                "Consultation Booked": {
                    "type": "form.submit",
                    "properties": {"form": "consultation"},
                },
                "Video Played": "content.video_play",
            },
        }
    ).tracking
    booked = one({"type": "track", "userId": "u", "event": "Consultation Booked"}, settings)
    assert (booked.type, booked.properties["form"]) == ("form.submit", "consultation")
    played = one({"type": "track", "userId": "u", "event": "video played"}, settings)
    assert played.type == "content.video_play"
    other = one({"type": "track", "userId": "u", "event": "Chat Opened"}, settings)
    assert other.type == "custom.chat_opened"
    assert one({"type": "track", "userId": "u", "event": "Demo Requested"}, settings).type == (
        "demo.request"  # the defaults stay
    )


def test_identify_records_traits_as_attributes_and_names_every_id() -> None:
    event = one(
        {
            "type": "identify",
            "userId": 42,
            "anonymousId": "a-9",
            "traits": {
                "email": " Dana@Acme.COM ",
                "title": "VP Talent",
                "firstName": "Dana",
                "company": {"name": "Acme", "id": "acct-1", "employee_count": 900},
                "address": {"city": "Austin", "state": "TX", "postalCode": "78701"},
                "gender": "female",
                "birthday": "1980-01-01",
                "age": 45,
            },
        }
    )
    assert event.type == "person.identify"
    assert event.person == PersonRef(
        email="Dana@Acme.COM", anonymous_id="a-9", system="segment", external_id="42"
    )
    # protected attributes are dropped at the door (DESIGN §9.1)
    assert event.traits == {
        "email": "dana@acme.com",
        "job_title": "VP Talent",
        "first_name": "Dana",
        "company": "Acme",
        "account_id": "acct-1",
        "company_size": 900,
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
    }
    assert read_batch(
        [{"type": "identify", "userId": "u", "traits": {"a": 1}}], DEFAULTS, NOW
    ).refits == [PersonRef(system="segment", external_id="u")]


def test_a_user_id_that_is_an_email_names_the_person_by_it() -> None:
    event = one({"type": "identify", "userId": "lee@acme.com"})
    assert event.person == PersonRef(
        email="lee@acme.com", system="segment", external_id="lee@acme.com"
    )


def test_group_names_the_employer_account() -> None:
    event = one(
        {
            "type": "group",
            "userId": "u-1",
            "groupId": "acct-77",
            "traits": {
                "name": "Acme Logistics",
                "website": "https://WWW.Acme-Logistics.com/about",
                "industry": "Logistics",
                "employees": 1200,
                "plan": "enterprise",
            },
        }
    )
    assert event.type == "person.group"
    assert event.traits == {
        "account_id": "acct-77",
        "company": "Acme Logistics",
        "company_domain": "acme-logistics.com",
        "industry": "Logistics",
        "company_size": 1200,
        "company_plan": "enterprise",
    }
    bare = one({"type": "group", "userId": "u", "groupId": "g", "traits": {"domain": "Acme.io"}})
    assert bare.traits["company_domain"] == "acme.io"


def test_alias_names_the_previous_id_as_a_visitor_or_a_known_user() -> None:
    visitor = one({"type": "alias", "userId": "u-2", "previousId": "a-2"})
    assert visitor.type == "person.alias"
    assert visitor.person == PersonRef(anonymous_id="a-2", system="segment", external_id="u-2")
    known = one({"type": "alias", "userId": "u-2", "previousId": "u-1"}, known_users={"u-1": "p1"})
    assert known.person == PersonRef(person_id="p1", system="segment", external_id="u-2")


def test_timestamps_are_corrected_by_sent_at_and_the_receive_time() -> None:
    # The client's clock is 2 hours fast: it stamped the event 10 s before sending.
    fast = NOW + 7200
    message = {"type": "page", "anonymousId": "a", "timestamp": iso(fast - 10)}
    assert one({**message, "sentAt": iso(fast)}).occurred_at == NOW - 10
    assert one(message, sent_at=iso(fast)).occurred_at == NOW - 10  # the batch's sentAt
    assert one(message).occurred_at == fast - 10  # no sentAt: the timestamp stands
    assert one({"type": "page", "anonymousId": "a"}).occurred_at == NOW  # none: received
    naive = {"type": "page", "anonymousId": "a", "timestamp": "2026-09-30T12:00:00"}
    assert one(naive).occurred_at == NOW - 12 * 3600  # Segment's times are UTC


def test_message_ids_are_the_idempotency_key() -> None:
    message = {"type": "track", "userId": "u", "event": "Job Applied", "timestamp": iso(NOW)}
    assert one({**message, "messageId": "abc"}).id == "segment:abc"
    # no id: a digest of the message, so the same message resent is the same event
    first = one({**message, "sentAt": iso(NOW)})
    again = one({**message, "sentAt": iso(NOW + 5)})
    assert first.id == again.id
    assert first.id.startswith("segment:sha256:")
    assert len(one({**message, "messageId": "x" * 500}).id) < 200


@pytest.mark.parametrize(
    ("message", "where", "problem"),
    [
        ({"type": "track", "event": "X"}, "$.batch[0]", "userId or anonymousId is required"),
        ({"type": "track", "userId": "u"}, "$.batch[0]", "its event name"),
        ({"type": "group", "userId": "u"}, "$.batch[0]", "groupId"),
        ({"type": "alias", "userId": "u"}, "$.batch[0]", "previousId"),
        ({"type": "click", "userId": "u"}, "$.batch[0].type", "Input should be"),
        ({"type": "page", "userId": "u", "timestamp": "soon"}, "$.batch[0].timestamp", ""),
        ({"type": "page", "userId": "u", "properties": []}, "$.batch[0].properties", ""),
        ({"type": "page", "userId": "u" * 321}, "$.batch[0].userId", "at most 320"),
        ({"type": "page", "userId": "u", "properties": {"x": "y" * 33_000}}, "$.batch[0]", "32 KB"),
        ("page", "$.batch[0]", "a JSON object"),
    ],
)
def test_a_message_that_cannot_be_read_is_named_by_its_path(
    message: Any, where: str, problem: str
) -> None:
    with pytest.raises(MessageError) as caught:
        read_batch([message], DEFAULTS, NOW)
    assert caught.value.where == where
    assert problem in str(caught.value)


def test_tracking_settings_are_checked_and_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"tracking\.events\.Form Submitted\.type") as caught:
        Settings(tracking={"events": {"Form Submitted": "Form Submit"}})
    assert "like form.submit" in str(caught.value)
    with pytest.raises(ValueError, match=r"tracking\.cors_origins\.0"):
        Settings(tracking={"cors_origins": ["acme.com/blog"]})
    with pytest.raises(ValueError, match=r"tracking\.colour"):
        Settings(tracking={"colour": "red"})
    origins = Settings(tracking={"cors_origins": ["https://www.acme.com/"]}).tracking
    assert origins.cors_origins == ["https://www.acme.com"]


def test_cors_origins_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGRADE_TRACKING_CORS_ORIGINS", '["https://jobs.acme.com"]')
    assert Settings().tracking.cors_origins == ["https://jobs.acme.com"]


# ----------------------------------------------------------------------------- API


def _engine(store: Store, models: dict[str, Model]) -> Engine:
    return Engine(
        store,
        models,
        AudienceMap(
            (AudienceRule("candidate", types=("job.*",), path_prefixes=("/jobs",)),),
            ("employer",),
        ),
    )


def _key(engine: Engine, *scopes: str) -> str:
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "test " + "+".join(scopes), list(scopes), NOW)
    return secret


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(store: Store, shipped_models: dict[str, Model]) -> Iterator[TestClient]:
    app = create_app(
        _engine(store, shipped_models),
        clock=lambda: NOW,
        tracking_settings=TrackingSection(cors_origins=["https://www.acme-staffing.com"]),
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def write_key(client: TestClient) -> str:
    return _key(client.app.state.engine, "ingest")  # type: ignore[attr-defined]


@pytest.fixture
def reader(client: TestClient) -> dict[str, str]:
    return bearer(_key(client.app.state.engine, "read"))  # type: ignore[attr-defined]


def stored(client: TestClient) -> int:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(events)) or 0


def journey(prefix: str = "m") -> dict[str, Any]:
    """An anonymous pricing-page view, the visitor identifying with an e-mail, and a
    consultation form, in one batch."""
    return {
        "batch": [
            {
                "type": "page",
                "anonymousId": "anon-1",
                "messageId": f"{prefix}1",
                "properties": {"path": "/pricing"},
                "timestamp": iso(NOW - 600),
            },
            {
                "type": "identify",
                "anonymousId": "anon-1",
                "userId": "user-1",
                "messageId": f"{prefix}2",
                "traits": {"email": "dana@acme.com", "title": "VP Talent", "employees": 900},
                "timestamp": iso(NOW - 300),
            },
            {
                "type": "track",
                "userId": "user-1",
                "event": "Form Submitted",
                "messageId": f"{prefix}3",
                "properties": {"form": "Consultation"},
                "timestamp": iso(NOW - 60),
            },
        ],
        "sentAt": iso(NOW),
    }


def test_a_batch_is_stored_scored_and_safe_to_retry(
    client: TestClient, write_key: str, reader: dict[str, str]
) -> None:
    answer = client.post("/v1/batch", json=journey(), headers=basic(write_key))
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    (lead,) = client.get("/v1/leads", headers=reader).json()["items"]
    assert (lead["email"], lead["audience"], lead["stage"]) == ("dana@acme.com", "employer", "mql")
    before = client.get(f"/v1/leads/{lead['id']}", headers=reader).json()
    rules = [c["rule"] for c in before["explanation"]]
    assert {"title-seniority", "company-size", "pricing-page", "consultation-request"} <= set(rules)
    # a client retry: the same batch again
    again = client.post("/v1/batch", json=journey(), headers=basic(write_key))
    assert again.json() == {"success": True}
    assert client.get(f"/v1/leads/{lead['id']}", headers=reader).json() == before
    assert stored(client) == 3
    metrics = client.get("/metrics").text
    assert 'leadgrade_events_total{outcome="duplicate"} 3.0' in metrics
    assert 'leadgrade_tracking_messages_total{type="identify"} 2.0' in metrics


def test_every_way_of_sending_the_write_key(client: TestClient, write_key: str) -> None:
    page = {"type": "page", "anonymousId": "a", "properties": {"path": "/"}}
    assert client.post("/v1/page", json=page, headers=basic(write_key)).status_code == 200
    assert client.post("/v1/page", json=page, headers=bearer(write_key)).status_code == 200
    # analytics.js: text/plain, the key in the body, a one-letter path
    body = json.dumps({**page, "writeKey": write_key})
    sent = client.post("/v1/p", content=body, headers={"Content-Type": "text/plain"})
    assert sent.json() == {"success": True}
    missing = client.post("/v1/page", json=page)
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
    unknown = client.post("/v1/page", json=page, headers=basic("lg_nope_nope"))
    assert unknown.status_code == 401
    # a header that names no key is not rescued by a key in the body
    assert client.post("/v1/p", content=body, headers=basic("")).status_code == 401
    reader = _key(client.app.state.engine, "read")  # type: ignore[attr-defined]
    refused = client.post("/v1/page", json=page, headers=basic(reader))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert "lacks the 'ingest' scope" in refused.json()["message"]


def test_each_single_call_and_its_short_path(
    client: TestClient, write_key: str, reader: dict[str, str]
) -> None:
    keys = basic(write_key)
    calls = [
        ("/v1/track", {"userId": "u", "event": "Job Applied", "properties": {"job_id": 7}}),
        ("/v1/t", {"userId": "u", "event": "Video Played"}),
        ("/v1/page", {"userId": "u", "properties": {"path": "/jobs/7"}}),
        ("/v1/screen", {"userId": "u", "name": "Home"}),
        ("/v1/identify", {"userId": "u", "traits": {"skills": "Python, SQL"}}),
        ("/v1/group", {"userId": "u", "groupId": "g", "traits": {"name": "Acme"}}),
        ("/v1/alias", {"userId": "u", "previousId": "anon-u"}),
        ("/v1/i", {"anonymousId": "anon-u", "traits": {"state": "TX"}}),
    ]
    for path, message in calls:
        answer = client.post(path, json=message, headers=keys)
        assert answer.json() == {"success": True}, (path, answer.json())
    assert stored(client) == len(calls)
    leads = {
        lead["audience"]: lead for lead in client.get("/v1/leads", headers=reader).json()["items"]
    }
    candidate = client.get(f"/v1/leads/{leads['candidate']['id']}", headers=reader).json()
    # the identify refitted the candidate lead too (skills, state), though it fed the employer
    rules = {c["rule"] for c in candidate["explanation"]}
    assert {"in-demand-skills", "location-served", "job-apply", "job-page-view"} <= rules
    # the alias put the visitor's identify on the same person
    assert len({lead["person_id"] for lead in leads.values()}) == 1


def test_alias_merges_two_known_users(
    client: TestClient, write_key: str, reader: dict[str, str]
) -> None:
    keys = basic(write_key)
    for user, path in (("old-id", "/pricing"), ("new-id", "/services")):
        page = {"userId": user, "properties": {"path": path}, "timestamp": iso(NOW - 60)}
        client.post("/v1/page", json=page, headers=keys)
    assert len(client.get("/v1/leads", headers=reader).json()["items"]) == 2
    client.post("/v1/alias", json={"userId": "new-id", "previousId": "old-id"}, headers=keys)
    (lead,) = client.get("/v1/leads", headers=reader).json()["items"]
    detail = client.get(f"/v1/leads/{lead['id']}", headers=reader).json()
    assert {"pricing-page", "services-page"} <= {c["rule"] for c in detail["explanation"]}


def test_a_refused_batch_stores_nothing(client: TestClient, write_key: str) -> None:
    keys = basic(write_key)

    def refused(body: bytes | str, code: str, **headers: str) -> dict[str, Any]:
        answer = client.post("/v1/batch", content=body, headers={**keys, **headers})
        assert answer.status_code == 400, answer.text
        assert answer.json()["success"] is False
        assert answer.json()["code"] == code
        return dict(answer.json())

    refused('{"batch": [', "invalid_json")
    refused("[1, 2]", "invalid_json")
    refused('{"batch": {}}', "invalid_request")
    bad = journey()
    bad["batch"][2].pop("userId")
    answer = refused(json.dumps(bad), "invalid_request")
    assert answer["message"] == "$.batch[2]: userId or anonymousId is required"
    big = journey()
    big["batch"][1]["traits"]["notes"] = "x" * 33_000
    assert "$.batch[1]: over 32 KB" in refused(json.dumps(big), "too_large")["message"]
    huge = {"batch": [{**journey()["batch"][0], "properties": {"p": "x" * 30_000}}] * 18}
    assert "over 500 KB" in refused(json.dumps(huge), "too_large")["message"]
    many = {"batch": [journey()["batch"][0]] * 2501}
    refused(json.dumps(many), "too_large")
    refused(b"not gzip", "invalid_request", **{"Content-Encoding": "gzip"})
    bomb = gzip.compress(b'{"batch": [' + b" " * 600_000 + b"]}")
    refused(bomb, "too_large", **{"Content-Encoding": "gzip"})
    refused(b"{}", "invalid_request", **{"Content-Encoding": "br"})
    single = client.post("/v1/track", json={"userId": "u", "event": "x" * 40_000}, headers=keys)
    assert (single.status_code, single.json()["code"]) == (400, "too_large")
    assert stored(client) == 0


def test_a_gzipped_batch_is_read(client: TestClient, write_key: str) -> None:
    body = gzip.compress(json.dumps(journey()).encode())
    answer = client.post(
        "/v1/batch", content=body, headers={**basic(write_key), "Content-Encoding": "gzip"}
    )
    assert answer.json() == {"success": True}
    assert stored(client) == 3


def test_leadgrades_own_identify_still_answers_on_the_same_path(
    client: TestClient, reader: dict[str, str]
) -> None:
    admin = bearer(_key(client.app.state.engine, "admin"))  # type: ignore[attr-defined]
    named = client.post("/v1/identify", json={"email": "kim@acme.com"}, headers=admin)
    assert set(named.json()) == {"person_id"}
    invalid = client.post("/v1/identify", json={"traits": {}}, headers=admin)
    assert invalid.status_code == 422
    assert client.post("/v1/identify", json={"email": "kim@acme.com"}).status_code == 401
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/batch", "/v1/track", "/v1/page", "/v1/tracking/unmapped"} <= set(paths)
    assert "IdentifyBody" in json.dumps(paths["/v1/identify"])  # documented as leadgrade's


def test_unmapped_event_names_are_listed_for_the_marketer(
    client: TestClient, write_key: str, reader: dict[str, str]
) -> None:
    batch = {
        "batch": [
            {"type": "track", "userId": "u", "event": name, "timestamp": iso(NOW - i)}
            for i, name in enumerate(
                ["Video Played", "Chat Opened", "Video Played", "Form Submitted", "Video Played"]
            )
        ]
    }
    client.post("/v1/batch", json=batch, headers=basic(write_key))
    listed = client.get("/v1/tracking/unmapped", headers=reader)
    assert listed.json() == {
        "items": [
            {
                "event": "Video Played",
                "type": "track.video_played",
                "count": 3,
                "last_seen": iso(NOW),
            },
            {
                "event": "Chat Opened",
                "type": "track.chat_opened",
                "count": 1,
                "last_seen": iso(NOW - 1),
            },
        ]
    }
    assert "leadgrade_tracking_unmapped_total 4.0" in client.get("/metrics").text
    assert client.get("/v1/tracking/unmapped", headers=basic(write_key)).status_code == 401


def test_cors_for_the_firms_websites_only(client: TestClient) -> None:
    ask = {
        "Origin": "https://www.acme-staffing.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    preflight = client.options("/v1/batch", headers=ask)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://www.acme-staffing.com"
    other = client.options("/v1/batch", headers={**ask, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    # an answer to a simple request from the firm's site carries the header too
    posted = client.post("/v1/t", content="{}", headers={"Origin": ask["Origin"]})
    assert posted.headers["access-control-allow-origin"] == ask["Origin"]
    # nothing else is opened to browsers
    leads = client.get("/v1/leads", headers={"Origin": ask["Origin"]})
    assert "access-control-allow-origin" not in leads.headers


def test_no_cors_without_origins(store: Store, shipped_models: dict[str, Model]) -> None:
    with TestClient(create_app(_engine(store, shipped_models), clock=lambda: NOW)) as bare:
        answer = bare.post("/v1/t", content="{}", headers={"Origin": "https://a.example"})
        assert "access-control-allow-origin" not in answer.headers


def test_serve_maps_by_the_workspaces_tracking_section(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGRADE_DATABASE_URL", raising=False)
    workspace = Workspace.create(in_tmp / "firm")
    config = workspace.config_path
    text = config.read_text().replace("cors_origins = []", 'cors_origins = ["https://acme.com"]')
    config.write_text(text + '"Video Played" = "content.video_play"\n')
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.update(app=app))
    result = CliRunner().invoke(cli, ["serve", "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    app = served["app"]
    app.state.engine.store.close()
    settings = app.state.tracking.settings
    assert settings.cors_origins == ["https://acme.com"]
    assert settings.track_events()["Video Played"].type == "content.video_play"


# ---------------------------------------------------------------- the real client


class Server:
    """The app under uvicorn on a free port, in a thread, stopped at teardown."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none")
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def live(store: Store, shipped_models: dict[str, Model]) -> Iterator[tuple[str, str, Engine]]:
    """(host, write key, engine) of a running server; the server clock stands at NOW, so
    the client's times are corrected to it (Segment's sentAt arithmetic)."""
    engine = _engine(store, shipped_models)
    key = _key(engine, "ingest")
    with Server(create_app(engine, clock=lambda: NOW)) as host:
        yield host, key, engine
    segment_request._session.close()  # the client's pooled connections to this server


def lead_of(host: str, engine: Engine, email: str) -> dict[str, Any]:
    keys = bearer(_key(engine, "read"))
    with requests.Session() as http:
        items = http.get(f"{host}/v1/leads?limit=100", headers=keys).json()["items"]
        (lead,) = [item for item in items if item["email"] == email]
        return dict(http.get(f"{host}/v1/leads/{lead['id']}", headers=keys).json())


def test_the_real_client_sends_a_journey_that_becomes_one_scored_lead(
    live: tuple[str, str, Engine],
) -> None:
    host, key, engine = live
    errors: list[Exception] = []
    analytics = Client(
        key, host=host, upload_interval=0.05, on_error=lambda e, _batch: errors.append(e)
    )
    try:
        analytics.page(
            anonymous_id="visitor-7",
            name="Pricing",
            properties={"path": "/pricing", "url": "https://acme-staffing.com/pricing"},
        )
        analytics.flush()
        analytics.identify(
            "user-7",
            {"email": "morgan@northwind.com", "title": "Director of Talent Acquisition"},
            anonymous_id="visitor-7",
        )
        analytics.group(
            "user-7",
            "acct-northwind",
            {"name": "Northwind", "website": "https://www.Northwind-Logistics.com/about"},
        )
        analytics.track("user-7", "Form Submitted", {"form_name": "Consultation"})
        analytics.flush()
    finally:
        analytics.shutdown()
    assert errors == []

    lead = lead_of(host, engine, "morgan@northwind.com")
    assert lead["stage"] == "mql"
    # The explanation lists the rules that scored the page view and the form; the identify
    # scores nothing (no rule reads it), so it is in the timeline, not the explanation —
    # and it is why one lead holds all three: the anonymous view merged into the person.
    scored = {c["rule"]: c for c in lead["explanation"]}
    assert {"pricing-page", "consultation-request", "title-seniority"} <= set(scored)
    assert scored["pricing-page"]["points"] == pytest.approx(10, abs=0.01)
    assert scored["consultation-request"]["points"] == pytest.approx(40, abs=0.01)
    # (in the order of their corrected times: each batch's clock offset is its own)
    kinds = {t["type"] for t in lead["timeline"] if t["kind"] == "event"}
    assert kinds == {"web.page_view", "person.identify", "person.group", "form.submit"}
    assert all(NOW - 60 < t["at"] <= NOW for t in lead["timeline"])  # times on the server clock
    with engine.store.engine.connect() as conn:
        attributes = conn.scalar(
            sa.select(people.c.attributes).where(people.c.id == lead["person_id"])
        )
    assert {k: attributes[k] for k in ("company", "company_domain", "account_id")} == {
        "company": "Northwind",
        "company_domain": "northwind-logistics.com",
        "account_id": "acct-northwind",
    }
    # the group call named the employer account the lead rolls up to (not the e-mail's)
    with requests.Session() as http:
        found = http.get(f"{host}/v1/accounts", headers=bearer(_key(engine, "read"))).json()
    assert [(a["domain"], a["name"], a["contacts"]) for a in found["items"]] == [
        ("northwind-logistics.com", "Northwind", 1)
    ]


def test_a_client_retry_changes_nothing_and_refused_batches_store_nothing(
    live: tuple[str, str, Engine],
) -> None:
    host, key, engine = live
    offline = Client(key, host=host, send=False)  # builds messages as the client sends them
    batch = [
        offline.page(anonymous_id="v-8", properties={"path": "/services/it"})[1],
        offline.identify("u-8", {"email": "ari@contoso.com"}, anonymous_id="v-8")[1],
        offline.track("u-8", "Demo Requested")[1],
    ]
    segment_request.post(key, host, batch=batch)
    before = lead_of(host, engine, "ari@contoso.com")
    # the consumer's retry of the same batch, as a retry is sent (gzip, X-Retry-Count)
    answer = segment_request.post(key, host, gzip=True, retry_count=1, batch=batch)
    assert answer.json() == {"success": True}
    assert lead_of(host, engine, "ari@contoso.com") == before

    def count() -> int:
        with engine.store.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(events)) or 0

    assert count() == 3
    big = offline.track("u-9", "Job Applied", {"notes": "x" * 30_000})[1]
    with pytest.raises(APIError) as caught:
        segment_request.post(key, host, batch=[big] * 18)  # ~540 KB
    assert (caught.value.status, caught.value.code) == (400, "too_large")
    fresh = offline.track("u-9", "Job Applied")[1]
    with pytest.raises(APIError) as caught:
        segment_request.post(key, host, batch=[fresh, {"type": "track", "userId": "u-9"}])
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")
    with pytest.raises(APIError) as caught:
        segment_request.post("lg_bad_key", host, batch=batch)
    assert caught.value.status == 401
    with requests.Session() as http:
        malformed = http.post(f"{host}/v1/batch", data=b'{"batch": [', auth=(key, ""))
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_json")
    assert count() == 3


# ---------------------------------------------------------------------------- docs


def test_every_tracking_setting_and_default_mapping_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "tracking.md").read_text()
    missing = [f"`{name}`" for name in TrackingSection.model_fields if f"| `{name}` |" not in text]
    assert not missing, f"[tracking] keys missing from the table in docs/tracking.md: {missing}"
    rows = [f"| `{name}` | `{kind}` |" for name, kind in TRACK_EVENTS.items()]
    assert [row for row in rows if row not in text] == []

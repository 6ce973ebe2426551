from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from leadgrade.api import create_app
from leadgrade.engine import AudienceMap, AudienceRule, Engine
from leadgrade.keys import create_key
from leadgrade.store import Store

NOW = 1_790_812_800.0  # 2026-10-01T00:00:00Z


@pytest.fixture
def client(store: Store, shipped_models, template_lists) -> Iterator[TestClient]:
    engine = Engine(
        store,
        shipped_models,
        AudienceMap((AudienceRule("candidate", types=("job.*",)),), ("employer",)),
    )
    with TestClient(create_app(engine, clock=lambda: NOW, lists=template_lists)) as test_client:
        yield test_client


def token(client: TestClient, *scopes: str) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.store.transaction() as conn:
        _, secret = create_key(conn, "test " + "+".join(scopes), list(scopes), NOW)
    return {"Authorization": f"Bearer {secret}"}


def event(event_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": event_id,
        "type": "web.page_view",
        "occurred_at": "2026-09-30T10:00:00Z",
        "email": "ana@acme.com",
        "properties": {"path": "/pricing"},
    }
    body.update(overrides)
    return body


def test_keys_are_required_and_scoped(client: TestClient) -> None:
    assert client.post("/v1/events", json=event("e1")).status_code == 401
    bad = client.post("/v1/events", json=event("e1"), headers={"Authorization": "Bearer lg_x_y"})
    assert bad.status_code == 401
    reader = token(client, "read")
    refused = client.post("/v1/events", json=event("e1"), headers=reader)
    assert refused.status_code == 403
    assert "lacks the 'ingest' scope" in refused.json()["detail"]
    assert client.get("/v1/leads", headers=reader).status_code == 200
    assert client.get("/v1/leads", headers=token(client, "admin")).status_code == 200


def test_events_are_idempotent(client: TestClient) -> None:
    keys = token(client, "ingest")
    first = client.post("/v1/events", json=event("e1"), headers=keys)
    assert first.json() == {"accepted": 1, "duplicates": 0, "refused": 0, "valid": 1}
    batch = {"events": [event("e1"), event("e2", occurred_at="2026-09-30T11:00:00+02:00")]}
    assert client.post("/v1/events", json=batch, headers=keys).json() == {
        "accepted": 1,
        "duplicates": 1,
        "refused": 0,
        "valid": 2,
    }


def test_a_dry_run_checks_events_and_stores_nothing(client: TestClient) -> None:
    keys = token(client, "ingest")
    batch = {"events": [event("d1"), event("d2")]}
    answer = client.post("/v1/events?dry_run=true", json=batch, headers=keys)
    assert answer.json() == {"accepted": 0, "duplicates": 0, "refused": 0, "valid": 2}
    bad = client.post("/v1/events?dry_run=true", json=event("d3", type="Bad"), headers=keys)
    assert bad.status_code == 422
    assert client.post("/v1/events", json=batch, headers=keys).json()["accepted"] == 2


def test_concurrent_requests_each_get_their_own_counts(client: TestClient) -> None:
    """Requests arriving together are written as one group; each still learns how many
    of its own events were new, and an id sent by two requests counts once."""
    from concurrent.futures import ThreadPoolExecutor

    keys = token(client, "ingest")
    bodies = [
        {"events": [event(f"c{i}", email=f"p{i % 7}@acme.com"), event("shared")]} for i in range(40)
    ]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda b: client.post("/v1/events", json=b, headers=keys), bodies))
    counts = [answer.json() for answer in answers]
    assert all(answer.status_code == 200 for answer in answers)
    assert sum(c["accepted"] for c in counts) == 41  # 40 own events + "shared" once
    assert sum(c["duplicates"] for c in counts) == 39
    leads = client.get("/v1/leads?limit=100", headers=token(client, "read")).json()["items"]
    assert {lead["email"] for lead in leads} == {f"p{i}@acme.com" for i in range(7)} | {
        "ana@acme.com"
    }


def test_a_bad_batch_names_every_invalid_field_and_stores_nothing(client: TestClient) -> None:
    keys = token(client, "ingest", "read")
    batch = {
        "events": [
            event("ok"),
            event("bad-time", occurred_at="yesterday"),
            event("no-person", email=None),
            event("bad-type", type="Page View", colour="red"),
        ]
    }
    response = client.post("/v1/events", json=batch, headers=keys)
    assert response.status_code == 422
    paths = {p["path"] for p in response.json()["detail"]}
    assert {
        "$.events[1].occurred_at",
        "$.events[2]",
        "$.events[3].type",
        "$.events[3].colour",
    } <= paths
    everything = token(client, "admin")
    assert client.get("/v1/leads", headers=everything).json()["items"] == []


def test_wrong_content_type_size_and_json(client: TestClient) -> None:
    keys = token(client, "ingest")
    assert (
        client.post(
            "/v1/events",
            content=b"id=1",
            headers=keys | {"Content-Type": "application/x-www-form-urlencoded"},
        ).status_code
        == 415
    )
    huge = json.dumps(
        {"events": [event(f"e{i}", properties={"pad": "x" * 6000}) for i in range(900)]}
    )
    assert (
        client.post(
            "/v1/events", content=huge, headers=keys | {"Content-Type": "application/json"}
        ).status_code
        == 413
    )
    broken = client.post(
        "/v1/events", content=b"{", headers=keys | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["path"] == "$"
    too_many = {"events": [event(f"e{i}") for i in range(1001)]}
    assert client.post("/v1/events", json=too_many, headers=keys).status_code == 422


def test_mqls_come_with_explanations_that_add_up(client: TestClient) -> None:
    keys = token(client, "admin")
    traits = {"job_title": "VP Talent", "company_size": 900, "industry": "Software"}
    client.post(
        "/v1/events",
        headers=keys,
        json={
            "events": [
                event("p1"),
                event("p2", occurred_at="2026-09-29T10:00:00Z"),
                event("f1", type="form.submit", properties={"form": "consultation"}, traits=traits),
                event("x1", email="cy@mail.com"),
            ]
        },
    )
    page = client.get("/v1/leads", params={"stage": "mql"}, headers=keys).json()
    (item,) = page["items"]
    # fit 12 + 8 + 15 + 10 = 45 (A); engagement 20 + 40, a day or so decayed: just under 60 (2)
    assert (item["email"], item["stage"], item["grade"]) == ("ana@acme.com", "mql", "A2")
    lead = client.get(f"/v1/leads/{item['id']}", headers=keys).json()
    assert round(sum(c["points"] for c in lead["explanation"]), 2) == round(lead["score"], 2)
    assert [t["kind"] for t in lead["timeline"]].count("event") == 3
    assert [(t["from"], t["to"]) for t in lead["timeline"] if t["kind"] == "stage"] == [
        (None, "lead"),
        ("lead", "mql"),
    ]


def test_stage_moves_are_recorded_and_can_go_back(client: TestClient) -> None:
    keys = token(client, "admin")
    client.post("/v1/events", json=event("e1"), headers=keys)
    (item,) = client.get("/v1/leads", headers=keys).json()["items"]
    moved = client.post(
        f"/v1/leads/{item['id']}/stage",
        headers=keys,
        json={"stage": "sal", "reason": "accepted by Jo"},
    )
    assert moved.json() == {"id": item["id"], "from": "lead", "stage": "sal"}
    back = client.post(
        f"/v1/leads/{item['id']}/stage",
        headers=keys,
        json={"stage": "recycled", "reason": "no budget this year"},
    )
    assert back.json()["from"] == "sal"
    lead = client.get(f"/v1/leads/{item['id']}", headers=keys).json()
    stages = [(t["to"], t["actor"]) for t in lead["timeline"] if t["kind"] == "stage"]
    assert stages[-2:] == [("sal", "api-key:test admin"), ("recycled", "api-key:test admin")]
    assert (
        client.post(
            f"/v1/leads/{item['id']}/stage", headers=keys, json={"stage": "hot", "reason": "x"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/v1/leads/nope/stage", headers=keys, json={"stage": "sal", "reason": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/leads/{item['id']}/stage",
            headers=token(client, "read"),
            json={"stage": "sal", "reason": "x"},
        ).status_code
        == 403
    )


def test_leads_page_with_a_cursor(client: TestClient) -> None:
    keys = token(client, "admin")
    client.post(
        "/v1/events",
        headers=keys,
        json={"events": [event(f"e{i}", email=f"p{i}@acme.com") for i in range(5)]},
    )
    seen = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/leads", params=params, headers=keys).json()
        seen += [item["email"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p{i}@acme.com" for i in range(5)]
    assert client.get("/v1/leads", params={"grade": "Z9"}, headers=keys).status_code == 422


def test_a_cursor_names_the_last_lead_shown_so_new_leads_shift_nothing(
    client: TestClient,
) -> None:
    keys = token(client, "admin")
    for i in range(4):  # 1, 2, 3 pricing views (10 points each), then a demo request
        body = [event(f"k{i}-{j}", email=f"k{i}@acme.com") for j in range(min(i + 1, 3))]
        if i == 3:
            body.append(event("k3-demo", email="k3@acme.com", type="demo.request"))
        client.post("/v1/events", headers=keys, json={"events": body})
    first = client.get("/v1/leads", params={"limit": 2}, headers=keys).json()
    assert [item["email"] for item in first["items"]] == ["k3@acme.com", "k2@acme.com"]
    # A new top lead arrives between the pages: an offset would show k2 again.
    top = [event(f"top{j}", email="top@acme.com", type="demo.request") for j in range(2)]
    top.append(event("top-form", email="top@acme.com", type="form.submit"))
    top[-1]["properties"] = {"form": "consultation"}
    client.post("/v1/events", headers=keys, json={"events": top})
    second = client.get(
        "/v1/leads", params={"limit": 2, "cursor": first["next"]}, headers=keys
    ).json()
    assert [item["email"] for item in second["items"]] == ["k1@acme.com", "k0@acme.com"]
    assert second["next"] is None
    wrong = client.get("/v1/leads", params={"sort": "fit", "cursor": first["next"]}, headers=keys)
    assert wrong.status_code == 422
    assert "sort=score" in wrong.json()["detail"][0]["message"]
    junk = client.get("/v1/leads", params={"cursor": "%%%"}, headers=keys)
    assert junk.status_code == 422
    assert junk.json()["detail"][0]["path"] == "query:$.cursor"


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["revision"] == Store.head()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/events", "/v1/leads", "/v1/leads/{lead_id}", "/v1/leads/{lead_id}/stage"} <= set(
        paths
    )


def test_identify_merges_the_visitor_and_refits(client: TestClient) -> None:
    keys = token(client, "admin")
    client.post(
        "/v1/events",
        headers=keys,
        json={
            "events": [
                event("v1", email=None, anonymous_id="anon-5"),
                event("v2", email=None, anonymous_id="anon-5", occurred_at="2026-09-30T11:00:00Z"),
            ]
        },
    )
    (before,) = client.get("/v1/leads", headers=keys).json()["items"]
    assert (before["email"], before["fit"]) == (None, 0)
    named = client.post(
        "/v1/identify",
        headers=keys,
        json={
            "anonymous_id": "anon-5",
            "email": "lee@acme.com",
            "traits": {"job_title": "Director of Talent", "company_size": 300},
        },
    )
    assert named.status_code == 200
    (after,) = client.get("/v1/leads", headers=keys).json()["items"]
    assert after["person_id"] == named.json()["person_id"]
    assert (after["email"], after["fit"]) == ("lee@acme.com", 10 + 8 + 15)
    assert after["engagement"] == pytest.approx(before["engagement"])  # the visits count
    assert client.post("/v1/identify", headers=keys, json={"traits": {}}).status_code == 422


def test_put_person_replaces_attributes_and_rescores_fit(client: TestClient) -> None:
    keys = token(client, "admin")
    client.post("/v1/events", json=event("e1"), headers=keys)
    (lead,) = client.get("/v1/leads", headers=keys).json()["items"]
    put = client.put(
        f"/v1/people/{lead['person_id']}",
        headers=keys,
        json={"attributes": {"email": "ana@acme.com", "job_title": "VP Talent"}},
    )
    assert put.status_code == 200
    (after,) = client.get("/v1/leads", headers=keys).json()["items"]
    assert after["fit"] == 20
    assert client.put("/v1/people/nobody", headers=keys, json={"attributes": {}}).status_code == 404
    assert (
        client.put(
            f"/v1/people/{lead['person_id']}",
            headers=token(client, "ingest"),
            json={"attributes": {}},
        ).status_code
        == 403
    )


def test_model_versions_over_the_api(client: TestClient) -> None:
    from leadgrade.workspace import TEMPLATE

    admin, reader = token(client, "admin"), token(client, "read")
    text = (__import__("pathlib").Path(str(TEMPLATE)) / "models" / "employer.yaml").read_text()
    client.post("/v1/events", json=event("e1"), headers=admin)
    bad = client.post("/v1/models", headers=admin, json={"yaml": "audience: employer\nfit: 1\n"})
    assert bad.status_code == 422
    assert any(p["key"] == "fit" and p["line"] == 2 for p in bad.json()["detail"])
    assert client.post("/v1/models", headers=reader, json={"yaml": text}).status_code == 403
    generous = text.replace(
        "      points: 10\n      cap: {points: 30, per: 30d}",
        "      points: 25\n      cap: {points: 75, per: 30d}",
    )
    created = client.post("/v1/models", headers=admin, json={"yaml": generous})
    assert created.status_code == 201
    version = created.json()
    assert version["status"] == "draft"
    listed = client.get("/v1/models", headers=reader).json()["items"]
    assert version["id"] in {v["id"] for v in listed}
    done = client.post(f"/v1/models/{version['id']}/activate", headers=admin).json()
    assert (done["version"]["status"], done["rescored"]) == ("active", 1)
    (lead,) = client.get("/v1/leads", headers=reader).json()["items"]
    assert lead["engagement"] == pytest.approx(25, abs=0.2)  # one pricing view, now worth 25
    assert client.post("/v1/models/nope/activate", headers=admin).status_code == 404


def test_metrics_in_prometheus_text(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    keys = token(client, "admin")
    client.post("/v1/events", headers=keys, json={"events": [event("e1"), event("e2")]})
    client.post("/v1/events", headers=keys, json=event("e1"))
    text = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("leadgrade_leads", (("audience", "employer"), ("stage", "lead")))] == 1
    assert samples[("leadgrade_events_total", (("outcome", "accepted"),))] == 2
    assert samples[("leadgrade_events_total", (("outcome", "duplicate"),))] == 1


def test_leads_sort_by_fit_engagement_or_last_change(client: TestClient) -> None:
    keys = token(client, "admin")
    client.post(
        "/v1/events",
        headers=keys,
        json={
            "events": [
                event("a", email="fit@acme.com", traits={"job_title": "VP Talent"}),
                event("b", email="busy@acme.com"),
                event("c", email="busy@acme.com", type="demo.request", properties={}),
            ]
        },
    )

    def order(sort: str) -> list[str]:
        page = client.get("/v1/leads", params={"sort": sort}, headers=keys).json()
        return [item["email"] for item in page["items"]]

    assert order("fit") == ["fit@acme.com", "busy@acme.com"]
    assert order("engagement") == ["busy@acme.com", "fit@acme.com"]
    assert order("score") == ["busy@acme.com", "fit@acme.com"]  # 50 engagement vs 20 + 10
    assert client.get("/v1/leads", params={"sort": "name"}, headers=keys).status_code == 422

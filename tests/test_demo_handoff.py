"""Issue #4's Done-when, end to end: in a demo workspace served by ``leadgrade serve``, an
event that makes a new lead an MQL gets it an owner (per routing.yaml), a Slack message
that reaches a local receiver within a second of the POST returning, and a running SLA
clock; sales' feedback through the API moves it to ``sal`` (accept) or ``recycled``
(reject, with a reason code), each with the reason on its timeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from leadgrade.cli import app
from tests.receivers import Delivery, HttpReceiver, free_port

T = TypeVar("T")
runner = CliRunner()
#: Smaller than ``--scale small`` (0.03): a few accounts and their MQLs, built in seconds.
SCALE = "0.01"
#: A talent VP asking for a demo: an employer MQL at once under the shipped model (fit 35
#: from title and company size, engagement 40: score 75 against an MQL threshold of 65).
VP_TALENT = {"job_title": "VP Talent"}
GROWTH = {"priya", "sam"}  # the template routing.yaml's team for employers under 1,000
ENTERPRISE = {"maya", "jordan"}  # … and for 1,000 and more
DAY = 86_400.0


class TimedReceiver(HttpReceiver):
    """The outbox tests' receiver, noting when each delivery arrived (monotonic clock)."""

    def __init__(self) -> None:
        self.arrived: list[tuple[float, Delivery]] = []
        super().__init__()

    def _take(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        at = time.monotonic()
        status = super()._take(path, headers, body)
        if status == 200:
            with self.lock:
                self.arrived.append((at, Delivery(path, headers, body)))
        return status


@dataclass(frozen=True)
class Served:
    root: Path
    base: str
    headers: dict[str, str]
    receiver: TimedReceiver


def _env() -> dict[str, str]:
    # The workspace's own store and settings: no LEADGRADE_* override from the test run.
    return {k: v for k, v in os.environ.items() if not k.startswith("LEADGRADE_")}


def _eventually(probe: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns something, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A small demo firm, with a Slack destination pointing at a local receiver, served
    by ``leadgrade serve`` (a subprocess) with the shipped defaults otherwise."""
    root = tmp_path_factory.mktemp("handoff") / "firm"
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LEADGRADE_")}
    built = runner.invoke(app, ["demo", str(root), "--no-serve", "--scale", SCALE], env=unset)
    assert built.exit_code == 0, built.output
    scopes = ["--scope", "ingest", "--scope", "read", "--scope", "write"]
    key = runner.invoke(
        app, ["keys", "create", "--workspace", str(root), "--name", "sales", *scopes], env=unset
    )
    assert key.exit_code == 0, key.output
    receiver = TimedReceiver()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (root / "leadgrade.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[notifications]\nbase_url = "{base}"\n\n'
            f'[[notifications.slack]]\nname = "sales-channel"\n'
            f'webhook_url = "{receiver.url("/slack/sales-channel")}"\nevents = ["lead.mql"]\n'
        )
    log = root / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leadgrade",
                "serve",
                "--workspace",
                str(root),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=output,
            env=_env(),
        )
    try:

        def healthy() -> bool | None:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200 or None
            except httpx.TransportError:
                return None

        _eventually(healthy, "leadgrade serve to answer", timeout=60)
        yield Served(root, base, {"Authorization": f"Bearer {key.stdout.strip()}"}, receiver)
    finally:
        server.terminate()
        server.wait(timeout=20)
        receiver.stop()


def make_mql(served: Served, company_size: int) -> tuple[str, float]:
    """Post the one event that makes a new person (at a new company) an MQL; returns the
    lead's id and the moment the POST returned."""
    tag = uuid.uuid4().hex[:10]
    email = f"vp.{tag}@firm-{tag}.example"
    body = {
        "id": f"handoff-{tag}",
        "type": "demo.request",
        "occurred_at": datetime.now(UTC).isoformat(),
        "email": email,
        "traits": VP_TALENT | {"company": f"Firm {tag}", "company_size": company_size},
    }
    posted = httpx.post(f"{served.base}/v1/events", json=body, headers=served.headers)
    returned = time.monotonic()
    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == 1
    newest = httpx.get(
        f"{served.base}/v1/leads", params={"sort": "updated", "limit": 20}, headers=served.headers
    ).json()["items"]
    (lead,) = [item for item in newest if item["email"] == email]
    return lead["id"], returned


def lead(served: Served, lead_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{served.base}/v1/leads/{lead_id}", headers=served.headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def slack_message(served: Served, lead_id: str, timeout: float = 10.0) -> tuple[float, Any]:
    """When the Slack message about ``lead_id`` arrived, and its body."""

    def probe() -> tuple[float, Any] | None:
        with served.receiver.lock:
            for at, delivery in served.receiver.arrived:
                if delivery.path == "/slack/sales-channel" and lead_id in delivery.body.decode():
                    return at, delivery.json
        return None

    return _eventually(probe, f"the Slack message about {lead_id}", timeout)


def feedback(served: Served, lead_id: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{served.base}/v1/leads/{lead_id}/feedback", json=body, headers=served.headers
    )


def stage_entries(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [item for item in found["timeline"] if item["kind"] == "stage"]


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_new_mql_is_assigned_announced_on_slack_within_a_second_and_on_the_clock(
    served: Served,
) -> None:
    lead_id, returned = make_mql(served, company_size=800)
    arrived, body = slack_message(served, lead_id)
    assert arrived - returned < 1.0, f"the Slack message came {arrived - returned:.3f} s after"

    found = lead(served, lead_id)
    assert (found["stage"], found["mql"]) == ("mql", True)
    # fit B (35); engagement 40 from the demo request, decaying from the moment it happened
    assert re.fullmatch("B[23]", found["grade"])
    handoff = found["handoff"]
    # routing.yaml: no account owner yet, under 1,000 employees → the growth team's rotation
    assert (handoff["team"], handoff["rule"]) == ("growth", "employers")
    assert handoff["owner"] in GROWTH
    assert found["owner"] == handoff["owner"]
    assignments = [i for i in found["timeline"] if i["kind"] == "assignment"]
    assert [(a["owner"], a["rule"]) for a in assignments] == [(handoff["owner"], "employers")]

    # the SLA clock runs: a B lead's first touch is due a day after the assignment
    assert handoff["status"] == "running"
    assert seconds(handoff["due_at"]) - seconds(handoff["assigned_at"]) == DAY
    assert 0 < handoff["seconds_left"] <= DAY
    assert handoff["touched_at"] is None

    # Slack's format: Block Kit blocks and the plain text, naming the lead and its owner
    assert isinstance(body["blocks"], list)
    assert body["blocks"][0]["type"] == "header"
    assert re.fullmatch(r"New MQL · B[23] · score 7\d(\.\d+)?", body["blocks"][0]["text"]["text"])
    fields = [
        f["text"] for b in body["blocks"] if b["type"] == "section" for f in b.get("fields", [])
    ]
    owner_name = {"priya": "Priya Nair", "sam": "Sam Okafor"}[handoff["owner"]]
    assert f"*Owner*\n{owner_name}" in fields
    assert "*Team*\ngrowth" in fields
    assert body["text"].startswith(f"New MQL: employer lead {lead_id} (grade B")
    assert body["text"].endswith(f"{served.base}/v1/leads/{lead_id}")
    notes = [i for i in found["timeline"] if i["kind"] == "notification"]
    assert [(n["type"], n["destination"]) for n in notes] == [("lead.mql", "sales-channel")]


def test_accepting_an_mql_moves_it_to_sal_with_the_reason_on_its_timeline(
    served: Served,
) -> None:
    lead_id, _ = make_mql(served, company_size=2500)
    slack_message(served, lead_id)
    before = lead(served, lead_id)
    assert before["handoff"]["rule"] == "enterprise-employers"  # 1,000 or more employees
    assert before["handoff"]["owner"] in ENTERPRISE

    answer = feedback(served, lead_id, decision="accept")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["from"], answer.json()["stage"]) == ("mql", "sal")

    found = lead(served, lead_id)
    assert found["stage"] == "sal"
    last = stage_entries(found)[-1]
    assert (last["from"], last["to"], last["reason"]) == ("mql", "sal", "accepted")
    assert last["actor"] == "api-key:sales"
    assert found["handoff"]["owner"] == before["handoff"]["owner"]  # still theirs to work
    again = feedback(served, lead_id, decision="accept")
    assert again.status_code == 409  # only an MQL can be accepted


def test_rejecting_an_mql_with_a_reason_code_recycles_it_with_the_reason_on_its_timeline(
    served: Served,
) -> None:
    lead_id, _ = make_mql(served, company_size=800)
    slack_message(served, lead_id)

    unknown = feedback(served, lead_id, decision="reject", reason="too-expensive")
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["path"] == "$.reason"
    assert lead(served, lead_id)["stage"] == "mql"  # a refused answer changes nothing

    answer = feedback(
        served, lead_id, decision="reject", reason="no-budget", details={"note": "next year"}
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["stage"], answer.json()["reason"]) == ("recycled", "no-budget")

    found = lead(served, lead_id)
    assert found["stage"] == "recycled"
    last = stage_entries(found)[-1]
    assert (last["from"], last["to"]) == ("mql", "recycled")
    assert last["reason"] == "rejected: no-budget (next year)"

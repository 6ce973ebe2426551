"""Benchmark the handoff (issue #4): event → MQL → notification delivered to a local
receiver, p50/p99 over 1,000 MQLs; the target is a p99 under 2 s.

A fresh workspace (``leadgrade init``) gets a ``[notifications]`` section with a Slack
destination and a signed webhook destination (``events = ["lead.mql"]``), both pointing
at a receiver in this process: a threaded HTTP server that records the arrival time of
each message and checks every webhook signature with the ``standardwebhooks`` library.
``leadgrade serve`` runs on the workspace as a subprocess. Client threads send
``--mqls`` single-event ``POST /v1/events``, paced at ``--rate`` a second, each a new
person whose one event (``demo.request`` from a "VP Talent" at an 800-person company)
makes them an MQL under the shipped employer model. A message's latency is its arrival
at the receiver less the moment its POST was sent; messages are matched to sends by the
lead id they carry and the lead ids the store holds afterwards.

Baselines, from the same run: the latency of ``POST /v1/events`` itself (sent → answer
read), and the floor of one hop — a plain HTTP POST from the same client thread straight
to the same receiver, right after each event's answer. The worker looks at the outbox
every ``[notifications] poll`` seconds; ``--poll default,0.1`` adds a run with another
value. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ingest_bench import (
    BenchError,
    Row,
    _child_env,
    _cpu_seconds,
    _quantile,
    _verdict,
    _wait_healthy,
    free_port,
    machine_info,
)
from leadgrade.store.schema import events, leads, outbox
from leadgrade.times import epoch
from leadgrade.workspace import Workspace

HERE = Path(__file__).resolve().parent
TARGET_P99 = 2.0  # seconds, event sent → message delivered
SECRET = "whsec_" + base64.b64encode(b"leadgrade-handoff-bench-secret!!").decode()
#: One event that makes a new person an employer MQL under the shipped model: fit 35
#: (title seniority 12, talent function 8, company size 15) + engagement 40 ≥ 65.
EVENT_TYPE = "demo.request"
TRAITS: dict[str, object] = {"job_title": "VP Talent", "company_size": 800}


# ----------------------------------------------------------------------------- receiver


@dataclass
class Arrivals:
    """What reached the receiver, with perf_counter times (this process's clock)."""

    slack: list[tuple[float, str]] = field(default_factory=list)  # (at, lead id)
    webhook: list[tuple[float, str, str]] = field(default_factory=list)  # (at, lead, id)
    direct: dict[int, float] = field(default_factory=dict)  # send number → at
    rejected: int = 0  # webhooks whose signature failed
    malformed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len({lead for _, lead in self.slack}), len({i for _, _, i in self.webhook})


def _slack_lead(body: Any) -> str:
    """The lead id of a Slack incoming-webhook body: Block Kit ``blocks`` and a ``text``;
    the lead's link (the button's URL) ends with its id."""
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ValueError("no text")
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("no blocks")
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            url = element.get("url", "")
            if "/v1/leads/" in url:
                return str(url.rsplit("/", 1)[1])
    raise ValueError("no link to the lead")


class Receiver:
    """Slack at ``/slack``, signed webhooks at ``/hooks``, the baseline at ``/direct/N``.
    HTTP/1.1 with keep-alive, as a real receiver (and the outbox's client pool) has it."""

    def __init__(self) -> None:
        self.arrivals = Arrivals()
        self.verifier = Webhook(SECRET)
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self, path: str, headers: dict[str, str], body: bytes, at: float) -> int:
        got = self.arrivals
        try:
            if path.startswith("/direct/"):
                with got.lock:
                    got.direct[int(path.rsplit("/", 1)[1])] = at
                return 200
            if path == "/hooks":
                try:
                    message = self.verifier.verify(body, headers)
                except WebhookVerificationError:
                    with got.lock:
                        got.rejected += 1
                    return 401
                with got.lock:
                    got.webhook.append((at, message["data"]["lead_id"], headers["webhook-id"]))
                return 200
            if path == "/slack":
                lead = _slack_lead(json.loads(body))
                with got.lock:
                    got.slack.append((at, lead))
                return 200
        except (ValueError, KeyError, TypeError) as exc:
            with got.lock:
                got.malformed.append(f"{path}: {type(exc).__name__}: {exc}")
            return 400
        return 404


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer's head and body go out as two writes; with Nagle's algorithm the
        # body waits for the sender's delayed ACK (40 ms on Linux) on a kept-alive
        # connection. A receiver that answers at once is what this bench wants to time.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            at = time.perf_counter()  # the whole message is here
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.take(self.path, headers, body, at)
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -------------------------------------------------------------------------------- load


@dataclass
class Send:
    n: int
    event_id: str
    sent: float = math.nan  # perf_counter when the POST was sent
    answered: float = math.nan  # its answer read
    status: int = 0
    direct_sent: float = math.nan  # the baseline POST to the receiver
    late: float = 0.0  # seconds behind the schedule


def event_body(event_id: str, tag: str, n: int) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "id": event_id,
            "type": EVENT_TYPE,
            "occurred_at": now,
            "email": f"buyer.{n}@{tag}-co{n}.example",  # a new person at a new company
            "traits": TRAITS | {"company": f"Bench Co {n}"},
        },
        separators=(",", ":"),
    ).encode()


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn.request("POST", path, body, {"content-type": "application/json", **headers})
    answer = conn.getresponse()
    answer.read()
    return answer.status


def send_all(
    sends: list[Send],
    tag: str,
    port: int,
    token: str,
    receiver: Receiver,
    rate: float,
    clients: int,
) -> float:
    """Send every event on a schedule (send n is due ``n / rate`` seconds after the
    start; a client behind schedule sends at once), each followed by the baseline POST
    straight to the receiver. Returns the wall time."""
    queue = iter(sends)
    lock = threading.Lock()
    failure: list[BaseException] = []
    start = time.perf_counter() + 0.05
    auth = {"authorization": f"Bearer {token}"}

    def client() -> None:
        api = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        hop = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=60)
        try:
            while True:
                with lock:
                    send = next(queue, None)
                if send is None:
                    return
                due = start + send.n / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                body = event_body(send.event_id, tag, send.n)
                send.sent = time.perf_counter()
                send.late = max(0.0, send.sent - due)
                send.status = _post(api, "/v1/events", body, auth)
                send.answered = time.perf_counter()
                send.direct_sent = time.perf_counter()
                _post(hop, f"/direct/{send.n}", b'{"ping":1}', {})
        except BaseException as exc:  # reported by the caller
            failure.append(exc)
        finally:
            api.close()
            hop.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failure:
        raise BenchError(f"a client failed: {failure[0]!r}")
    return time.perf_counter() - start


# --------------------------------------------------------------------------------- run


def _leadgrade(*argv: str, log: Path) -> str:
    """Run a leadgrade command as a user would; its stdout."""
    exe = Path(sys.executable).with_name("leadgrade")
    with log.open("ab") as err:
        done = subprocess.run(
            [str(exe), *argv], stdout=subprocess.PIPE, stderr=err, env=_child_env(), check=False
        )
    if done.returncode != 0:
        raise BenchError(f"`leadgrade {' '.join(argv)}` exited with {done.returncode}; see {log}")
    return done.stdout.decode().strip()


def notifications_toml(receiver: Receiver, poll: float | None) -> str:
    lines = ["", "[notifications]"]
    if poll is not None:
        lines.append(f"poll = {poll!r}")
    return "\n".join(
        [
            *lines,
            "",
            "[[notifications.slack]]",
            'name = "sales-channel"',
            f'webhook_url = "{receiver.url("/slack")}"',
            'events = ["lead.mql"]',
            "",
            "[[notifications.webhooks]]",
            'name = "crm"',
            f'url = "{receiver.url("/hooks")}"',
            f'secret = "{SECRET}"',
            'events = ["lead.mql"]',
            "",
        ]
    )


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _stats(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": _quantile(ordered, 0.50),
        "p90": _quantile(ordered, 0.90),
        "p99": _quantile(ordered, 0.99),
        "max": ordered[-1] if ordered else math.nan,
    }


def lead_ids(root: Path, event_ids: list[str]) -> dict[str, tuple[str, str]]:
    """event id → (the employer lead of its person, that lead's stage), from the store."""
    store = Workspace(root).open_store()
    found: dict[str, tuple[str, str]] = {}
    try:
        with store.engine.connect() as conn:
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                query = (
                    sa.select(events.c.id, leads.c.id, leads.c.stage)
                    .join(leads, leads.c.person_id == events.c.person_id)
                    .where(events.c.id.in_(chunk), leads.c.audience == "employer")
                )
                found.update({e: (lead, stage) for e, lead, stage in conn.execute(query)})
    finally:
        store.close()
    return found


def outbox_rows(root: Path) -> dict[tuple[str, str], Any]:
    """(destination, lead id) → its lead.mql message's outbox row."""
    store = Workspace(root).open_store()
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    outbox.c.destination,
                    outbox.c.lead_id,
                    outbox.c.status,
                    outbox.c.attempts,
                    outbox.c.created_at,
                    outbox.c.delivered_at,
                    outbox.c.last_error,
                ).where(outbox.c.event_type == "lead.mql")
            ).all()
    finally:
        store.close()
    return {(row.destination, row.lead_id): row for row in rows}


def run_once(args: argparse.Namespace, tmp: Path, out: Path, poll: float | None) -> dict[str, Any]:
    label = "default" if poll is None else f"{poll:g}"
    root = tmp / f"workspace-poll-{label}"
    log = out / f"handoff-serve-poll-{label}.log"
    log.unlink(missing_ok=True)
    receiver = Receiver()
    try:
        _leadgrade("init", str(root), log=log)
        with (root / "leadgrade.toml").open("a", encoding="utf-8") as config:
            config.write(notifications_toml(receiver, poll))
        used_poll = Workspace(root).settings().notifications.poll
        token = _leadgrade(
            "keys", "create", "--workspace", str(root), "--name", "bench", "--scope", "ingest",
            log=log,
        )  # fmt: skip
        port = free_port()
        argv = ["serve", "--workspace", str(root), "--port", str(port)]
        print(
            f"poll {used_poll:g} s ({'the default' if poll is None else 'set'}): "
            f"`leadgrade serve` on port {port}, receiver on {receiver.port}",
            flush=True,
        )
        exe = Path(sys.executable).with_name("leadgrade")
        with log.open("ab") as log_file:
            server = subprocess.Popen(
                [str(exe), *argv], stdout=log_file, stderr=subprocess.STDOUT, env=_child_env()
            )
            try:
                _wait_healthy(port, server, log)
                result = _measure(args, receiver, port, token, label, server.pid)
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        sends: list[Send] = result.pop("sends")
        return _summarise(args, root, receiver, sends, result) | {
            "poll": used_poll,
            "poll_is_default": poll is None,
        }
    finally:
        receiver.close()


def _measure(
    args: argparse.Namespace,
    receiver: Receiver,
    port: int,
    token: str,
    label: str,
    server_pid: int,
) -> dict[str, Any]:
    tag = f"hb{label.replace('.', '')}"
    got = receiver.arrivals
    if args.warmup:
        # Warm-up (not measured): the first requests import and cache; their messages
        # must arrive, or the event is no MQL or delivery does not work.
        warm = [Send(n, f"{tag}-warm-{n}") for n in range(args.warmup)]
        send_all(warm, f"{tag}w", port, token, receiver, args.rate, args.clients)
        if not _wait_for(lambda: got.counts() == (args.warmup, args.warmup), 30):
            raise BenchError(
                f"warm-up: {got.counts()} of {args.warmup} messages (Slack, webhook) arrived "
                f"in 30 s (rejected signatures: {got.rejected}; malformed: {got.malformed[:3]})"
            )
        with got.lock:
            got.slack.clear()
            got.webhook.clear()
            got.direct.clear()
        print(f"  warm-up: {args.warmup} MQLs sent and delivered", flush=True)
    sends = [Send(n, f"{tag}-{n}") for n in range(args.mqls)]
    cpu_began, began = _cpu_seconds(server_pid), time.perf_counter()
    seconds = send_all(sends, tag, port, token, receiver, args.rate, args.clients)
    print(
        f"  sent {len(sends):,} events in {seconds:.1f} s ({len(sends) / seconds:,.1f}/s)",
        flush=True,
    )
    drained = _wait_for(lambda: got.counts() == (args.mqls, args.mqls), args.drain_timeout)
    busy = {
        "server_cpu_seconds": _cpu_seconds(server_pid) - cpu_began,
        "busy_seconds": time.perf_counter() - began,
    }
    time.sleep(args.settle)  # any late duplicate shows up in the counts
    return {"sends": sends, "send_seconds": seconds, "drained": drained} | busy


def _summarise(
    args: argparse.Namespace,
    root: Path,
    receiver: Receiver,
    sends: list[Send],
    result: dict[str, Any],
) -> dict[str, Any]:
    statuses = Counter(s.status for s in sends)
    if statuses != {200: len(sends)}:
        raise BenchError(f"answers other than 200 to the events: {dict(statuses)}")
    mapped = lead_ids(root, [s.event_id for s in sends])
    stages = Counter(stage for _, stage in mapped.values())
    if len(mapped) != len(sends) or stages["mql"] != len(sends):
        raise BenchError(
            f"{len(sends):,} events sent, {len(mapped):,} employer leads found, stages "
            f"{dict(stages)}: the bench's event must make each new person an MQL"
        )
    got = receiver.arrivals
    first_slack: dict[str, float] = {}
    for at, lead in got.slack:
        first_slack[lead] = min(at, first_slack.get(lead, math.inf))
    first_hook: dict[str, float] = {}
    for at, lead, _ in got.webhook:
        first_hook[lead] = min(at, first_hook.get(lead, math.inf))
    per_id = Counter(message_id for _, _, message_id in got.webhook)
    slack_per_lead = Counter(lead for _, lead in got.slack)
    ours = {lead for lead, _ in mapped.values()}
    latency: dict[str, list[float]] = {"slack": [], "webhook": [], "after_answer": []}
    for send in sends:
        lead = mapped[send.event_id][0]
        if lead in first_slack:
            latency["slack"].append(first_slack[lead] - send.sent)
        if lead in first_hook:
            latency["webhook"].append(first_hook[lead] - send.sent)
            latency["after_answer"].append(first_hook[lead] - send.answered)
    direct = [got.direct[s.n] - s.direct_sent for s in sends if s.n in got.direct]
    # Where the time went, from the outbox: queued (in the MQL's transaction) → claimed by
    # the pass that delivered it (its delivered_at is that pass's start) → arrived.
    rows = outbox_rows(root)
    wall = time.time() - time.perf_counter()  # perf_counter → epoch seconds
    arrived = {"sales-channel": first_slack, "crm": first_hook}
    waited, sending, attempts, errors = [], [], Counter(), Counter()
    passes: Counter[float] = Counter()  # messages delivered by each pass, by its start
    for (destination, lead), row in rows.items():
        if lead not in ours:
            continue
        attempts[row.attempts] += 1
        if row.last_error:
            errors[row.last_error[:80]] += 1
        if row.delivered_at is not None and lead in arrived.get(destination, {}):
            claimed = epoch(row.delivered_at)
            passes[claimed] += 1
            waited.append(claimed - epoch(row.created_at))
            sending.append(arrived[destination][lead] + wall - claimed)
    request = [s.answered - s.sent for s in sends]
    delivered = {
        "slack_messages": len(got.slack),
        "slack_leads": len(set(slack_per_lead) & ours),
        "slack_twice": sum(1 for n in slack_per_lead.values() if n > 1),
        "webhook_messages": len(got.webhook),
        "webhook_ids": len(per_id),
        "webhook_ids_twice": sum(1 for n in per_id.values() if n > 1),
        "webhook_leads": len(set(first_hook) & ours),
        "foreign": len((set(first_slack) | set(first_hook)) - ours),
        "rejected_signatures": got.rejected,
        "malformed": got.malformed[:10],
    }
    return {
        "mqls": len(sends),
        "rate": args.rate,
        "clients": args.clients,
        "achieved_rate": len(sends) / result["send_seconds"],
        "max_late": max(s.late for s in sends),
        "drained": result["drained"],
        "server_cpu_seconds": result["server_cpu_seconds"],
        "busy_seconds": result["busy_seconds"],
        "send_seconds": result["send_seconds"],
        "delivered": delivered,
        "slack": _stats(latency["slack"]),
        "webhook": _stats(latency["webhook"]),
        "webhook_after_answer": _stats(latency["after_answer"]),
        "direct": _stats(direct),
        "request": _stats(request),
        "outbox": {
            "messages": sum(attempts.values()),
            "attempts": {str(k): v for k, v in sorted(attempts.items())},
            "errors": dict(errors.most_common(5)),
            "queued_to_pass": _stats(waited),
            "pass_to_arrival": _stats(sending),
            "passes": len(passes),
            "messages_per_pass": _stats(list(passes.values())),
            "between_passes": _stats([b - a for a, b in itertools.pairwise(sorted(passes))]),
        },
    }


# ------------------------------------------------------------------------------ report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def _four(stats: dict[str, float]) -> str:
    return " / ".join(_ms(stats[q]) for q in ("p50", "p90", "p99", "max"))


def exactly_once(run: dict[str, Any]) -> bool:
    got, n = run["delivered"], run["mqls"]
    return (
        got["slack_leads"] == n
        and got["slack_messages"] == n
        and got["webhook_ids"] == n
        and got["webhook_messages"] == n
        and got["webhook_leads"] == n
        and not got["rejected_signatures"]
        and not got["malformed"]
    )


def report_rows(run: dict[str, Any]) -> list[Row]:
    direct, request = run["direct"], run["request"]
    rows = []
    for name, key in (("Slack", "slack"), ("webhook", "webhook")):
        stats = run[key]
        complete = stats["count"] == run["mqls"]
        rows.append(
            Row(
                f"{name}: event sent → delivered, p50 / p90 / p99 / max",
                _four(stats),
                f"one hop {_four(direct)}",
                f"p99 < {TARGET_P99:g} s",
                _verdict(complete and stats["p99"] < TARGET_P99),
            )
        )
        rows.append(
            Row(
                f"{name}: ratio to one hop, p50 / p99",
                f"{stats['p50'] / direct['p50']:,.0f}× / {stats['p99'] / direct['p99']:,.0f}×",
                "",
                "(info)",
                "",
            )
        )
        rows.append(
            Row(
                f"{name}: ratio to the /v1/events request, p50 / p99",
                f"{stats['p50'] / request['p50']:,.1f}× / {stats['p99'] / request['p99']:,.1f}×",
                "",
                "(info)",
                "",
            )
        )
    after = run["webhook_after_answer"]
    rows.append(
        Row(
            "webhook: answer read → delivered, p50 / p99",
            f"{_ms(after['p50'])} / {_ms(after['p99'])}",
            "",
            "(info)",
            "",
        )
    )
    box = run["outbox"]
    for label, key in (
        ("queued → its pass starts", "queued_to_pass"),
        ("pass starts → arrival", "pass_to_arrival"),
    ):
        rows.append(
            Row(
                f"outbox: {label}, p50 / p90 / p99 / max",
                _four(box[key]),
                "",
                "(info)",
                "",
            )
        )
    gaps, per = box["between_passes"], box["messages_per_pass"]
    rows.append(
        Row(
            "outbox: passes that delivered; time between their starts, p50 / p90 / max",
            f"{box['passes']:,} passes, {per['p50']:g} messages each at the median "
            f"(at most {per['max']:g}); {_ms(gaps['p50'])} / {_ms(gaps['p90'])} / "
            f"{_ms(gaps['max'])}",
            "",
            "(info)",
            "",
        )
    )
    tries = ", ".join(
        f"{n} attempt{'s' if n != '1' else ''}: {c:,}" for n, c in box["attempts"].items()
    )
    rows.append(
        Row(
            "outbox: messages by attempts",
            tries + (f"; errors {box['errors']}" if box["errors"] else ""),
            "",
            "(info)",
            "",
        )
    )
    rows.append(
        Row(
            "POST /v1/events alone, p50 / p90 / p99 / max",
            _four(request),
            "",
            "(baseline)",
            "",
        )
    )
    rows.append(
        Row(
            "plain POST to the receiver (one hop), same",
            _four(direct),
            "",
            "(baseline)",
            "",
        )
    )
    got = run["delivered"]
    rows.append(
        Row(
            "delivered: Slack leads / webhook ids (each once)",
            f"{got['slack_leads']:,} / {got['webhook_ids']:,} of {run['mqls']:,}; "
            f"messages {got['slack_messages']:,} / {got['webhook_messages']:,}; "
            f"bad signatures {got['rejected_signatures']}",
            "",
            "all, exactly once",
            "PASS" if exactly_once(run) else "FAIL",
        )
    )
    return rows


def print_report(results: dict[str, Any]) -> None:
    info = results["machine"]
    print()
    print(
        f"leadgrade handoff benchmark, {info['date']}: {info['cores']} cores ({info['cpu']}), "
        f"{info['memory']}, Python {info['python']}, SQLite {info['sqlite']}; load average "
        f"at start {' '.join(f'{x:.2f}' for x in info['load_average'])}; commit "
        f"{info['commit']}" + (" with src/ modified" if info["src_modified"] else "")
    )
    for run in results["runs"]:
        print(
            f"\n  poll {run['poll']:g} s{' (the default)' if run['poll_is_default'] else ''}: "
            f"{run['mqls']:,} MQLs at {run['rate']:g}/s from {run['clients']} client threads "
            f"(achieved {run['achieved_rate']:,.1f}/s, at most {_ms(run['max_late'])} behind "
            f"schedule); `leadgrade serve` used {run['server_cpu_seconds']:.1f} s of CPU in "
            f"the {run['busy_seconds']:.1f} s from the first send to the last delivery "
            "(not pinned to a core)"
        )
        rows = report_rows(run)
        headers = Row("figure", "value", "baseline (same run)", "target", "")
        names = ("figure", "value", "baseline", "target", "verdict")
        widths = [max(len(getattr(r, f)) for r in [headers, *rows]) for f in names]
        for row in [headers, *rows]:
            cells = [getattr(row, f) for f in names]
            print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


# -------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time event → MQL → notification delivered (Slack and a signed webhook) "
        "through `leadgrade serve`, beside one plain hop and the /v1/events request."
    )
    parser.add_argument("--mqls", type=int, default=1000, help="measured MQLs (1000)")
    parser.add_argument("--rate", type=float, default=50.0, help="events a second (50)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (8)")
    parser.add_argument("--warmup", type=int, default=20, help="MQLs first, not measured (20)")
    parser.add_argument(
        "--poll",
        default="default",
        help="[notifications] poll of each run: 'default' (not set: the shipped value) or "
        "seconds; a comma list makes several runs, e.g. default,0.1",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0, help="seconds to wait for the last messages"
    )
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds to watch for duplicates afterwards"
    )
    parser.add_argument("--tmp", type=Path, help="folder for the workspaces (default: temp)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output folder")
    args = parser.parse_args(argv)
    polls: list[float | None] = []
    for part in (p.strip() for p in args.poll.split(",") if p.strip()):
        try:
            polls.append(None if part == "default" else float(part))
        except ValueError:
            parser.error(f"--poll: {part!r} is neither 'default' nor seconds")
    if not polls or any(p is not None and p <= 0 for p in polls):
        parser.error("--poll needs 'default' or seconds above 0")
    args.polls = polls
    if min(args.mqls, args.clients) < 1 or args.rate <= 0 or args.warmup < 0:
        parser.error("--mqls and --clients must be at least 1, --rate above 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="leadgrade-handoff-bench-", dir=args.tmp))
    results: dict[str, Any] = {"machine": machine_info(tmp, False), "runs": []}
    try:
        for poll in args.polls:
            results["runs"].append(run_once(args, tmp, out, poll))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(results)
    for run in results["runs"]:
        run["rows"] = [r.__dict__ for r in report_rows(run)]
    (out / "handoff_bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    # A miss of the target is a result (0); a lost, doubled or forged message is not (1).
    return 0 if all(exactly_once(run) for run in results["runs"]) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"handoff_bench: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

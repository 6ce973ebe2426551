"""Real local receivers for the outbox's tests: an HTTP server that takes Slack incoming
webhooks and Standard Webhooks deliveries (checking each signature with the
``standardwebhooks`` library, not with leadgrade's code), and an SMTP server.

The HTTP receiver can be taken down (its port refuses connections) and brought back on
the same port, and told to answer with an error status, to play a receiver in trouble.
"""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def verifier(secret: str) -> Webhook:
    """The library's verifier for a secret as leadgrade's settings give it: ``whsec_``
    base64, else the text's UTF-8 bytes."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode("utf-8"))


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


class HttpReceiver:
    """Slack at ``/slack/<name>``, signed webhooks at ``/hooks/<name>`` (verified with the
    secret in ``secrets[name]``; a bad signature is answered 401 and counted)."""

    def __init__(self, secrets: Mapping[str, str] | None = None, delay: float = 0.0) -> None:
        self.secrets = dict(secrets or {})
        self.delay = delay
        self.status = 200
        self.port = free_port()
        self.deliveries: list[Delivery] = []
        self.rejected: list[Delivery] = []  # failed the signature check
        self.refused = 0  # answered with an error status
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Listen (again) on the receiver's port."""
        server = _Server(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server

    def stop(self) -> None:
        """Close the port: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> Counter[str]:
        """Deliveries per webhook-id."""
        with self.lock:
            return Counter(d.message_id for d in self.deliveries if "webhook-id" in d.headers)

    def _take(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        delivery = Delivery(path, headers, body)
        if self.delay:
            time.sleep(self.delay)
        if self.status >= 400:
            with self.lock:
                self.refused += 1
            return self.status
        if path.startswith("/hooks/"):
            secret = self.secrets[path.removeprefix("/hooks/")]
            try:
                verifier(secret).verify(body, dict(headers))
            except WebhookVerificationError:
                with self.lock:
                    self.rejected.append(delivery)
                return 401
        with self.lock:
            self.deliveries.append(delivery)
        return 200


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that went away mid-request (killed, or timed out): nothing to see


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                return  # the sender died mid-request: no delivery, no answer
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver._take(self.path, headers, body)
            answer = b"ok" if status == 200 else b"no"
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def stop(self) -> None:
        self._controller.stop()

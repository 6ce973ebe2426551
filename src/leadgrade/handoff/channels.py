"""The outbox's channels (DESIGN §7): Slack incoming webhooks, outbound webhooks signed
per the Standard Webhooks specification, and e-mail over SMTP.

Rendering is pure (a message's payload in, a Slack body or an e-mail out) and reads
only the fields a notification is meant to carry: ids, score, grade, stage, reasons, the
owner and a link, never a lead's personal data (DESIGN §9). A field or a whole event
type it does not know renders as less, never as an error: the producers of messages
grow faster than the renderers.

Sending raises :class:`DeliveryError` for anything the receiver did not accept; the
worker (:mod:`leadgrade.handoff.delivery`) decides when to try again.
"""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx2 as httpx
from standardwebhooks.webhooks import Webhook

from leadgrade import __version__
from leadgrade.settings import (
    EmailDestination,
    NotificationsSection,
    SlackDestination,
    SmtpSection,
    WebhookDestination,
)
from leadgrade.times import utc

logger = logging.getLogger(__name__)

USER_AGENT = f"leadgrade/{__version__}"

#: What a person reads for each notification event; an unknown type shows as itself.
TITLES = {
    "lead.mql": "New MQL",
    "lead.assigned": "Lead assigned",
    "lead.sla_breached": "SLA breached",
    "lead.feedback": "Sales feedback",
    "lead.stage_changed": "Stage changed",
    "lead.reengagement_due": "Re-engagement due",
    "lead.mql_expired": "MQL expired",
    "account.mqa": "New MQA",
    "segment.entered": "Entered a segment",
    "segment.left": "Left a segment",
}

TOP_REASONS = 3


class DeliveryError(Exception):
    """An attempt the receiver did not accept: the message stays in the outbox and is
    tried again. ``status`` is the HTTP status when there was an answer;
    ``retry_after`` the seconds the receiver asked us to wait (HTTP 429/503)."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Message:
    """One outbox row as a channel sees it. ``id`` is the message id receivers
    deduplicate on (the ``webhook-id`` header); retries keep it."""

    id: str
    destination: str
    event_type: str
    payload: Mapping[str, Any]


# ------------------------------------------------------------------------ reading payloads


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    return data if isinstance(data, Mapping) else {}


def _person(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """A scalar as text; None for nothing, or for lists and objects (which a renderer
    that expected text must not dump into a message)."""
    if value is None or isinstance(value, Mapping | list | tuple) or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float, sign: str = "") -> str:
    """At most two decimals, no trailing zeros: 82.5, 30, +12.25."""
    return f"{value:{sign}.2f}".rstrip("0").rstrip(".")


def _reasons(data: Mapping[str, Any]) -> list[str]:
    """The top reasons as "why (+points)", largest first."""
    found = data.get("reasons")
    if not isinstance(found, list):
        return []
    pairs: list[tuple[float, str]] = []
    for reason in found:
        if not isinstance(reason, Mapping):
            continue
        words = _text(reason.get("why")) or _text(reason.get("rule"))
        if words is None:
            continue
        points = reason.get("points")
        if isinstance(points, int | float) and not isinstance(points, bool):
            pairs.append((abs(points), f"{words} ({_number(points, '+')})"))
        else:
            pairs.append((0.0, words))
    pairs.sort(key=lambda pair: -pair[0])
    return [text for _, text in pairs[:TOP_REASONS]]


def title(payload: Mapping[str, Any]) -> str:
    kind = _text(payload.get("type")) or "notification"
    return TITLES.get(kind, kind)


def summary(payload: Mapping[str, Any]) -> str:
    """One line: what happened to which lead, its grade and score (an e-mail's subject,
    Slack's notification text)."""
    data = _data(payload)
    what = title(payload)
    grade, score = _text(data.get("grade")), _text(data.get("score"))
    audience = _text(data.get("audience"))
    lead = _text(data.get("lead_id"))
    parts = [what]
    subject = " ".join(p for p in (audience, "lead" if lead else None, lead) if p)
    if segment := _text(data.get("segment")):
        subject = f"{subject} → {segment}" if subject else segment
    if subject:
        parts.append(f": {subject}")
    graded = ", ".join(
        p for p in (grade and f"grade {grade}", score is not None and f"score {score}") if p
    )
    if graded:
        parts.append(f" ({graded})")
    return " ".join("".join(parts).split())  # one line: it may become a mail header


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs worth showing, in a fixed order, those present only."""
    data = _data(payload)
    owner, manager = _person(data, "owner"), _person(data, "manager")
    pairs = [
        ("Audience", _text(data.get("audience"))),
        ("Grade", _text(data.get("grade"))),
        ("Score", _text(data.get("score"))),
        ("Stage", _text(data.get("stage"))),
        ("Segment", _text(data.get("segment"))),
        ("Owner", _text(owner.get("name")) or _text(owner.get("id"))),
        ("Manager", _text(manager.get("name")) or _text(manager.get("id"))),
        ("Team", _text(data.get("team"))),
        ("SLA due", _text(data.get("sla_due_at"))),
        ("Was due", _text(data.get("due_at"))),
        ("Reassigned to", _reassigned(data)),
        ("Decision", _text(data.get("decision"))),
        ("Reason", _text(data.get("reason"))),
        ("Lead", _text(data.get("lead_id"))),
    ]
    return [(label, value) for label, value in pairs if value is not None]


def _reassigned(data: Mapping[str, Any]) -> str | None:
    value = data.get("reassigned_to")
    if isinstance(value, Mapping):
        return _text(value.get("name")) or _text(value.get("id"))
    return _text(value)


def link(payload: Mapping[str, Any]) -> str | None:
    url = _text(_data(payload).get("url"))
    return url if url and url.startswith(("http://", "https://")) else None


def plain_text(payload: Mapping[str, Any]) -> str:
    """The whole message as plain text: the summary, the facts, the reasons, the link."""
    lines = [summary(payload), ""]
    lines += [f"{label}: {value}" for label, value in facts(payload)]
    reasons = _reasons(_data(payload))
    if reasons:
        lines += ["", "Why:"] + [f"- {reason}" for reason in reasons]
    if url := link(payload):
        lines += ["", f"Open the lead: {url}"]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- Slack


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(value: Any) -> str | None:
    text = _text(value)
    return _escape(text) if text is not None else None


def _slack_person(person: Mapping[str, Any]) -> str | None:
    """A mention when the person's Slack id is known (it notifies them), else a name."""
    slack_id = _text(person.get("slack"))
    if slack_id and slack_id.replace("_", "").isalnum():
        return f"<@{slack_id}>"
    name = _text(person.get("name")) or _text(person.get("id"))
    return _escape(name) if name else None


def _slack_time(iso: str | None) -> str | None:
    """An ISO time as Slack's date token (shown in the reader's time zone), with the ISO
    text as the fallback for clients that cannot."""
    if iso is None:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return _escape(iso)
    if moment.tzinfo is None:
        return _escape(iso)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{_escape(iso)}>"


def slack_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body: Block Kit ``blocks`` and the plain ``text`` Slack
    shows in notifications and where blocks cannot be drawn."""
    data = _data(payload)
    header = title(payload)
    grade, score = _text(data.get("grade")), _text(data.get("score"))
    graded = " · ".join(p for p in (grade, score and f"score {score}") if p)
    if graded:
        header = f"{header} · {graded}"
    owner = _slack_person(_person(data, "owner"))
    fields = [
        ("Audience", _mrkdwn(data.get("audience"))),
        ("Owner", owner if owner else ("unassigned" if "owner" in data else None)),
        ("Stage", _mrkdwn(data.get("stage"))),
        ("Segment", _mrkdwn(data.get("segment"))),
        ("Team", _mrkdwn(data.get("team"))),
        ("SLA due", _slack_time(_text(data.get("sla_due_at")))),
        ("Was due", _slack_time(_text(data.get("due_at")))),
        ("Reassigned to", _reassigned_slack(data)),
        ("Manager", _slack_person(_person(data, "manager"))),
        ("Decision", _mrkdwn(data.get("decision"))),
        ("Reason", _mrkdwn(data.get("reason"))),
    ]
    shown = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields if v][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150], "emoji": True}}
    ]
    if shown:
        blocks.append({"type": "section", "fields": shown})
    reasons = _reasons(data)
    if reasons:
        text = "*Why*\n" + "\n".join(f"• {_escape(r)}" for r in reasons)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if url := link(payload):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the lead"},
                        "url": url[:3000],
                        "action_id": "open_lead",
                    }
                ],
            }
        )
    context = " · ".join(
        _escape(p) for p in (_text(payload.get("type")), _text(data.get("lead_id"))) if p
    )
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    text = summary(payload)
    if url := link(payload):
        text = f"{text}: {url}"
    return {"text": text, "blocks": blocks}


def _reassigned_slack(data: Mapping[str, Any]) -> str | None:
    value = data.get("reassigned_to")
    if isinstance(value, Mapping):
        return _slack_person(value)
    return _mrkdwn(value)


# ------------------------------------------------------------------------------- e-mail


def recipients(to: Sequence[str], payload: Mapping[str, Any]) -> list[str]:
    """E-mail addresses for a destination's ``to``: ``owner`` and ``manager`` are the
    lead's owner's and their manager's addresses (when the message has them); other
    entries are addresses. Each once, in order."""
    data = _data(payload)
    found: list[str] = []
    for entry in to:
        if entry in ("owner", "manager"):
            address = _text(_person(data, entry).get("email"))
        else:
            address = entry
        if address and "@" in address and address not in found:
            found.append(address)
    return found


def email_message(
    payload: Mapping[str, Any], sender: str, to: Sequence[str], message_id: str
) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = summary(payload)
    email["From"] = sender
    email["To"] = ", ".join(to)
    domain = sender.rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    email["X-Leadgrade-Message-Id"] = message_id  # what receivers deduplicate on
    email.set_content(plain_text(payload))
    return email


# -------------------------------------------------------------------------------- sending


def body_text(payload: Mapping[str, Any]) -> str:
    """The JSON text a webhook carries and signs: compact, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def signature_headers(secret: str, message_id: str, at: float, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` sent at ``at``. A ``whsec_`` secret is
    base64 (as the specification issues them); any other is its UTF-8 bytes."""
    key: str | bytes = secret if secret.startswith("whsec_") else secret.encode("utf-8")
    moment = utc(int(at))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": Webhook(key).sign(message_id, moment, body),
    }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date, or nothing: the backoff decides


SmtpFactory = Callable[[SmtpSection], smtplib.SMTP]


def _smtp(settings: SmtpSection) -> smtplib.SMTP:
    client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    if settings.starttls:
        client.starttls()
    if settings.username:
        client.login(settings.username, settings.password or "")
    return client


class Channels:
    """Sends messages to the destinations of ``settings``. One HTTP client serves every
    thread (its pool keeps connections to a receiver open between messages); tests and
    embedders may pass an ``httpx`` transport."""

    def __init__(
        self,
        settings: NotificationsSection,
        *,
        transport: httpx.BaseTransport | None = None,
        connections: int = 20,
        smtp: SmtpFactory = _smtp,
    ) -> None:
        self.settings = settings
        self._smtp = smtp
        self.http = httpx.Client(
            transport=transport,
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=connections),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        destination: SlackDestination | WebhookDestination | EmailDestination,
        message: Message,
        at: float,
    ) -> str | None:
        """Deliver ``message``; returns a note when it was delivered as a no-op (an
        e-mail with nobody to send it to). Raises :class:`DeliveryError` otherwise."""
        if isinstance(destination, SlackDestination):
            self._post(destination.webhook_url, json.dumps(slack_body(message.payload)), {})
            return None
        if isinstance(destination, WebhookDestination):
            body = body_text(message.payload)
            headers = signature_headers(destination.secret, message.id, at, body)
            self._post(destination.url, body, headers)
            return None
        return self._email(destination, message)

    def _post(self, url: str, body: str, headers: Mapping[str, str]) -> None:
        try:
            response = self.http.post(
                url,
                content=body.encode("utf-8"),
                headers={"content-type": "application/json", **headers},
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        # Every other answer is tried again, 4xx too: a URL that is wrong today is often
        # fixed tomorrow, and a message that keeps failing ends as a dead letter with its
        # status on record, to be sent again with `leadgrade outbox retry` — never lost.
        snippet = response.text[:200].strip()
        raise DeliveryError(
            f"HTTP {response.status_code}" + (f": {snippet}" if snippet else ""),
            status=response.status_code,
            retry_after=_retry_after(response) if response.status_code in (429, 503) else None,
        )

    def _email(self, destination: EmailDestination, message: Message) -> str | None:
        to = recipients(destination.to, message.payload)
        if not to:
            note = f"no recipient for {', '.join(destination.to)}: nothing sent"
            logger.warning("outbox message %s to %s: %s", message.id, destination.name, note)
            return note
        email = email_message(message.payload, self.settings.smtp.sender, to, message.id)
        try:
            client = self._smtp(self.settings.smtp)
            try:
                client.send_message(email)
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        return None

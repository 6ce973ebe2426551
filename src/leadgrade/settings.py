"""The one settings registry: ``leadgrade.toml`` in the workspace, overridden by
environment variables ``LEADGRADE_<SECTION>_<KEY>`` (``LEADGRADE_DATABASE_URL``), loaded
by :func:`get_settings` when asked, never at import time (DESIGN §13)."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceSection(Section):
    name: str = Field(default="My staffing firm", description="The firm's name.")


class DatabaseSection(Section):
    url: str = Field(
        default="sqlite:///leadgrade.db",
        description="SQLAlchemy URL of the store; a relative SQLite path is in the workspace.",
    )


class AudienceRuleSection(Section):
    audience: str
    types: list[str] = Field(default_factory=list, description="event types; shell patterns")
    path_prefixes: list[str] = Field(default_factory=list)
    forms: list[str] = Field(default_factory=list)


class RoutingOfEventsSection(Section):
    """Which audience an event feeds when it does not name one."""

    default: list[str] = Field(default_factory=lambda: ["employer"])
    rules: list[AudienceRuleSection] = Field(default_factory=list)


EVENT_TYPE = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"


def _event_type(value: str) -> str:
    if len(value) > 100 or not re.fullmatch(EVENT_TYPE, value):
        raise ValueError(
            f"{value!r} is not an event type: lower-case words joined by dots, like form.submit"
        )
    return value


EventType = Annotated[str, AfterValidator(_event_type)]


def _origin(value: str) -> str:
    if value != "*" and not re.fullmatch(r"https?://[^/\s]+/?", value):
        raise ValueError(
            f"{value!r} is not an origin: scheme and host, like https://www.example.com"
        )
    return value.rstrip("/")


Origin = Annotated[str, AfterValidator(_origin)]

#: Track event names (Segment's spec names where it has one) → leadgrade event types: the
#: types the shipped models score. ``[tracking.events]`` adds to and overrides these.
TRACK_EVENTS: dict[str, str] = {
    "Form Submitted": "form.submit",
    "Demo Requested": "demo.request",
    "Content Downloaded": "content.download",
    "Webinar Registered": "webinar.register",
    "Webinar Attended": "webinar.attend",
    "Email Opened": "email.open",
    "Email Link Clicked": "email.click",
    "Email Replied": "email.reply",
    "Unsubscribed": "email.unsubscribe",
    "Job Applied": "job.apply",
    "Job Alert Created": "job.alert_signup",
    "Assessment Completed": "assessment.complete",
}

#: Segment's reserved traits whose leadgrade attribute has another name.
TRAIT_NAMES: dict[str, str] = {"title": "job_title", "employees": "company_size"}


class TrackMapping(Section):
    """One track event name's leadgrade event: its type, and properties it always gets."""

    type: EventType
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _a_type_alone(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class TrackingSection(Section):
    """The Segment-compatible tracking API (docs/tracking.md)."""

    cors_origins: list[Origin] = Field(
        default_factory=list,
        description="Website origins (https://www.example.com) whose browsers may post to "
        "the tracking API.",
    )
    page: EventType = Field(default="web.page_view", description="The type of page calls.")
    screen: EventType = Field(default="app.screen_view", description="The type of screen calls.")
    identify: EventType = Field(
        default="person.identify", description="The type of identify calls."
    )
    group: EventType = Field(default="person.group", description="The type of group calls.")
    alias: EventType = Field(default="person.alias", description="The type of alias calls.")
    unmapped: str = Field(
        default="track",
        pattern=r"^[a-z0-9_]+$",
        max_length=40,
        description="Track events with no mapping become <unmapped>.<event_name>.",
    )
    system: str = Field(
        default="segment",
        pattern=r"^[a-z0-9_]+$",
        max_length=40,
        description="The external id system of Segment user ids.",
    )
    events: dict[str, TrackMapping] = Field(
        default_factory=dict,
        description="Track event name → event type, added to and overriding the defaults.",
    )
    traits: dict[str, str] = Field(
        default_factory=dict,
        description="Trait name → attribute name, added to and overriding the defaults.",
    )

    def track_events(self) -> dict[str, TrackMapping]:
        """The whole table: the defaults and this workspace's entries."""
        return {name: TrackMapping(type=kind) for name, kind in TRACK_EVENTS.items()} | dict(
            self.events
        )

    def trait_names(self) -> dict[str, str]:
        return TRAIT_NAMES | dict(self.traits)


#: What the outbox carries (docs/handoff.md): subscribers choose among these, or ``*``.
NOTIFICATION_EVENTS = (
    "lead.mql",
    "lead.assigned",
    "lead.sla_breached",
    "lead.feedback",
    "lead.stage_changed",
    "lead.reengagement_due",
    "lead.mql_expired",
    "account.mqa",
    "segment.entered",
    "segment.left",
)


def _event_pattern(value: str) -> str:
    if not any(fnmatch.fnmatchcase(kind, value) for kind in NOTIFICATION_EVENTS):
        raise ValueError(
            f"{value!r} matches no notification event; they are: {', '.join(NOTIFICATION_EVENTS)}"
        )
    return value


EventPattern = Annotated[str, AfterValidator(_event_pattern)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)]


class Destination(Section):
    name: Name = Field(description="Names the destination in the outbox and the CLI.")
    events: list[EventPattern] = Field(
        default_factory=lambda: ["lead.mql", "lead.sla_breached", "lead.reengagement_due"],
        description="The notification events it receives; shell patterns (lead.*).",
    )


class SlackDestination(Destination):
    """A Slack incoming webhook."""

    webhook_url: str = Field(pattern=r"^https?://", description="The incoming webhook's URL.")


class WebhookDestination(Destination):
    """An outbound webhook signed per the Standard Webhooks specification."""

    url: str = Field(pattern=r"^https?://")
    secret: str = Field(
        min_length=8,
        description="The signing secret; whsec_<base64> as Standard Webhooks gives them, "
        "or any text (its UTF-8 bytes are the key).",
    )
    events: list[EventPattern] = Field(default_factory=lambda: ["*"])


class EmailDestination(Destination):
    """E-mail over SMTP ([notifications.smtp]) to reps: ``owner`` and ``manager`` are the
    lead's owner and their manager (routing.yaml); other entries are addresses."""

    to: list[str] = Field(default_factory=lambda: ["owner"], min_length=1)


class SmtpSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(default="leadgrade@localhost", description="The From address.")
    starttls: bool = False
    username: str | None = None
    password: str | None = Field(default=None, description="Better set as an environment value.")
    timeout: float = Field(default=10.0, gt=0)


class NotificationsSection(Section):
    """The outbox: where notifications go and how hard delivery tries (docs/handoff.md)."""

    base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="The address of leadgrade serve: links in messages start with it.",
    )
    max_attempts: int = Field(
        default=12, ge=1, le=100, description="Attempts before a message is a dead letter."
    )
    backoff: float = Field(
        default=2.0, gt=0, description="Seconds before the first retry; doubles each time."
    )
    backoff_max: float = Field(default=3600.0, gt=0, description="The longest wait, seconds.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per delivery attempt.")
    poll: float = Field(
        default=0.5, gt=0, description="Seconds between the serve worker's looks at the outbox."
    )
    slack: list[SlackDestination] = Field(default_factory=list)
    webhooks: list[WebhookDestination] = Field(default_factory=list)
    email: list[EmailDestination] = Field(default_factory=list)
    smtp: SmtpSection = Field(default_factory=SmtpSection)

    @model_validator(mode="after")
    def _names_unique(self) -> NotificationsSection:
        names = [d.name for d in (*self.slack, *self.webhooks, *self.email)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"destination names must be unique: {', '.join(twice)}")
        return self

    def destinations(self) -> list[SlackDestination | WebhookDestination | EmailDestination]:
        return [*self.slack, *self.webhooks, *self.email]


#: Countries of the European Economic Area (and Switzerland and the UK, whose laws follow
#: the GDPR), for ``regions = ["EU"]`` in retention rules.
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "CH",
        "GB",
    ]
)


def _duration(value: Any) -> Any:
    from leadgrade.core.durations import parse_duration

    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class RetentionRule(Section):
    """Erase people of an audience and region after a time without activity."""

    audience: str
    regions: list[str] = Field(
        default_factory=list,
        description="country codes (ISO 3166 alpha-2) or EU; empty: every region",
    )
    after_inactivity: Duration = Field(description="time since their last event, e.g. 180d")
    unless_consent: str | None = Field(
        default=None,
        description="a consent purpose (talent_pool) that keeps them: an opted-in consent "
        "whose evidence has this purpose",
    )


class HoldRule(Section):
    """Records the law says to keep: they survive erasure until ``keep`` after they
    happened (and the retention job does not erase their person before)."""

    event_types: list[str] = Field(min_length=1, description="shell patterns, e.g. job.apply")
    where: dict[str, Any] = Field(
        default_factory=dict, description="event properties that must equal these values"
    )
    keep: Duration
    reason: str = Field(min_length=1, max_length=300)


class PrivacySection(Section):
    """Retention and legal holds (docs/compliance.md)."""

    retention: list[RetentionRule] = Field(default_factory=list)
    holds: list[HoldRule] = Field(default_factory=list)


def _hours(value: Any) -> Any:
    from leadgrade.privacy.quiet import Window

    if isinstance(value, str):
        Window.parse(value)  # raises ValueError naming the problem
    return value


def _us_state(value: Any) -> Any:
    from leadgrade.privacy.quiet import STATE_ZONES

    if not isinstance(value, str) or value.upper() not in STATE_ZONES:
        raise ValueError(f"{value!r} is not a US state or territory code, like FL")
    return value.upper()


QuietHours = Annotated[str, AfterValidator(_hours)]
UsState = Annotated[str, AfterValidator(_us_state)]


class StateContactRule(Section):
    """A state's own quiet hours and cap, recipient local time."""

    quiet_hours: QuietHours = Field(
        description="Hours texts and calls are allowed, e.g. 08:00-20:00."
    )
    max_per_day: int | None = Field(
        default=None, ge=1, description="The most texts and calls to a person in any 24 hours."
    )


class ComplianceSection(Section):
    """Consent before messaging: quiet hours and caps (docs/compliance.md)."""

    quiet_hours: QuietHours = Field(
        default="08:00-21:00",
        description="Hours texts and calls are allowed in the recipient's local time.",
    )
    max_per_day: int | None = Field(
        default=None,
        ge=1,
        description="The most texts and calls to a person in any 24 hours, where no state "
        "rule says less.",
    )
    states: dict[UsState, StateContactRule] = Field(
        default_factory=dict,
        description="State code → its rule; added to and overriding the built-in FL, OK, MD.",
    )


def _stage(value: Any) -> Any:
    from leadgrade.engine import STAGES

    if value not in STAGES:
        raise ValueError(f"{value!r} is not a stage; use one of {', '.join(STAGES)}")
    return value


Stage = Annotated[str, AfterValidator(_stage)]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
Audience = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)]
Secret = Annotated[str, Field(min_length=8, description="Better set in the environment.")]


class GreenhouseSection(Section):
    """Greenhouse webhooks in (docs/integrations.md)."""

    secret: Secret | None = Field(
        default=None,
        description="The webhook's secret key; better set as LEADGRADE_GREENHOUSE_SECRET.",
    )
    audience: Audience = Field(default="candidate", description="The audience of candidates.")
    stages: dict[str, Stage] = Field(
        default_factory=dict,
        description="Greenhouse stage name (any case) → the leadgrade stage a candidate "
        'reaches on entering it, e.g. "Phone Screen" = "sql".',
    )
    offer_stage: Stage | None = Field(
        default="opportunity", description="The stage an offer made moves a candidate to."
    )
    contract_end_field: str = Field(
        default="contract_end_date",
        description="The offer custom field holding a contract's end date.",
    )


#: Bullhorn JobSubmission statuses and the candidate stage each means (defaults).
BULLHORN_SUBMISSIONS: dict[str, str] = {
    "Submitted": "sql",
    "Client Submission": "sql",
    "Interview Scheduled": "opportunity",
    "Offer Extended": "opportunity",
}
BULLHORN_PLACED = ("Submitted", "Approved", "Active", "Completed")


class BullhornSection(Section):
    """The Bullhorn event-subscription poller (docs/integrations.md)."""

    enabled: bool = Field(default=False, description="Poll inside leadgrade serve.")
    auth_url: Url = Field(
        default="https://auth.bullhornstaffing.com", description="Bullhorn's OAuth server."
    )
    login_url: Url = Field(
        default="https://rest.bullhornstaffing.com/rest-services",
        description="Where /login is (your data centre's, from loginInfo).",
    )
    client_id: str | None = Field(default=None, description="The OAuth client id.")
    client_secret: Secret | None = Field(default=None, description="The OAuth client secret.")
    username: str | None = Field(default=None, description="The API user.")
    password: Secret | None = Field(default=None, description="The API user's password.")
    subscription: str = Field(
        default="leadgrade",
        pattern=r"^[A-Za-z0-9_-]{1,50}$",
        description="The event subscription's name.",
    )
    poll_every: float = Field(default=60.0, gt=0, description="Seconds between polls.")
    max_events: int = Field(default=100, ge=1, le=100, description="Events per batch.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP request.")
    candidate_audience: Audience = "candidate"
    employer_audience: Audience = "employer"
    submission_statuses: dict[str, Stage] = Field(
        default_factory=lambda: dict(BULLHORN_SUBMISSIONS),
        description="JobSubmission status → candidate stage.",
    )
    placement_statuses: list[str] = Field(
        default_factory=lambda: list(BULLHORN_PLACED),
        description="Placement statuses that mean placed (won).",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Candidate or ClientContact field → attribute name, added to the "
        'defaults (customText1 = "job_category").',
    )


class JobviteSection(Section):
    """The Jobvite poller (docs/integrations.md)."""

    enabled: bool = Field(default=False, description="Poll inside leadgrade serve.")
    base_url: Url = Field(default="https://api.jobvite.com/api/v2", description="The API's base.")
    api_key: str | None = Field(default=None, description="Sent as x-jvi-api.")
    secret: Secret | None = Field(default=None, description="Sent as x-jvi-sc.")
    company_id: str | None = Field(default=None, description="Sent as X-Company-Id, if given.")
    page_size: int = Field(default=500, ge=1, le=500, description="Records per page.")
    poll_every: float = Field(default=900.0, gt=0, description="Seconds between polls.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP request.")
    audience: Audience = "candidate"
    workflow_states: dict[str, Stage] = Field(
        default_factory=lambda: {
            "Phone Screen": "sql",
            "Interview": "opportunity",
            "Offer": "opportunity",
        },
        description="Workflow state (any case) → candidate stage.",
    )
    hired_states: list[str] = Field(
        default_factory=lambda: ["Hired", "Offer Accepted"],
        description="Workflow states that mean hired (won).",
    )


class IntegrationsSection(Section):
    """Greenhouse, Bullhorn and Jobvite (docs/integrations.md). Environment values reach a
    vendor's keys as LEADGRADE_INTEGRATIONS_<VENDOR>_<KEY> or LEADGRADE_<VENDOR>_<KEY>."""

    greenhouse: GreenhouseSection = Field(default_factory=GreenhouseSection)
    bullhorn: BullhornSection = Field(default_factory=BullhornSection)
    jobvite: JobviteSection = Field(default_factory=JobviteSection)

    @model_validator(mode="before")
    @classmethod
    def _vendor_keys(cls, value: Any) -> Any:
        """Fold ``greenhouse_secret`` (how the environment names a vendor's key) into
        ``greenhouse.secret``; the environment's value wins over the file's."""
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        folded: dict[str, dict[str, Any]] = {}
        for key, item in value.items():
            vendor, _, rest = str(key).partition("_")
            if rest and vendor in ("greenhouse", "bullhorn", "jobvite"):
                if isinstance(item, str) and item.strip()[:1] in ("{", "["):
                    # Not JSON after all: the field's own validation names the problem.
                    with contextlib.suppress(ValueError):
                        item = json.loads(item)
                folded.setdefault(vendor, {})[rest] = item
            else:
                out[key] = item
        for vendor, keys in folded.items():
            found = out.get(vendor)
            out[vendor] = {**(found if isinstance(found, dict) else {}), **keys}
        return out


#: Vendor sections the environment may name directly: LEADGRADE_GREENHOUSE_SECRET.
_VENDORS = ("greenhouse", "bullhorn", "jobvite")


class _Environment(EnvSettingsSource):
    """The environment's overrides, less ``LEADGRADE_WORKSPACE``: that variable names the
    workspace folder (DESIGN §13), not the ``[workspace]`` section of the settings."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        loaded = super()._load_env_vars()
        out = {}
        for key, value in loaded.items():
            name = key.lower()
            if name == "leadgrade_workspace":
                continue
            vendor = name.removeprefix("leadgrade_").partition("_")[0]
            if vendor in _VENDORS and name.startswith(f"leadgrade_{vendor}_"):
                key = "leadgrade_integrations_" + name.removeprefix("leadgrade_")
            out[key] = value
        return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADGRADE_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    workspace: WorkspaceSection = WorkspaceSection()
    database: DatabaseSection = DatabaseSection()
    audiences: dict[str, str] = Field(
        default_factory=dict, description="audience name → model file, relative to the workspace"
    )
    events: RoutingOfEventsSection = Field(default_factory=RoutingOfEventsSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    notifications: NotificationsSection = Field(default_factory=NotificationsSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    compliance: ComplianceSection = Field(default_factory=ComplianceSection)
    integrations: IntegrationsSection = Field(default_factory=IntegrationsSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then the workspace's file (passed in as init values).
        return _Environment(settings_cls), init_settings


def get_settings(config_file: Path | None) -> Settings:
    """The settings of the workspace whose ``leadgrade.toml`` is ``config_file``."""
    values: dict[str, Any] = {}
    if config_file is not None and config_file.is_file():
        values = TomlConfigSettingsSource(Settings, toml_file=config_file)()
    return Settings(**values)


def database_url(settings: Settings, root: Path) -> str:
    """The store's URL, a relative SQLite path resolved against the workspace ``root``."""
    url = settings.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        return prefix + str(root / url[len(prefix) :])
    return url

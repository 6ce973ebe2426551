"""The one settings registry: ``leadgrade.toml`` in the workspace, overridden by
environment variables ``LEADGRADE_<SECTION>_<KEY>`` (``LEADGRADE_DATABASE_URL``), loaded
by :func:`get_settings` when asked, never at import time (DESIGN §13)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
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


class _Environment(EnvSettingsSource):
    """The environment's overrides, less ``LEADGRADE_WORKSPACE``: that variable names the
    workspace folder (DESIGN §13), not the ``[workspace]`` section of the settings."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        loaded = super()._load_env_vars()
        return {k: v for k, v in loaded.items() if k.lower() != "leadgrade_workspace"}


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

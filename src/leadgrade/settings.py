"""The one settings registry: ``leadgrade.toml`` in the workspace, overridden by
environment variables ``LEADGRADE_<SECTION>_<KEY>`` (``LEADGRADE_DATABASE_URL``), loaded
by :func:`get_settings` when asked, never at import time (DESIGN §13)."""

from __future__ import annotations

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

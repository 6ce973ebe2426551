"""The one settings registry: ``leadgrade.toml`` in the workspace, overridden by
environment variables ``LEADGRADE_<SECTION>_<KEY>`` (``LEADGRADE_DATABASE_URL``), loaded
by :func:`get_settings` when asked, never at import time (DESIGN §13)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
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

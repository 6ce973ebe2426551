"""A workspace on disk: ``leadgrade.toml``, ``models/``, ``lists/`` (DESIGN §13).

This is the adapter between files and the pure core: it reads model files and named
lists and hands their text to :func:`leadgrade.core.parse_model`.
"""

from __future__ import annotations

import os
import shutil
import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from leadgrade.core import Model, Problem, check_model, parse_model
from leadgrade.core.segments import SegmentsError
from leadgrade.engine import AudienceMap, AudienceRule, Engine
from leadgrade.handoff.routing import Routing, RoutingError, load_routing
from leadgrade.handoff.segments import SEGMENTS_FILE, Segments, load_segments
from leadgrade.handoff.segments import install as install_segments
from leadgrade.handoff.service import Handoff
from leadgrade.privacy import optout, retention
from leadgrade.privacy.quiet import ContactRules
from leadgrade.settings import Settings, database_url, get_settings
from leadgrade.store import Store
from leadgrade.versions import active_models, add_version, mark_active, shadow_models

CONFIG_NAME = "leadgrade.toml"
TEMPLATE = resources.files("leadgrade") / "data" / "workspace"


class WorkspaceError(Exception):
    """A workspace that cannot be found or read; the message says what to do."""


def read_lists(folder: Path) -> dict[str, tuple[str, ...]]:
    """Named lists: one ``NAME.txt`` per list, an entry a line, ``#`` starts a comment."""
    lists: dict[str, tuple[str, ...]] = {}
    if not folder.is_dir():
        return lists
    for path in sorted(folder.glob("*.txt")):
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                entries.append(entry)
        lists[path.stem] = tuple(entries)
    return lists


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def lists_dir(self) -> Path:
        return self.root / "lists"

    def settings(self) -> Settings:
        """``leadgrade.toml`` with the environment's overrides."""
        try:
            return get_settings(self.config_path)
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{self.config_path}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise WorkspaceError(f"{self.config_path}: {problems}") from None

    def audiences(self) -> dict[str, Path]:
        """Audience name → model file, from the ``[audiences]`` table."""
        return {name: self.root / path for name, path in self.settings().audiences.items()}

    def models(self) -> dict[str, Model]:
        lists = self.lists()
        return {name: load_model(path, lists) for name, path in self.audiences().items()}

    def database_url(self) -> str:
        return database_url(self.settings(), self.root)

    def open_store(self, url: str | None = None) -> Store:
        """The workspace's store (or the one at ``url``), migrated to the newest tables."""
        return Store.open(url or self.database_url())

    def audience_map(self) -> AudienceMap:
        events = self.settings().events
        rules = tuple(
            AudienceRule(r.audience, tuple(r.types), tuple(r.path_prefixes), tuple(r.forms))
            for r in events.rules
        )
        return AudienceMap(rules, tuple(events.default))

    def engine(self, url: str | None = None, now: float | None = None) -> Engine:
        """The engine on the workspace's store, scoring with each audience's active model
        version. An audience with no version yet starts with its model file, activated."""
        store = self.open_store(url)
        lists = self.lists()
        moment = time.time() if now is None else now
        with store.transaction() as conn:
            models = active_models(conn, lists)
            for audience, path in self.audiences().items():
                if audience not in models:
                    version, model = add_version(
                        conn, path.read_text(encoding="utf-8"), str(path), lists, moment
                    )
                    mark_active(conn, version, moment)
                    models[audience] = model
            shadows = shadow_models(conn, lists)
        engine = Engine(store, models, self.audience_map(), shadows)
        handoff = self.handoff(engine)  # every MQL made through this engine is routed
        # Nurture segments keep current with every change, and at their timers' instants.
        install_segments(engine, handoff.timers, self.segments(engine), handoff.lead_listeners)
        # Opt-outs (an SMS "STOP", an unsubscribe, a CRM flag) are recorded in the
        # transaction that brings them in, and the workspace's quiet hours apply.
        optout.install(engine, ContactRules.from_settings(self.settings().compliance))
        privacy = self.settings().privacy
        if privacy.retention or privacy.holds:
            handoff.daily(
                "retention",
                lambda conn, at: retention.run_in(conn, engine, privacy, at, actor="retention"),
            )
        return engine

    def lists(self) -> dict[str, tuple[str, ...]]:
        return read_lists(self.lists_dir)

    @property
    def routing_path(self) -> Path:
        return self.root / "routing.yaml"

    def routing(self) -> Routing:
        """``routing.yaml``: reps, teams, rules, SLA, feedback codes, re-engagement."""
        try:
            return load_routing(self.routing_path, self.lists())
        except RoutingError as exc:
            raise WorkspaceError(str(exc)) from None

    def handoff(self, engine: Engine) -> Handoff:
        """The handoff (routing, SLA clocks, feedback, notifications) riding on
        ``engine``: the one :meth:`engine` installed, or a new one."""
        return Handoff.of(engine) or Handoff(engine, self.routing(), self.settings().notifications)

    def segments(self, engine: Engine) -> Segments:
        """``segments.yaml``: nurture segments over ``engine``'s models (none without the
        file); keep them current with :func:`leadgrade.handoff.segments.install`."""
        try:
            notifications = self.settings().notifications
            path = self.root / SEGMENTS_FILE
            return load_segments(path, engine.models, self.lists(), notifications)
        except SegmentsError as exc:
            more = len(exc.problems) - 1
            raise WorkspaceError(
                f"{exc.problems[0]}"
                + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
                + "; check it with `leadgrade segments lint`"
            ) from None

    def model(self, audience: str) -> Model:
        audiences = self.audiences()
        if audience not in audiences:
            known = ", ".join(sorted(audiences)) or "none"
            raise WorkspaceError(f"no audience {audience!r} in {self.config_path} (known: {known})")
        return load_model(audiences[audience], self.lists())

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The workspace at ``$LEADGRADE_WORKSPACE``, else the nearest folder at or above
        ``start`` (default: the current folder) holding a ``leadgrade.toml``."""
        env = os.environ.get("LEADGRADE_WORKSPACE")
        if start is None and env:
            start = Path(env)
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_NAME).is_file():
                return cls(folder)
        raise WorkspaceError(
            f"no {CONFIG_NAME} in {here} or above it; run `leadgrade init` to make a workspace"
        )

    @classmethod
    def create(cls, root: Path, *, name: str | None = None) -> Workspace:
        """Write a new workspace from the bundled template; refuses to overwrite one."""
        root = root.resolve()
        if (root / CONFIG_NAME).exists():
            raise WorkspaceError(f"{root} already holds a workspace ({CONFIG_NAME} exists)")
        root.mkdir(parents=True, exist_ok=True)
        with resources.as_file(TEMPLATE) as template:
            shutil.copytree(template, root, dirs_exist_ok=True)
        if name:
            config = root / CONFIG_NAME
            text = config.read_text(encoding="utf-8")
            config.write_text(
                text.replace('name = "My staffing firm"', f"name = {_toml_string(name)}"),
                encoding="utf-8",
            )
        return cls(root)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lists_for(model_path: Path, workspace: Workspace | None = None) -> dict[str, tuple[str, ...]]:
    """Named lists for a model file: its workspace's ``lists/`` (the given workspace, or the
    one the file sits in), else a ``lists/`` folder beside the file's folder."""
    if workspace is None:
        try:
            workspace = Workspace.find(model_path.resolve().parent)
        except WorkspaceError:
            return read_lists(model_path.resolve().parent.parent / "lists")
    return workspace.lists()


def check_model_file(
    path: Path, lists: dict[str, tuple[str, ...]] | None = None
) -> tuple[Model | None, list[Problem]]:
    text = path.read_text(encoding="utf-8")
    return check_model(text, str(path), lists if lists is not None else lists_for(path))


def load_model(path: Path, lists: dict[str, tuple[str, ...]] | None = None) -> Model:
    text = path.read_text(encoding="utf-8")
    return parse_model(text, str(path), lists if lists is not None else lists_for(path))

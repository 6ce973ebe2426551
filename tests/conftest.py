from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

from leadgrade.core import Model, parse_model
from leadgrade.workspace import TEMPLATE, read_lists
from tests.stores import store  # noqa: F401  (the store fixture: SQLite and PostgreSQL)

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150
)
settings.load_profile("default")

DAY = 86400.0
T0 = 1_780_000_000.0  # 2026-05-28, an arbitrary instant all tests count from

BASE_MODEL: dict[str, Any] = {
    "audience": "employer",
    "fit": {
        "max": 50,
        "rules": [
            {"id": "title", "field": "job_title", "matches": r"(?i)\bvp\b", "points": 20},
            {
                "id": "size",
                "field": "company_size",
                "bins": [{"between": [50, 199], "points": 5}, {"at_least": 200, "points": 15}],
            },
            {"id": "free-email", "field": "email_domain", "in": ["gmail.com"], "points": -10},
        ],
    },
    "engagement": {
        "max": 100,
        "decay": {"per": "90d", "lose": "25%"},
        "rules": [
            {
                "id": "pricing",
                "event": "web.page_view",
                "where": {"path": {"prefix": "/pricing"}},
                "points": 10,
                "cap": {"points": 30, "per": "30d"},
            },
            {"id": "demo", "event": "demo.request", "points": 40},
            {
                "id": "unsub",
                "event": "email.unsubscribe",
                "points": -20,
                "once": True,
                "decays": False,
            },
        ],
    },
    "grades": {"fit": {"A": 40, "B": 30, "C": 15}, "engagement": {"1": 60, "2": 40, "3": 20}},
    "mql": {"when": {"score_at_least": 65}, "expire_below": 45},
}


def model_dict(**changes: Any) -> dict[str, Any]:
    """A copy of BASE_MODEL with dotted-path changes: ``model_dict(**{"fit.max": 30})``."""
    data = copy.deepcopy(BASE_MODEL)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def build(data: dict[str, Any], lists: dict[str, tuple[str, ...]] | None = None) -> Model:
    return parse_model(yaml.safe_dump(data, sort_keys=False), "test.yaml", lists or {})


@pytest.fixture
def base_model() -> Model:
    return build(BASE_MODEL)


@pytest.fixture(scope="session")
def template_lists() -> dict[str, tuple[str, ...]]:
    return read_lists(Path(str(TEMPLATE)) / "lists")


@pytest.fixture(scope="session")
def shipped_models(template_lists: dict[str, tuple[str, ...]]) -> dict[str, Model]:
    folder = Path(str(TEMPLATE)) / "models"
    return {
        path.stem: parse_model(path.read_text(), str(path), template_lists)
        for path in sorted(folder.glob("*.yaml"))
    }


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADGRADE_WORKSPACE", raising=False)
    return tmp_path


Writer = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write

from __future__ import annotations

import leadgrade
import leadgrade.core


def test_the_public_surface_is_pinned() -> None:
    assert leadgrade.__all__ == [
        "Contribution",
        "EngagementState",
        "Event",
        "Model",
        "ModelError",
        "Problem",
        "Scorecard",
        "__version__",
        "check_model",
        "parse_model",
        "score",
        "score_reaches",
    ]
    assert leadgrade.core.__all__ == [
        "Contribution",
        "EngagementState",
        "Event",
        "Model",
        "ModelError",
        "Problem",
        "Scorecard",
        "check_model",
        "engagement_reaches",
        "parse_model",
        "score",
        "score_matches",
        "score_reaches",
    ]
    for name in leadgrade.__all__:
        assert hasattr(leadgrade, name), name


def test_the_core_does_no_io() -> None:
    """The core imports nothing that reads files, the network or the clock."""
    import ast
    from pathlib import Path

    forbidden = {
        "os",
        "pathlib",
        "socket",
        "http",
        "urllib",
        "time",
        "datetime",
        "sqlite3",
        "sqlalchemy",
        "httpx",
        "subprocess",
        "shutil",
        "io",
    }
    core = Path(leadgrade.core.__file__).parent
    for path in core.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not set(names) & forbidden, f"{path.name} imports {set(names) & forbidden}"

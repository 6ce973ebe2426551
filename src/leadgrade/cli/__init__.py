"""The ``leadgrade`` command line."""

from __future__ import annotations

import typer

from leadgrade.cli import (
    account_cmds,
    engine_cmds,
    model_cmds,
    score_cmd,
    shadow_cmd,
    workspace_cmds,
)

app = typer.Typer(
    name="leadgrade",
    help="Lead scoring and MQL engine: fit + decaying engagement, graded A1–D4, explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
workspace_cmds.register(app)
model_cmds.register(app)
score_cmd.register(app)
engine_cmds.register(app)
account_cmds.register(app)
shadow_cmd.register(app)


def main() -> None:
    app()

"""The ``leadgrade`` command line."""

from __future__ import annotations

import typer

from leadgrade.cli import (
    account_cmds,
    audit_cmds,
    consent_cmds,
    engine_cmds,
    handoff_cmds,
    integration_cmds,
    model_cmds,
    outbox_cmd,
    privacy_cmds,
    report_cmds,
    score_cmd,
    segments_cmd,
    shadow_cmd,
    sql_cmds,
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
handoff_cmds.register(app)
outbox_cmd.register(app)
privacy_cmds.register(app)
consent_cmds.register(app)
segments_cmd.register(app)
sql_cmds.register(app)
audit_cmds.register(app)
report_cmds.register(app)
integration_cmds.register(app)


def main() -> None:
    app()

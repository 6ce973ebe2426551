"""The handoff: assignments and SLA clocks, touches, feedback, timers, the outbox, segments

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def _lead_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=f"fk_{table}_lead_id_leads")


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("due_at", Time, nullable=True),
        sa.Column("touched_at", Time, nullable=True),
        sa.Column("breached_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
        _lead_fk("assignments"),
    )
    op.create_index("ix_assignments_lead_id", "assignments", ["lead_id"])
    op.create_table(
        "routing_cursors",
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("last_member", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("team", name="pk_routing_cursors"),
    )
    op.create_table(
        "touches",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_touches"),
        _lead_fk("touches"),
    )
    op.create_index("ix_touches_lead_id", "touches", ["lead_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=False),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("grade", sa.String(2), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        _lead_fk("feedback"),
    )
    op.create_index("ix_feedback_lead_id", "feedback", ["lead_id"])
    op.create_table(
        "timers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("done_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        _lead_fk("timers"),
    )
    op.create_index("ix_timers_lead_id", "timers", ["lead_id"])
    op.create_index("ix_timers_status_due_at", "timers", ["status", "due_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("delivered_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("destination", "event_id", name="uq_outbox_destination_event_id"),
    )
    op.create_index("ix_outbox_lead_id", "outbox", ["lead_id"])
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "segment_members",
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("entered_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("segment", "lead_id", name="pk_segment_members"),
        _lead_fk("segment_members"),
    )
    op.create_index("ix_segment_members_lead_id", "segment_members", ["lead_id"])
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("mql_blocked_until", Time, nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("mql_blocked_until")
    for table in (
        "segment_members",
        "outbox",
        "timers",
        "feedback",
        "touches",
        "routing_cursors",
        "assignments",
    ):
        op.drop_table(table)

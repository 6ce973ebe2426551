"""Compliance and privacy: the consent ledger, review flags, tombstones, the store's
secrets, the audit log, demographics kept apart; messages to a person name them

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("basis", sa.String(30), nullable=True),
        sa.Column("basis_ref", sa.String(300), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("recorded_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_consents_person_id_people"),
    )
    op.create_index("ix_consents_person_id_channel_at", "consents", ["person_id", "channel", "at"])
    op.create_table(
        "review_flags",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("resolved_at", Time, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_flags"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_review_flags_person_id_people"
        ),
    )
    op.create_index("ix_review_flags_person_id", "review_flags", ["person_id"])
    op.create_table(
        "tombstones",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("erasure", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("at", Time, nullable=False),
        sa.Column("basis", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tombstones"),
    )
    op.create_index("ix_tombstones_erasure", "tombstones", ["erasure"])
    op.create_index("ix_tombstones_hash", "tombstones", ["hash"])
    op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_store_secrets"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "demographics",
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("collected_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("person_id", name="pk_demographics"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_demographics_person_id_people"
        ),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.create_index("ix_outbox_person_id", ["person_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_person_id")
        batch.drop_column("person_id")
    for table in (
        "demographics",
        "audit_log",
        "store_secrets",
        "tombstones",
        "review_flags",
        "consents",
    ):
        op.drop_table(table)

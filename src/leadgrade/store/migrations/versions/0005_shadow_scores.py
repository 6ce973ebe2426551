"""Shadow scores: a model version scoring beside the active one, kept apart

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_scores",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("fit", sa.Double, nullable=False),
        sa.Column("engagement", sa.Double, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("grade", sa.String(2), nullable=False),
        sa.Column("mql", sa.Boolean, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shadow_scores"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_shadow_scores_version_id_model_versions",
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_shadow_scores_lead_id_leads"),
    )
    op.create_index("ix_shadow_scores_version_id", "shadow_scores", ["version_id"])
    op.create_index("ix_shadow_scores_lead_id", "shadow_scores", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_shadow_scores_lead_id", "shadow_scores")
    op.drop_index("ix_shadow_scores_version_id", "shadow_scores")
    op.drop_table("shadow_scores")

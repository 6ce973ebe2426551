"""Drop the index on the stored score: scores decay, so no query orders by it, and every
rescore paid to rewrite it

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_audience_score")


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.create_index("ix_leads_audience_score", ["audience", "score"])

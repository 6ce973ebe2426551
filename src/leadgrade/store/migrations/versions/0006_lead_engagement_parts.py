"""Each lead's engagement as two closed-form numbers, so roll-ups are one SQL aggregate

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("engagement_anchored", sa.Double, nullable=True))
        batch.add_column(sa.Column("engagement_static", sa.Double, nullable=True))
        batch.create_index("ix_leads_account_id_audience", ["account_id", "audience"])


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_account_id_audience")
        batch.drop_column("engagement_static")
        batch.drop_column("engagement_anchored")

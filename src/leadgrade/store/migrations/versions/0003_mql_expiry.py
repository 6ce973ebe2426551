"""When each MQL expires

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("mql_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_leads_mql_expires_at", ["mql_expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_mql_expires_at")
        batch.drop_column("mql_expires_at")

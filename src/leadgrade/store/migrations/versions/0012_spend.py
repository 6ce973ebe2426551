"""Analytics: marketing spend by channel or campaign and period

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "spend",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=True),
        sa.Column("campaign", sa.String(200), nullable=True),
        sa.Column("audience", sa.String(40), nullable=True),
        sa.Column("period_start", Time, nullable=False),
        sa.Column("period_end", Time, nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("imported_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spend"),
    )


def downgrade() -> None:
    op.drop_table("spend")

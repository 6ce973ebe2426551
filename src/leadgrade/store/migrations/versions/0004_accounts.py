"""Accounts: employer leads roll up to their company

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("audience", sa.String(40), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("fit", sa.Double, nullable=False),
        sa.Column("engagement", sa.Double, nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("grade", sa.String(2), nullable=False),
        sa.Column("contacts", sa.Integer, nullable=False),
        sa.Column("engaged", sa.Integer, nullable=False),
        sa.Column("scored_at", Time, nullable=False),
        sa.Column("mqa_since", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("audience", "domain", name="uq_accounts_audience_domain"),
    )
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("account_id", sa.String(36), nullable=True))
        batch.create_foreign_key("fk_leads_account_id_accounts", "accounts", ["account_id"], ["id"])
        batch.create_index("ix_leads_account_id", ["account_id"])


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_account_id")
        batch.drop_constraint("fk_leads_account_id_accounts", type_="foreignkey")
        batch.drop_column("account_id")
    op.drop_table("accounts")

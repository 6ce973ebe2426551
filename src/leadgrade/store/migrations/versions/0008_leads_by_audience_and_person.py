"""Leads by (audience, person): rescoring an audience pages through its leads in person
order, which the (person, audience) constraint could not serve without a sort per page

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.create_index("ix_leads_audience_person_id", ["audience", "person_id"])


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_audience_person_id")

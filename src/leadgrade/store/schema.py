"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/`` create them; this
module is what the code queries through. Times are timezone-aware UTC datetimes."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Time = sa.DateTime(timezone=True)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("merged_into", sa.String(36), sa.ForeignKey("people.id"), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# How events name a person: ("email", "ana@acme.com"), ("anonymous", "a-81f"),
# ("bullhorn", "123"), ("person", "<id>"). One person, many identities.
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(320), primary_key=True),
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), nullable=False, index=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # the idempotency key
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("occurred_at", Time, nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("audiences", sa.JSON, nullable=False),
    sa.Column("properties", sa.JSON, nullable=False),
    sa.Column("channel", sa.String(200)),
    sa.Column("source", sa.String(200)),
    sa.Column("campaign", sa.String(200)),
)

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), nullable=False),
    sa.Column("audience", sa.String(40), nullable=False),
    sa.Column("fit", sa.Double, nullable=False),
    # Engagement is stored as a value and the time it is valued at; reading it later is a
    # multiplication (DESIGN §6), so nothing rewrites leads as time passes.
    sa.Column("engagement", sa.Double, nullable=False),
    sa.Column("engagement_as_of", Time, nullable=True),
    # The same engagement in closed form: E(t) = min(S + A·exp(−λ·(t − ANCHOR)), max), A the
    # decaying part valued at the fixed instant ANCHOR (leadgrade.core.scoring). An account's
    # engagement is then one SUM over its contacts. NULL where A would overflow (a decay
    # faster than about a week) and on rows scored before revision 0006: readers fall back
    # to the state.
    sa.Column("engagement_anchored", sa.Double, nullable=True),
    sa.Column("engagement_static", sa.Double, nullable=True),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("grade", sa.String(2), nullable=False),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),  # the incremental EngagementState
    sa.Column("model_digest", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(200), nullable=True),
    # When an MQL's decaying score falls below the model's expire_below: the closed-form
    # crossing time, so expiry is one indexed query, not a scan of every lead.
    sa.Column("mql_expires_at", Time, nullable=True, index=True),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=True, index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("person_id", "audience"),
    sa.Index(None, "audience", "stage"),
    sa.Index(None, "account_id", "audience"),
    sa.Index(None, "audience", "person_id"),  # rescoring pages through an audience
)

# An employer's company: its contacts' leads roll up to it (DESIGN §2). The numbers are
# as of ``scored_at``; readers value them now from the contacts' leads.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
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
    sa.Column("mqa_since", Time, nullable=True),  # when it became an MQA; None when not one
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("audience", "domain"),
)

stage_changes = sa.Table(
    "stage_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("at", Time, nullable=False),
    sa.Column("from_stage", sa.String(20), nullable=True),
    sa.Column("to_stage", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("audience", sa.String(40), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # draft, active, shadow, retired
    sa.Column("created_at", Time, nullable=False),
    sa.Column("activated_at", Time, nullable=True),
    sa.UniqueConstraint("audience", "digest"),
)

# A model version in shadow scores every lead of its audience beside the active version;
# its numbers are kept here, apart, and never move a stage. ``id`` is version:lead.
shadow_scores = sa.Table(
    "shadow_scores",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column(
        "version_id", sa.String(36), sa.ForeignKey("model_versions.id"), nullable=False, index=True
    ),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("fit", sa.Double, nullable=False),
    sa.Column("engagement", sa.Double, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("grade", sa.String(2), nullable=False),
    sa.Column("mql", sa.Boolean, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# API keys: only a hash of the secret is kept; the prefix finds the row.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # the key's public prefix
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("revoked_at", Time, nullable=True),
)

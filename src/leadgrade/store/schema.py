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
    # After sales rejects an MQL: no MQL again before this time (the cool-down).
    sa.Column("mql_blocked_until", Time, nullable=True),
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
    sa.Column("owner", sa.String(200), nullable=True),  # the rep who owns the relationship
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

# ------------------------------------------------------------------- the handoff (DESIGN §7)

# Who owns a lead, from when, chosen by which routing rule; the latest row of a lead is its
# current assignment and carries its first-touch SLA clock.
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),  # the routing rule that chose
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("due_at", Time, nullable=True),  # first touch due; None: no SLA
    sa.Column("touched_at", Time, nullable=True),  # the first touch after assignment
    sa.Column("breached_at", Time, nullable=True),
)

# Round-robin position per team: the member assigned last. Read under a row lock, so
# several workers share one rotation.
routing_cursors = sa.Table(
    "routing_cursors",
    metadata,
    sa.Column("team", sa.String(100), primary_key=True),
    sa.Column("last_member", sa.String(200), nullable=True),
)

# A sales touch on a lead: call, e-mail, SMS, meeting. ``id`` is the idempotency key.
touches = sa.Table(
    "touches",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("source", sa.String(40), nullable=False),  # api, cli, crm, ats
    sa.Column("note", sa.Text, nullable=True),
)

# Sales feedback on a lead: accept, qualify, reject (with a reason code), disqualify.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # the idempotency key
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),  # BANT fields, screening, a note
    sa.Column("from_stage", sa.String(20), nullable=False),
    sa.Column("to_stage", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("grade", sa.String(2), nullable=False),  # the lead's grade when decided
    sa.Column("score", sa.Double, nullable=False),
)

# Timed work (DESIGN §10): an SLA breach, a placed candidate's re-engagement, a segment
# window closing. A due row is claimed with a row lock (SKIP LOCKED on PostgreSQL) and
# done in the same transaction, so no job runs twice and none is lost when a worker
# dies. Ids are deterministic ("sla:<assignment>"), so scheduling twice is harmless.
timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=True, index=True),
    sa.Column("due_at", Time, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending, done, cancelled
    sa.Column("created_at", Time, nullable=False),
    sa.Column("done_at", Time, nullable=True),
    sa.Index(None, "status", "due_at"),
)

# Messages to deliver (DESIGN §7): written in the transaction of the change that caused
# them, delivered by a worker with retries. ``id`` is the message id receivers
# deduplicate on (the Standard Webhooks ``webhook-id``); (destination, event_id) makes
# enqueueing the same change twice harmless.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("destination", sa.String(100), nullable=False),  # its name in the settings
    sa.Column("channel", sa.String(16), nullable=False),  # slack, webhook, email
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("lead_id", sa.String(36), nullable=True, index=True),
    # A message *to a person* (nurture, re-engagement) names them: consent and quiet hours
    # gate it, and their messages of the last day are counted. None for reps' messages.
    sa.Column("person_id", sa.String(36), nullable=True, index=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending, delivered, dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Time, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("delivered_at", Time, nullable=True),
    sa.UniqueConstraint("destination", "event_id"),
    sa.Index(None, "status", "next_attempt_at"),
)

# Segment membership (nurture lists), kept current as leads change.
segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("segment", sa.String(100), primary_key=True),
    sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), primary_key=True),
    sa.Column("entered_at", Time, nullable=False),
    sa.Index(None, "lead_id"),
)

# --------------------------------------------------------- compliance and privacy (DESIGN §9)

# The consent ledger: every change of a person's permission to be contacted on a channel,
# with its evidence; the newest row per (person, channel) is the status. Append-only.
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # the idempotency key
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), nullable=False),
    sa.Column("channel", sa.String(10), nullable=False),  # email, sms, phone, all
    sa.Column("status", sa.String(12), nullable=False),  # opted_in, opted_out, objected
    sa.Column("basis", sa.String(30), nullable=True),  # consent, legitimate_interest (GDPR)
    sa.Column("basis_ref", sa.String(300), nullable=True),  # e.g. the LIA's reference
    sa.Column("source", sa.String(100), nullable=False),  # form, sms, api, import, crm…
    sa.Column("evidence", sa.JSON, nullable=False),  # form/url, disclosure version, ip, keyword
    sa.Column("at", Time, nullable=False),
    sa.Column("recorded_at", Time, nullable=False),
    sa.Index(None, "person_id", "channel", "at"),
)

# What a human must look at: an SMS reply that may or may not mean stop, and the like.
review_flags = sa.Table(
    "review_flags",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), nullable=True, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("resolved_at", Time, nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
)

# What is left of an erased person: a salted hash of each way they were named — e-mail,
# phone, anonymous web id, ATS or CRM id — so a later import, event or webhook naming them
# is refused and their suppression holds. Nothing readable.
tombstones = sa.Table(
    "tombstones",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("erasure", sa.String(36), nullable=False, index=True),  # one erasure, many rows
    sa.Column("kind", sa.String(40), nullable=False),  # email, phone, anonymous, bullhorn…
    sa.Column("hash", sa.String(64), nullable=True, index=True),  # None: named by nothing
    sa.Column("at", Time, nullable=False),
    sa.Column("basis", sa.String(100), nullable=False),  # request, retention, ats-delete…
    sa.Column("source", sa.String(100), nullable=False),
)

# Values the store keeps for itself, such as the salt of tombstone hashes.
store_secrets = sa.Table(
    "store_secrets",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

# Append-only: who did what, when (model versions, manual moves, keys, exports, erasures,
# retention runs).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Time, nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),  # what it acted on: a lead, a key…
    sa.Column("details", sa.JSON, nullable=False),
)

# Self-identified demographics for EEO and fairness reporting: apart from everything that
# scores, read only by the fairness report.
demographics = sa.Table(
    "demographics",
    metadata,
    sa.Column("person_id", sa.String(36), sa.ForeignKey("people.id"), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("collected_at", Time, nullable=False),
)

# ------------------------------------------------------------------ integrations (DESIGN §8)

# A poller's position, one row per integration: the Bullhorn subscription and the batch
# fetched but not yet acknowledged (its requestId), Jobvite's last full pass.
integration_state = sa.Table(
    "integration_state",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),  # e.g. bullhorn, jobvite
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# The last seen version of each record a polled system has no webhooks for (Jobvite):
# the next poll diffs against it to make created / changed / hired events.
integration_snapshots = sa.Table(
    "integration_snapshots",
    metadata,
    sa.Column("source", sa.String(40), primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),  # candidate, requisition…
    sa.Column("entity_id", sa.String(200), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("seen_at", Time, nullable=False),
)

# ------------------------------------------------------------------------ analytics (DESIGN §2)

# Marketing spend, imported: what a channel or campaign cost over a period, for cost per
# lead, MQL, SQL and win. ``id`` is the idempotency key of an imported row.
spend = sa.Table(
    "spend",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("channel", sa.String(200), nullable=True),
    sa.Column("campaign", sa.String(200), nullable=True),
    sa.Column("audience", sa.String(40), nullable=True),
    sa.Column("period_start", Time, nullable=False),
    sa.Column("period_end", Time, nullable=False),
    sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("imported_at", Time, nullable=False),
)

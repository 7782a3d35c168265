"""Every table of the state database, in one place (SQLAlchemy Core).

The same tables live in the SQLite file under ``TIDINGS_HOME`` or in PostgreSQL
(``[state] url``). They change only through a versioned Alembic migration in
``core/runtime/migrations/versions/``: add the table or column here *and* write the
migration that creates it; ``tests/test_state.py`` checks that a database migrated to head
has exactly these tables and columns.

APScheduler's job table (``apscheduler_jobs``) shares the database but belongs to
APScheduler: its own definition is created under the migrations' database lock
(``core.digests.scheduling.shared_job_store``), so replicas starting together create it once.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()

# Platform events and questions claimed by one replica. ``status`` is "held" while the holder
# works (``lease_until`` says until when it is alive; it renews) and "done" once answered;
# done rows are forgotten after ``expires_at``.
claims = Table(
    "claims",
    metadata,
    Column("key", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # Every claim first forgets the done ones past their day: found by this index, not a scan.
    Index("ix_claims_expires_at", "expires_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", Text, nullable=False),
    Column("answer_id", Text, nullable=False, server_default=""),
    Column("asker", Text, nullable=False, server_default=""),
    Column("grounded", Integer, nullable=True),
    UniqueConstraint("answer_id", "user"),
)

answers = Table(
    "answers",
    metadata,
    Column("answer_id", Text, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

# A digest window is claimed ("claimed", ``claimed_at`` renewed by its live owner) before it
# is summarised, and marked "posted" (with the message id) or "skipped" after.
digests = Table(
    "digests",
    metadata,
    Column("platform", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("window_start", Text, primary_key=True),
    Column("window_end", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("owner", Text, nullable=False, server_default=""),
    Column("message_id", Text, nullable=True),
    Column("posted_at", Text, nullable=True),
)

notes_cache = Table(
    "notes_cache",
    metadata,
    Column("key", Text, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

pending_questions = Table(
    "pending_questions",
    metadata,
    Column("key", Text, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

# The per-user question rate limit, shared by every replica: one row per user (locked while
# the user's recent questions are counted) and one per question asked in the last minute.
rate_users = Table(
    "rate_users",
    metadata,
    Column("user", Text, primary_key=True),
)

rate_events = Table(
    "rate_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_rate_events_user_at", "user", "at"),
)

# One-off upgrades done to this deployment (the bundled docs moved to their own scope, ...).
milestones = Table(
    "milestones",
    metadata,
    Column("key", Text, primary_key=True),
    Column("done_at", Text, nullable=False),
)

# Digests switched on from the chat (``/tidings digest on``).
digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("platform", Text, primary_key=True),
    Column("workspace", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("cron", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("created_at", Text, nullable=False),
)

# How each digest's latest scheduled run went; ``failures`` counts every failed run.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("platform", Text, nullable=False),
    Column("last_run", Text, nullable=False),
    Column("last_result", Text, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
)

# Slack workspaces installed through the OAuth flow (the bot token is in the payload: this
# database must be protected like the tokens in .env), and the flow's one-time states.
slack_installations = Table(
    "slack_installations",
    metadata,
    Column("enterprise_id", Text, primary_key=True, server_default=""),
    Column("team_id", Text, primary_key=True),
    Column("installed_at", Text, nullable=False),
    Column("payload", Text, nullable=False),
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state", Text, primary_key=True),
    Column("expires_at", Float, nullable=False),
)

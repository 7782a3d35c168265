"""The state as the single-file SQLite store left it (its own migrations included).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_events",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.Text, nullable=False),
        sa.Column("answer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("asker", sa.Text, nullable=False, server_default=""),
        sa.Column("grounded", sa.Integer, nullable=True),
        sa.UniqueConstraint("answer_id", "user"),
    )
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "digests",
        sa.Column("platform", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("window_start", sa.Text, primary_key=True),
        sa.Column("window_end", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("message_id", sa.Text, nullable=True),
        sa.Column("posted_at", sa.Text, nullable=True),
    )
    for name in ("notes_cache", "pending_questions"):
        op.create_table(
            name,
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
        )


def downgrade() -> None:
    for name in ("pending_questions", "notes_cache", "digests", "answers", "feedback", "seen_events"):
        op.drop_table(name)

"""Claims with leases (replacing processed-event keys) and the shared per-user rate limit.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    # Events already processed stay processed: they become completed claims.
    op.execute(
        "INSERT INTO claims (key, owner, status, lease_until, expires_at)"
        " SELECT key, '', 'done', 0, expires_at FROM seen_events"
    )
    op.drop_table("seen_events")
    op.create_table("rate_users", sa.Column("user", sa.Text, primary_key=True))
    op.create_table(
        "rate_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_events_user_at", "rate_events", ["user", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_events_user_at", "rate_events")
    op.drop_table("rate_events")
    op.drop_table("rate_users")
    op.create_table(
        "seen_events",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.execute("INSERT INTO seen_events (key, expires_at) SELECT key, expires_at FROM claims WHERE status = 'done'")
    op.drop_table("claims")

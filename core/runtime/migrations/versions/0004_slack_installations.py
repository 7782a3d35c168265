"""Slack workspaces installed through the OAuth flow, and the flow's one-time states.

A SQLite file that got these tables from the pre-Alembic store (its ``user_version`` 4) keeps
them: only missing tables are created.

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


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "slack_installations" not in existing:
        op.create_table(
            "slack_installations",
            sa.Column("enterprise_id", sa.Text, primary_key=True, server_default=""),
            sa.Column("team_id", sa.Text, primary_key=True),
            sa.Column("installed_at", sa.Text, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
        )
    if "oauth_states" not in existing:
        op.create_table(
            "oauth_states",
            sa.Column("state", sa.Text, primary_key=True),
            sa.Column("expires_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("oauth_states")
    op.drop_table("slack_installations")

"""One-off upgrade milestones, digests switched on from the chat, and each digest's last run.

A SQLite file that got these tables from the pre-Alembic store (its ``user_version`` 2 and 3)
keeps them: only missing tables are created.

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
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "milestones" not in existing:
        op.create_table(
            "milestones",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("done_at", sa.Text, nullable=False),
        )
    if "digest_subscriptions" not in existing:
        op.create_table(
            "digest_subscriptions",
            sa.Column("platform", sa.Text, primary_key=True),
            sa.Column("workspace", sa.Text, primary_key=True),
            sa.Column("channel", sa.Text, primary_key=True),
            sa.Column("name", sa.Text, nullable=False, server_default=""),
            sa.Column("cron", sa.Text, nullable=False),
            sa.Column("timezone", sa.Text, nullable=False),
            sa.Column("created_by", sa.Text, nullable=False, server_default=""),
            sa.Column("created_at", sa.Text, nullable=False),
        )
    if "digest_runs" not in existing:
        op.create_table(
            "digest_runs",
            sa.Column("job_id", sa.Text, primary_key=True),
            sa.Column("platform", sa.Text, nullable=False),
            sa.Column("last_run", sa.Text, nullable=False),
            sa.Column("last_result", sa.Text, nullable=False),
            sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        )


def downgrade() -> None:
    for name in ("digest_runs", "digest_subscriptions", "milestones"):
        op.drop_table(name)

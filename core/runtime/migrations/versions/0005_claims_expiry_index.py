"""An index on claims.expires_at: every claim forgets the completed claims past their day,
which without it scans the table (a day of a busy workspace's events).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_claims_expires_at", "claims", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_claims_expires_at", "claims")

"""staff leave: deactivation (who, when), last activity, the role before ADMIN_IDS

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("deactivated_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("role_before_admin", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.drop_column("role_before_admin")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("deactivated_by")
        batch_op.drop_column("deactivated_at")

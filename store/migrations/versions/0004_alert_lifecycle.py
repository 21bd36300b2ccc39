"""alerts keep their promise: one card per answer, callback steps, unreachable staff

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:40:00

- alert.reason_keys: every finding's key on the card (reason_key stays the most severe);
- alert.callback_due_at / called_back_by / called_back_at: "Call back done" is its own
  step after Acknowledge, and a callback not done in time escalates;
- staff_member.unreachable_at: Telegram answered 403 for them; alerts go to the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason_keys", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("callback_due_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("called_back_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("called_back_at", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_alert_callback_due_at", ["callback_due_at"], unique=False)
        batch_op.create_foreign_key(
            "fk_alert_called_back_by", "staff_member", ["called_back_by"], ["id"]
        )
    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.drop_column("unreachable_at")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alert_called_back_by", type_="foreignkey")
        batch_op.drop_index("ix_alert_callback_due_at")
        batch_op.drop_column("called_back_at")
        batch_op.drop_column("called_back_by")
        batch_op.drop_column("callback_due_at")
        batch_op.drop_column("reason_keys")

"""late answers (a red flag tapped on a closed check-in) and media notes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("patient_note", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("media_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient_note", schema=None) as batch_op:
        batch_op.drop_column("media_kind")
        batch_op.drop_column("media_message_id")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("late")

"""one-time keys: a patient's enrollment conversation, handled webhook updates

Revision ID: 0009
Revises: 0006 (the lead re-chains at merge)
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enroll_key", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_patient_enroll_key", ["enroll_key"])
    op.create_table(
        "processed_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index(
        "ix_processed_update_handled_at", "processed_update", ["handled_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_processed_update_handled_at", table_name="processed_update")
    op.drop_table("processed_update")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_constraint("uq_patient_enroll_key", type_="unique")
        batch_op.drop_column("enroll_key")

"""one-time keys: a patient's enrollment conversation, handled webhook updates

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain column and a unique index: no table rebuild on SQLite (patient is referenced
    # by most tables, and a rebuild would drop it under their foreign keys)
    op.add_column("patient", sa.Column("enroll_key", sa.String(length=32), nullable=True))
    op.create_index("ix_patient_enroll_key", "patient", ["enroll_key"], unique=True)
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
    op.drop_index("ix_patient_enroll_key", table_name="patient")
    op.drop_column("patient", "enroll_key")

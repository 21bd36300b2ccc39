"""the home programme: a patient's exercises with the dosage their therapist set, and
the exercises they log (done, too painful) day by day, and the clinic's exercise media

Revision ID: 0011
Revises: 0010_frontdesk
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010_frontdesk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # new tables only: patients enrolled before them have no rows and read as the
    # protocol's default programme until their therapist first changes it
    op.create_table(
        "programme_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["changed_by"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "exercise", name="uq_programme_exercise"),
    )
    op.create_index("ix_programme_item_patient_id", "programme_item", ["patient_id"], unique=False)
    op.create_table(
        "exercise_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "exercise", "day", "kind", name="uq_exercise_log"),
    )
    op.create_index("ix_exercise_log_patient_id", "exercise_log", ["patient_id"], unique=False)

    op.create_table(
        "exercise_media",
        sa.Column("exercise", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=256), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["set_by"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("exercise"),
    )


def downgrade() -> None:
    op.drop_table("exercise_media")
    op.drop_index("ix_exercise_log_patient_id", table_name="exercise_log")
    op.drop_table("exercise_log")
    op.drop_index("ix_programme_item_patient_id", table_name="programme_item")
    op.drop_table("programme_item")

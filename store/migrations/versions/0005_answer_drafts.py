"""answer drafts (multi-select Q4) and Q4 answers as choice bitmasks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 07:40:00

Q4 ("since the treatment, anything new?") became a multi question: its stored
answer is the bitmask of the chosen indexes, and "felt faint" (SOON) was put
before "fainted" (URGENT). Old Q4 rows held the index of one choice in the old
order (nothing_new, numbness_tingling, leg_weakness, fainted or nearly fainted,
fever_chills); they become the one-choice mask of the same key in the new order
(nothing_new, numbness_tingling, leg_weakness, felt_faint, fainted, fever_chills):
an old "fainted or nearly fainted" stays "fainted", the safe reading. The loader
requires Q4 to be "multi" from now on, so no protocol reads these rows as indexes.

Downgrade keeps one choice per row, the most severe of the mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: old index → new bit (1 << new index)
_UP = {0: 1 << 0, 1: 1 << 1, 2: 1 << 2, 3: 1 << 4, 4: 1 << 5}
#: new bit → old index, most severe first (weakness, faint, near-faint, fever, numbness)
_DOWN = ((1 << 2, 2), (1 << 4, 3), (1 << 3, 3), (1 << 5, 4), (1 << 1, 1), (1 << 0, 0))


def upgrade() -> None:
    op.create_table(
        "answer_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("question_key", sa.String(length=16), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=False),
        sa.Column("selected_at", store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkin.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkin_id", "question_key", "choice", name="uq_answer_draft_choice"),
    )
    with op.batch_alter_table("answer_draft", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_answer_draft_checkin_id"), ["checkin_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_answer_draft_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_answer_draft_selected_at"), ["selected_at"], unique=False
        )
    cases = " ".join(f"WHEN {old} THEN {new}" for old, new in _UP.items())
    op.execute(
        f"UPDATE answer SET value = CASE value {cases} ELSE value END WHERE question_key = 'Q4'"
    )


def downgrade() -> None:
    cases = " ".join(f"WHEN (value & {bit}) <> 0 THEN {old}" for bit, old in _DOWN)
    op.execute(f"UPDATE answer SET value = CASE {cases} ELSE 0 END WHERE question_key = 'Q4'")
    with op.batch_alter_table("answer_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answer_draft_selected_at"))
        batch_op.drop_index(batch_op.f("ix_answer_draft_patient_id"))
        batch_op.drop_index(batch_op.f("ix_answer_draft_checkin_id"))
    op.drop_table("answer_draft")

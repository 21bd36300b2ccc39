"""the screening facts the front desk records at enrollment (issue 14 item 7)

Revision ID: 0010_frontdesk
Revises: 0009
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_frontdesk"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain nullable column: no table rebuild on SQLite; NULL is "not recorded" (patients
    # enrolled before this step existed), [] is "none of these"
    op.add_column("patient", sa.Column("screening", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("screening")

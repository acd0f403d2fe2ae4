"""positions.possible_change and possible_since: a held change shown beside the position

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 12:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shiftwatch.models.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("possible_change", sa.String(), nullable=True))
        batch.add_column(
            sa.Column("possible_since", shiftwatch.models.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("possible_since")
        batch.drop_column("possible_change")

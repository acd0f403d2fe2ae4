"""stances.basis: why an observation reads as it does (cue, holder rule)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stances") as batch:
        batch.add_column(sa.Column("basis", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("stances") as batch:
        batch.drop_column("basis")

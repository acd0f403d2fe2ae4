"""reviews; stances.said_at; shifts.confirmed_at, withdrawn_at, withdrawn_note; alerts.kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shiftwatch.models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stance", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("at", shiftwatch.models.types.UTCDateTime(), nullable=False),
        sa.Column("undone_at", shiftwatch.models.types.UTCDateTime(), nullable=True),
        sa.Column("observation_ids", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reviews") as batch:
        batch.create_index("ix_reviews_target", ["target_id"], unique=False)
    with op.batch_alter_table("stances") as batch:
        batch.add_column(
            sa.Column("said_at", shiftwatch.models.types.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(
            sa.Column("confirmed_at", shiftwatch.models.types.UTCDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("withdrawn_at", shiftwatch.models.types.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("withdrawn_note", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("kind", sa.Text(), nullable=False, server_default="shift"))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of `shifts` would drop
    # a table that `alerts` points at, which SQLite's foreign keys refuse.
    op.drop_column("alerts", "kind")
    for column in ("withdrawn_note", "withdrawn_at", "confirmed_at"):
        op.drop_column("shifts", column)
    with op.batch_alter_table("stances") as batch:
        batch.drop_column("said_at")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_index("ix_reviews_target")
    op.drop_table("reviews")

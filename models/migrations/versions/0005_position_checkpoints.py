"""position_checkpoints, and the indexes a replay from a checkpoint and a digest read through

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shiftwatch.models.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "position_checkpoints",
        sa.Column("party_id", sa.String(), nullable=False),
        sa.Column("demand_id", sa.String(), nullable=False),
        sa.Column("unit_key", sa.String(), nullable=False),
        sa.Column("stance", sa.String(), nullable=False),
        sa.Column("at", shiftwatch.models.types.UTCDateTime(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("since", shiftwatch.models.types.UTCDateTime(), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("possible_change", sa.String(), nullable=True),
        sa.Column("possible_since", shiftwatch.models.types.UTCDateTime(), nullable=True),
        sa.Column("earlier", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("party_id", "demand_id"),
    )
    op.create_index(
        "ix_stances_pair_time", "stances", ["party_id", "demand_id", "published_at"]
    )
    op.create_index("ix_stances_cluster", "stances", ["cluster_id"])
    op.create_index("ix_stances_published_at", "stances", ["published_at"])
    op.create_index("ix_documents_created_at", "documents", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_documents_created_at", table_name="documents")
    op.drop_index("ix_stances_published_at", table_name="stances")
    op.drop_index("ix_stances_cluster", table_name="stances")
    op.drop_index("ix_stances_pair_time", table_name="stances")
    op.drop_table("position_checkpoints")

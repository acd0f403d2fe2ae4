"""signature_bands: the LSH band keys of each stored signature, so dedupe reads only the
documents sharing a band with new ones; signatures.band_format; an index on
stances.statement_id (a replay from a checkpoint reads the earlier observations of the same
quotes)

Existing signatures are filed lazily: rows with `band_format` NULL (all of them after this
upgrade) get their band keys at the next run's first dedupe (`pipeline.cluster.load_index`),
the way signatures made with other parameters are recomputed. The migration itself stays
data-free and fast.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signature_bands",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("document_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("key", "document_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("band_format", sa.Integer(), nullable=True))
        batch.create_index("ix_signatures_band_format", ["band_format"], unique=False)
    op.create_index("ix_stances_statement", "stances", ["statement_id"])


def downgrade() -> None:
    op.drop_index("ix_stances_statement", table_name="stances")
    with op.batch_alter_table("signatures") as batch:
        batch.drop_index("ix_signatures_band_format")
        batch.drop_column("band_format")
    op.drop_table("signature_bands")

"""source_watermarks: how far `ingest --sql ... --since-last` has read each source of a dataset

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

One row per (dataset, source): the newest interaction time merged from that source, written in the
same transaction as the rows, so a failed night moves nothing and the next one reads the same delta
again. A source is named by its server (no password) and query text, hashed; both are kept to read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_watermarks",
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("source_key", sa.Text(), primary_key=True),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_watermarks")

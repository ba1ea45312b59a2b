"""neighbours table and the HNSW index function

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

`neighbours` holds the top-K similar users/items of an embedding run, for later steps (RecLM
profiles, SCORE retriever training, CoRAL retrieval). `colrec_ensure_hnsw` (sql/) creates the
partial HNSW index of one (space, dim) on demand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "neighbours",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("space", sa.String(length=100), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("neighbour_id", sa.BigInteger(), nullable=False),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "space", "entity_id", "rank"),
    )
    op.create_index(op.f("ix_neighbours_dataset_id"), "neighbours", ["dataset_id"], unique=False)
    op.execute(sql_file("colrec_ensure_hnsw.sql"))


def downgrade() -> None:
    op.execute("drop function if exists colrec_ensure_hnsw(text, integer, text)")
    op.drop_index(op.f("ix_neighbours_dataset_id"), table_name="neighbours")
    op.drop_table("neighbours")

"""refresh_locks: the one-refresh-per-dataset lock as a lease row; partitions attached, not created in place

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

The refresh lock was a Postgres advisory lock, and advisory locks are open to every login: a
downstream reader holding `pg_try_advisory_lock(<colrec's key>, hashtext(dataset))` made every
refresh exit 75. A lease row in `refresh_locks` (no grant to colrec_reader) takes its place; it
names the backend that holds it, and a lease whose backend is gone is free, so a killed refresh
still frees its dataset at once. `colrec_run_partition` now creates each partition standalone and
attaches it (sql/colrec_partitions.sql), so readers' open transactions no longer block it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_locks",
        sa.Column("dataset", sa.Text(), primary_key=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("backend_start", sa.DateTime(timezone=True)),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute(sql_file("colrec_partitions.sql"))  # create or replace keeps the revoked execute rights


def downgrade() -> None:
    op.drop_table("refresh_locks")
    # the attaching colrec_run_partition stays: it makes the same partitions as the one of 0007

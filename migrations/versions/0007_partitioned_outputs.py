"""predictions, recommendations and embeddings partitioned by dataset, then by run

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

At millions of users a run's outputs are millions of rows. Partitioned by dataset and, inside a
dataset, by run (sql/colrec_partitions.sql), pruning a run drops its partitions instead of
deleting rows, and a query of one run reads only its partition (HNSW indexes included: each run's
vectors get their own graph). The primary keys gain dataset_id (a partition key must be in them);
a run belongs to one dataset, so what they keep unique is unchanged. Existing rows move into
their partitions; the two views on these tables are re-created over the new ones.
"""

from collections.abc import Callable, Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {  # primary keys before this revision; it appends dataset_id
    "predictions": ["run_id", "method", "user_id", "item_id"],
    "recommendations": ["run_id", "method", "user_id", "rank"],
    "embeddings": ["run_id", "space", "entity_id"],
}
VIEWS = ("latest_recommendations", "latest_predictions")


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


def _columns(table: str) -> list[sa.Column]:
    run = sa.Column("run_id", sa.BigInteger(), _fk("runs.id"), nullable=False)
    dataset = sa.Column("dataset_id", sa.Integer(), _fk("datasets.id"), nullable=False)
    if table == "predictions":
        return [run, sa.Column("method", sa.String(50), nullable=False),
                sa.Column("user_id", sa.BigInteger(), _fk("users.id"), nullable=False),
                sa.Column("item_id", sa.BigInteger(), _fk("items.id"), nullable=False), dataset,
                sa.Column("score", sa.Float()), sa.Column("label", sa.SmallInteger()),
                sa.Column("failed", sa.Boolean(), server_default="false", nullable=False)]  # fmt: skip
    if table == "recommendations":
        return [run, sa.Column("method", sa.String(50), nullable=False),
                sa.Column("user_id", sa.BigInteger(), _fk("users.id"), nullable=False),
                sa.Column("rank", sa.Integer(), nullable=False),
                sa.Column("item_id", sa.BigInteger(), _fk("items.id"), nullable=False), dataset,
                sa.Column("score", sa.Float(), nullable=False)]  # fmt: skip
    return [run, sa.Column("space", sa.String(100), nullable=False),
            sa.Column("entity_id", sa.BigInteger(), nullable=False), dataset,
            sa.Column("dim", sa.Integer(), nullable=False),
            sa.Column("vector", pgvector.sqlalchemy.vector.VECTOR(), nullable=False)]  # fmt: skip


def _hnsw_indexes() -> list[str]:
    query = (
        "select indexname, indexdef from pg_indexes where tablename = 'embeddings' and indexname like 'ix_emb_hnsw_%'"
    )
    rows = op.get_bind().execute(sa.text(query)).all()
    for name, _ in rows:
        op.execute(f'drop index "{name}"')
    return [definition for _, definition in rows]


def _rebuild(table: str, create: Callable[[str], None], partitioned: bool) -> None:
    """Move a table's rows into a new one made by `create` (which must also name its indexes)."""
    old = f"{table}_before_0007"
    op.execute(f"alter table {table} rename to {old}")
    op.execute(f"alter table {old} rename constraint {table}_pkey to {old}_pkey")
    op.execute(f"drop index if exists ix_{table}_dataset_id")
    create(table)
    if partitioned:
        op.execute(f"select colrec_run_partition('{table}', dataset_id, run_id) from "
                   f"(select distinct dataset_id, run_id from {old}) runs")  # fmt: skip
    names = ", ".join(c.name for c in _columns(table))
    op.execute(f"insert into {table} ({names}) select {names} from {old}")
    op.execute(f"drop table {old}")


def _partitioned(table: str) -> None:
    op.create_table(table, *_columns(table), sa.PrimaryKeyConstraint(*KEYS[table], "dataset_id"),
                    postgresql_partition_by="LIST (dataset_id)")  # fmt: skip


def _plain(table: str) -> None:
    op.create_table(table, *_columns(table), sa.PrimaryKeyConstraint(*KEYS[table]))
    op.create_index(f"ix_{table}_dataset_id", table, ["dataset_id"])


def _move(create: Callable[[str], None], partitioned: bool) -> None:
    op.execute(f"drop view if exists {', '.join(VIEWS)}")
    hnsw = _hnsw_indexes()
    for table in KEYS:
        _rebuild(table, create, partitioned)
    for definition in hnsw:
        op.execute(definition)
    op.execute(sql_file("latest_views.sql"))
    op.execute(f"grant select on {', '.join(VIEWS)} to colrec_reader")


def upgrade() -> None:
    op.execute(sql_file("colrec_partitions.sql"))
    op.execute("revoke execute on function colrec_run_partition(text, integer, bigint) from public")
    op.execute("revoke execute on function colrec_drop_run_partitions(integer, bigint) from public")
    _move(_partitioned, partitioned=True)


def downgrade() -> None:
    _move(_plain, partitioned=False)
    op.execute("drop function if exists colrec_run_partition(text, integer, bigint)")
    op.execute("drop function if exists colrec_drop_run_partitions(integer, bigint)")
    op.execute("drop function if exists colrec_run_partition_name(text, integer, bigint)")

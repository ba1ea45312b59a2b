"""Partitions of the run outputs (predictions, recommendations, embeddings; sql/colrec_partitions.sql).

A row can only go in once its run has a partition. Creating one locks the dataset's partition
exclusively, and the tables its foreign keys point to against writes, until the creating
transaction ends. So it is made in a short transaction of its own (readers of the dataset wait a
moment, not for the length of a job's write), unless the caller's transaction already holds a
lock that the new partition needs: then waiting for it would wait for ourselves, and it is made
in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from colrec_store.errors import ColrecError
from colrec_store.models import Run

OUTPUTS = ("predictions", "recommendations", "embeddings")
LOCK_TIMEOUT = "60s"


def ensure_run_partition(session: Session, table: str, dataset_id: int, run_id: int) -> None:
    """Make sure `table` has the partition of this run's rows."""
    exists = text("select to_regclass(colrec_run_partition_name(:t, :d, :r)) is not null")
    if session.execute(exists, {"t": table, "d": dataset_id, "r": run_id}).scalar_one():
        return
    bind = session.get_bind()
    if isinstance(bind, Connection) or _holds_conflicting_lock(session, table):
        _create(session.connection(), table, dataset_id, run_id)
        return
    with bind.begin() as conn:
        _create(conn, table, dataset_id, run_id)


# Locks of this transaction that creating a partition of `table` would wait for: any lock on the
# table's partitions, or a write lock on a table its foreign keys reference.
_CONFLICTS = text("""
select exists (
    select 1 from pg_locks l join pg_class c on c.oid = l.relation
    where l.pid = pg_backend_pid()
      and (c.relname = :table or c.relname like :family
           or (c.relname in ('runs', 'datasets', 'users', 'items')
               and l.mode not in ('AccessShareLock', 'RowShareLock')))
)""")


def _holds_conflicting_lock(session: Session, table: str) -> bool:
    return bool(session.execute(_CONFLICTS, {"table": table, "family": f"{table}\\_d%"}).scalar_one())


def _create(conn: Connection, table: str, dataset_id: int, run_id: int) -> None:
    conn.execute(text(f"set local lock_timeout = '{LOCK_TIMEOUT}'"))
    try:
        conn.execute(text("select colrec_run_partition(:t, :d, :r)"), {"t": table, "d": dataset_id, "r": run_id})
    except Exception as err:
        reason = str(getattr(err, "orig", err)).strip().splitlines()[0]
        raise ColrecError(f"cannot create the partition of run {run_id} in {table}: {reason}") from None


def drop_run_partitions(session: Session, run_ids: list[int]) -> int:
    """Drop the output partitions of these runs (before deleting them: a DROP, not a DELETE of rows)."""
    runs = session.execute(select(Run.id, Run.dataset_id).where(Run.id.in_(run_ids), Run.dataset_id.is_not(None)))
    dropped = 0
    for run_id, dataset_id in runs.all():
        dropped += session.execute(
            text("select colrec_drop_run_partitions(:d, :r)"), {"d": dataset_id, "r": run_id}
        ).scalar_one()
    return dropped

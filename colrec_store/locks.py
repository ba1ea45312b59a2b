"""One refresh per dataset at a time, across processes and machines: a lease row in refresh_locks.

The lease names the backend (pid and start time) of a connection held for the whole refresh, and
a lease whose backend is gone is free: a process that dies (even by kill -9) frees its dataset as
soon as the server sees the connection drop. The other side of that: a database restart ends the
backend too, so the holder checks it is still alive (`check`) before each step and before
publishing, and fails rather than carry on unprotected.

Not an advisory lock: any login, a downstream reader included, may take advisory locks, and one
holding colrec's key would stop every night's refresh. refresh_locks is granted to no reader."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.models import RefreshLock

log = logging.getLogger(__name__)

# Take the lease unless a live backend holds it. A backend of another login shows no start time
# in pg_stat_activity: then its pid alone says it lives.
_TAKE = text("""
insert into refresh_locks as lease (dataset, pid, backend_start)
select :dataset, pg_backend_pid(), (select backend_start from pg_stat_activity where pid = pg_backend_pid())
on conflict (dataset) do update
    set pid = excluded.pid, backend_start = excluded.backend_start, taken_at = now()
    where not exists (
        select 1 from pg_stat_activity a
        where a.pid = lease.pid and (a.backend_start is null or a.backend_start = lease.backend_start)
    )
returning pid
""")


@dataclass
class DatasetLock:
    dataset: str
    taken: bool
    _conn: Connection

    def check(self) -> None:
        """Raise if the connection that holds the lock is gone (the server restarted, say)."""
        try:
            self._conn.execute(select(1))
            self._conn.commit()
        except DBAPIError:
            raise self._lost() from None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction on the lock's own connection: it commits only while the lock is held."""
        try:
            with Session(bind=self._conn) as session, session.begin():
                yield session
        except DBAPIError as err:
            if self._conn.invalidated or self._conn.closed:
                raise self._lost() from err
            raise

    def _lost(self) -> ColrecError:
        return ColrecError(
            f"lost the refresh lock of {self.dataset}: its database connection dropped (server restarted?)"
        )


@contextmanager
def dataset_lock(engine: Engine, dataset: str) -> Iterator[DatasetLock]:
    """Try to take the refresh lock of a dataset (never waits); `.taken` says whether it was."""
    conn = engine.connect()
    taken = False
    try:
        taken = conn.execute(_TAKE, {"dataset": dataset}).first() is not None
        conn.commit()
        yield DatasetLock(dataset, taken, conn)
    finally:
        try:
            if taken:
                mine = (RefreshLock.dataset == dataset) & (RefreshLock.pid == func.pg_backend_pid())
                conn.execute(delete(RefreshLock).where(mine))
                conn.commit()
        except SQLAlchemyError:  # the connection died (or awaits a rollback after dying): the lease went with it
            try:
                conn.invalidate()
            except SQLAlchemyError:
                log.debug("could not invalidate the lock connection", exc_info=True)
        finally:
            try:
                conn.close()
            except SQLAlchemyError:
                log.debug("could not close the lock connection", exc_info=True)

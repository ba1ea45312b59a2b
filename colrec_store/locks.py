"""Postgres advisory locks: one refresh per dataset at a time, across processes and machines.

The lock is session-level and lives on a connection held for the whole refresh, so a process that
dies (even by kill -9) loses it as soon as the server sees the connection drop. The other side of
that: a database restart drops the lock too, so the holder checks it is still alive (`check`)
before each step and before publishing, and fails rather than carry on unprotected."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from colrec.errors import ColrecError

log = logging.getLogger(__name__)

REFRESH_LOCK_CLASS = 0x636F6C  # 'col': the first key of every colrec lock


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
    key = (REFRESH_LOCK_CLASS, func.hashtext(dataset))
    conn = engine.connect()
    taken = False
    try:
        taken = bool(conn.execute(select(func.pg_try_advisory_lock(*key))).scalar_one())
        conn.commit()
        yield DatasetLock(dataset, taken, conn)
    finally:
        try:
            if taken:
                conn.execute(select(func.pg_advisory_unlock(*key)))
                conn.commit()
        except SQLAlchemyError:  # the connection died (or awaits a rollback after dying): the lock went with it
            try:
                conn.invalidate()
            except SQLAlchemyError:
                log.debug("could not invalidate the lock connection", exc_info=True)
        finally:
            try:
                conn.close()
            except SQLAlchemyError:
                log.debug("could not close the lock connection", exc_info=True)

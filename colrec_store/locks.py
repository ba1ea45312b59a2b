"""Postgres advisory locks: one refresh per dataset at a time, across processes and machines.

The lock is session-level and lives on a connection held for the whole refresh, so a process that
dies (even by kill -9) loses it as soon as the server sees the connection drop."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

REFRESH_LOCK_CLASS = 0x636F6C  # 'col': the first key of every colrec lock


@contextmanager
def dataset_lock(engine: Engine, dataset: str) -> Iterator[bool]:
    """Try to take the refresh lock of a dataset; yields whether it was taken (never waits)."""
    key = (REFRESH_LOCK_CLASS, func.hashtext(dataset))
    conn = engine.connect()
    try:
        taken = bool(conn.execute(select(func.pg_try_advisory_lock(*key))).scalar_one())
        conn.commit()
        yield taken
    finally:
        try:
            if taken:
                conn.execute(select(func.pg_advisory_unlock(*key)))
                conn.commit()
        except (DBAPIError, NameError):
            conn.invalidate()  # the server is gone or restarted: it dropped the lock with the session
        finally:
            conn.close()

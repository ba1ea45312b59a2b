"""Engines and sessions. Nothing connects at import: build an engine from Settings when a job needs it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, CursorResult, Engine, Result, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from colrec_store.config import Settings
from colrec_store.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def resolve_url(settings: Settings) -> str:
    """The configured server, or the embedded one (started if needed)."""
    if settings.database_url:
        return settings.database_url
    from colrec_store.server import embedded_url

    return embedded_url(settings.embedded_pgdata)


def describe(url: str) -> str:
    """A URL for messages: no password, socket paths shortened."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.database}@{host}{port}"


# A job killed mid-statement (cron's timeout, SIGKILL, OOM) leaves its statement running on the
# server until the server next writes to the dead socket: a merge of millions of rows could hold
# its locks for minutes. With this check the server polls the socket while it works and cancels
# the statement (the transaction rolls back, as it would anyway) within a few seconds.
DEAD_CLIENT_CHECK = "5s"


def make_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    event.listen(engine, "connect", _check_for_dead_client)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DatabaseUnavailable(f"cannot connect to the database {describe(url)}: {reason}") from None
    return engine


def _check_for_dead_client(dbapi_connection: Any, _: Any) -> None:
    """Session setting on each new connection; left at the server's default where the platform
    cannot poll a socket for hang-ups (PostgreSQL refuses the setting there, e.g. on macOS)."""
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"set client_connection_check_interval = '{DEAD_CLIENT_CHECK}'")
        dbapi_connection.commit()
    except psycopg.Error:
        dbapi_connection.rollback()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: commits on success, rolls back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def psycopg_connection(session: Session | Connection) -> psycopg.Connection:
    """The psycopg connection under a session's transaction, for COPY (SQLAlchemy has no COPY API)."""
    conn = session.connection() if isinstance(session, Session) else session
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"colrec needs the psycopg driver, got {type(raw).__name__}")
    return raw


def rowcount(result: Result[Any]) -> int:
    """Rows a DML statement touched: `Session.execute` returns a CursorResult, typed as a plain Result."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"rowcount needs the result of a DML statement, got {type(result).__name__}")
    return result.rowcount

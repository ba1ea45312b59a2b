"""Rows from any Postgres (a team's application database): a query streamed through a server-side
cursor in chunks, never the whole result in memory, and the per-source watermark of `--since-last`.

The query is the user's own SQL, run as given on their server (read-only transaction). For a delta
it is wrapped, `select * from (QUERY) as colrec_source where "TS" > %s`, the watermark bound as a
parameter of the time column's own type (a timestamp, or a number of Unix seconds).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from colrec.errors import DatabaseUnavailable, InputError
from colrec_store.db import describe
from colrec_store.models import SourceWatermark

TIME_TYPES = {1082: "date", 1114: "timestamp", 1184: "timestamptz"}  # Postgres type OIDs


@dataclass(frozen=True)
class SqlSource:
    url: str  # SQLAlchemy or libpq form
    query: str

    @property
    def server(self) -> str:
        return describe(self.url)

    @property
    def key(self) -> str:
        """Names the source in the watermark table: its server (no password) and its query."""
        return hashlib.sha256(f"{self.server}\n{self.query.strip()}".encode()).hexdigest()[:32]


@contextmanager
def connect(source: SqlSource) -> Iterator[Any]:
    """A read-only connection to the source's server, in UTC (naive timestamps are read as UTC)."""
    import psycopg

    conninfo = make_url(source.url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, connect_timeout=10, options="-c TimeZone=UTC")
    except psycopg.OperationalError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatabaseUnavailable(f"cannot connect to the source database {source.server}: {reason}") from None
    try:
        conn.read_only = True
        yield conn
    finally:
        conn.close()


def time_kind(conn: Any, query: str, column: str) -> str:
    """'time' when the query's `column` is a date or timestamp, else 'number' (Unix seconds)."""
    from psycopg import sql

    wrapped = sql.SQL("select {} from ({}) as colrec_source limit 0").format(sql.Identifier(column), sql.SQL(query))
    with _query_errors(query), conn.cursor() as cursor:
        cursor.execute(wrapped)
        oid = cursor.description[0].type_code
    conn.rollback()
    return "time" if oid in TIME_TYPES else "number"


def stream(conn: Any, query: str, chunk_rows: int, *, after: tuple[str, str, int] | None = None) -> Iterator[
        tuple[list[str], list[tuple[Any, ...]]]]:  # fmt: skip
    """(column names, rows) per chunk of at most `chunk_rows`, in the query's order. `after`:
    (time column, its kind from time_kind, watermark in microseconds): only rows newer than it."""
    from psycopg import sql

    statement: Any = sql.SQL(query)
    params: tuple[Any, ...] = ()
    if after is not None:
        column, kind, ts_us = after
        statement = sql.SQL("select * from ({}) as colrec_source where {} > %s").format(
            sql.SQL(query), sql.Identifier(column)
        )
        mark = dt.datetime.fromtimestamp(ts_us / 1_000_000, dt.UTC)
        params = (mark if kind == "time" else ts_us / 1_000_000,)
    with _query_errors(query), conn.transaction(), conn.cursor(name="colrec_source") as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(statement, params)
        names = [d.name for d in cursor.description]
        while rows := cursor.fetchmany(chunk_rows):
            yield names, rows


@contextmanager
def _query_errors(query: str) -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.OperationalError as err:
        raise DatabaseUnavailable(f"the source database failed: {_first_line(err)}") from None
    except psycopg.Error as err:
        raise InputError(f"--sql {_short(query)!r}: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _short(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


def read_watermark(session: Session, dataset_id: int, source: SqlSource) -> int | None:
    """The newest interaction time (microseconds) merged from this source, or None."""
    row = session.get(SourceWatermark, (dataset_id, source.key))
    return None if row is None else row.ts_us


def write_watermark(session: Session, dataset_id: int, source: SqlSource, ts_us: int, run_id: int) -> None:
    """Moved forward only, in the caller's transaction (the one that merges the rows)."""
    values = {"dataset_id": dataset_id, "source_key": source.key, "server": source.server,
              "query": source.query, "ts_us": ts_us, "run_id": run_id}  # fmt: skip
    statement = insert(SourceWatermark).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["dataset_id", "source_key"],
            set_={"ts_us": statement.excluded.ts_us, "run_id": run_id, "updated_at": dt.datetime.now(dt.UTC)},
            where=SourceWatermark.ts_us < statement.excluded.ts_us,
        )
    )

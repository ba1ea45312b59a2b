"""Shared by the benchmarks: a scratch Postgres (embedded, or DATABASE_URL's server) with fresh
migrated databases, and writing results next to this file."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from benchmarks.results_io import write_results
from colrec_store import migrate
from colrec_store.config import Settings

__all__ = ["fresh_database", "scratch_server", "write_results"]


@contextmanager
def scratch_server() -> Iterator[str]:
    """An admin URL: DATABASE_URL's server if set, else a throwaway embedded one."""
    configured = Settings().database_url
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    with tempfile.TemporaryDirectory() as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            server.cleanup()


def fresh_database(admin_url: str, name: str) -> Engine:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"drop database if exists {name} with (force)"))
        conn.execute(text(f"create database {name}"))
    admin.dispose()
    engine = create_engine(make_url(admin_url).set(database=name))
    migrate.upgrade(engine)
    return engine

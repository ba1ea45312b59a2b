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
def scratch_server(keep: Path | None = None) -> Iterator[str]:
    """An admin URL: DATABASE_URL's server if set, else a throwaway embedded one, or, with `keep`,
    an embedded one whose data stays under that folder for the next run."""
    configured = Settings().database_url
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    with tempfile.TemporaryDirectory() as tmp:
        folder, mode = (keep, "stop") if keep else (Path(tmp), "delete")
        server = pgserver.get_server(folder / "pg", cleanup_mode=mode)
        try:
            yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            server.cleanup()


def fresh_database(admin_url: str, name: str, *, reuse: bool = False) -> Engine:
    """A migrated database `name`; dropped and made anew unless `reuse` (then kept if it exists,
    so its LLM cache spares a rerun the generation)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).first()
        if exists and not reuse:
            conn.execute(text(f"drop database {name} with (force)"))
        if not exists or not reuse:
            conn.execute(text(f"create database {name}"))
    admin.dispose()
    engine = create_engine(make_url(admin_url).set(database=name))
    migrate.upgrade(engine)
    return engine

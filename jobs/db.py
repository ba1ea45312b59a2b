"""`colrec-jobs db ...`: migrate, show the URL, open psql, stop the embedded server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from colrec.errors import ColrecError
from colrec_store import migrate, roles, server
from jobs.common.context import JobContext


def upgrade(ctx: JobContext) -> str | None:
    """Alembic to head (creates the vector extension on the way); a no-op when already there."""
    migrate.upgrade(ctx.raw_engine)
    return migrate.current_revision(ctx.raw_engine)


def libpq_url(ctx: JobContext) -> str:
    """The URL in the form psql and other libpq clients accept (no SQLAlchemy driver suffix)."""
    url = make_url(ctx.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def psql_command(ctx: JobContext) -> list[str]:
    psql = shutil.which("psql")
    if psql is None:
        from pgserver._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        psql = str(bundled) if bundled.exists() else None
    if psql is None:
        raise ColrecError(
            "psql not found: install the PostgreSQL client, or use `colrec-jobs db url` with another client"
        )
    return [psql, libpq_url(ctx)]


def exec_psql(ctx: JobContext) -> None:
    command = psql_command(ctx)
    os.execv(command[0], command)


def stop(ctx: JobContext) -> bool:
    if ctx.settings.database_url:
        raise ColrecError("DATABASE_URL is set: colrec does not manage that server")
    return server.stop(ctx.settings.embedded_pgdata)


def status(ctx: JobContext) -> dict[str, object]:
    info: dict[str, object] = {"embedded": not ctx.settings.database_url}
    if not ctx.settings.database_url:
        info["pgdata"] = str(ctx.settings.embedded_pgdata)
        info["running"] = server.is_running(ctx.settings.embedded_pgdata)
        if not info["running"]:
            return info
    info["url"] = libpq_url(ctx)
    info["revision"] = migrate.current_revision(ctx.raw_engine)
    info["head"] = migrate.head_revision(ctx.raw_engine)
    return info


def grant_reader(ctx: JobContext, name: str, password: str | None, *, force: bool = False) -> str:
    return roles.grant_reader(ctx.engine, name, password, force=force)


def reader_dsn(ctx: JobContext, name: str) -> str:
    """How the reader connects: this server's URL with its login and no password (it was given apart)."""
    own = make_url(ctx.url)  # URL.set(password=None) would keep the owner's password
    url = URL.create("postgresql", username=name, host=own.host, port=own.port, database=own.database, query=own.query)
    return url.render_as_string(hide_password=False)

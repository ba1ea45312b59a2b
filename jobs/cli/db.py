"""`colrec-jobs db ...`: migrate, connect, status and stop the embedded server, and grant a downstream reader."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli.common import (
    JsonOpt,
    job_context,
)
from jobs.common import console


def register(db_app: typer.Typer) -> None:
    db_app.command("upgrade")(db_upgrade)
    db_app.command("url")(db_url)
    db_app.command("psql")(db_psql)
    db_app.command("status")(db_status)
    db_app.command("stop")(db_stop)
    db_app.command("grant-reader")(db_grant_reader)


def db_upgrade(typer_ctx: typer.Context) -> None:
    """Migrate the schema to the latest revision (creates the pgvector extension). Safe to rerun."""
    from jobs import db

    revision = db.upgrade(job_context(typer_ctx))
    console.out.print(f"schema at revision {revision}")


def db_url(typer_ctx: typer.Context) -> None:
    """Print a libpq URL for psql or any client (starts the embedded server if needed)."""
    from jobs import db

    print(db.libpq_url(job_context(typer_ctx)))  # noqa: T201 - the URL is the command's output


def db_psql(typer_ctx: typer.Context) -> None:
    """Open psql on the database."""
    from jobs import db

    db.exec_psql(job_context(typer_ctx))


def db_status(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Where the database is, whether it runs, and its schema revision."""
    from jobs import db

    info = db.status(job_context(typer_ctx))
    if as_json:
        console.print_json(info)
    else:
        for key, value in info.items():
            console.out.print(f"{key}: {value}")


def db_stop(typer_ctx: typer.Context) -> None:
    """Stop the embedded Postgres server cleanly (it keeps running between commands otherwise)."""
    from jobs import db

    stopped = db.stop(job_context(typer_ctx))
    console.out.print("embedded server stopped" if stopped else "embedded server was not running")


def db_grant_reader(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name for the downstream reader.")],
    password: Annotated[
        str | None, typer.Option(envvar="COLREC_READER_PASSWORD", help="Default: a random one, printed once.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Make an existing plain login (no rights, no objects) a reader.")
    ] = False,
) -> None:
    """Create a login in colrec_reader (or give a reader a new password): it may select the downstream
    views only. Refuses any other existing role, and never changes superusers or owners."""
    from jobs import db

    ctx = job_context(typer_ctx)
    secret = db.grant_reader(ctx, name, password, force=force)
    console.out.print(f"login {name} can read the downstream views; connect with: {db.reader_dsn(ctx, name)}")
    if password is None:
        print(f"password: {secret}")  # noqa: T201 - shown once, on stdout for scripts

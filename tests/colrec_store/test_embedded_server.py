"""The embedded default: with no DATABASE_URL the jobs start Postgres under the data dir, later
processes reuse it, and `db stop` stops it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli


def test_embedded_server_lifecycle(tmp_path: Path, fixtures: Path) -> None:
    env = {"COLREC_DATA_DIR": str(tmp_path / "data"), "COLREC_LOG_LEVEL": "WARNING"}
    try:
        # the first command on a fresh data dir starts the server and migrates it (no `db upgrade`)
        ingest = run_cli("ingest", str(fixtures / "ml100k"), "-d", "ml", "-f", "movielens-100k", env=env)
        assert ingest.returncode == 0, ingest.stderr
        status = json.loads(run_cli("db", "status", "--json", env=env).stdout)
        assert status["embedded"] and status["running"] and status["revision"] == status["head"]
        assert Path(status["pgdata"]) == tmp_path / "data" / "pg"
        assert run_cli("db", "upgrade", env=env).returncode == 0  # still there, and a no-op now
        # a second process finds the running server (same postmaster) and sees the first one's work
        again = json.loads(run_cli("db", "status", "--json", env=env).stdout)
        assert again["url"] == status["url"]
        stats = json.loads(run_cli("datasets", "--json", env=env).stdout)
        assert stats[0]["interactions"] == 20
    finally:
        stopped = run_cli("db", "stop", env=env)
    assert stopped.returncode == 0 and stopped.stdout.strip() == "embedded server stopped"
    assert json.loads(run_cli("db", "status", "--json", env=env).stdout)["running"] is False
    # the data survives a stop: the next command starts the server again on it
    try:
        assert json.loads(run_cli("datasets", "--json", env=env).stdout)[0]["interactions"] == 20
    finally:
        run_cli("db", "stop", env=env)


def test_embedded_server_asks_every_role_for_its_password(tmp_path: Path) -> None:
    import psycopg
    import pytest

    env = {"COLREC_DATA_DIR": str(tmp_path / "data"), "COLREC_LOG_LEVEL": "WARNING"}
    socket = str(tmp_path / "data" / "pg")
    try:
        assert run_cli("db", "upgrade", env=env).returncode == 0
        secret = tmp_path / "data" / "pg-owner.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        owner_url = run_cli("db", "url", env=env).stdout.strip()
        with psycopg.connect(owner_url) as conn:  # the owner's URL (as `db url` prints it) works
            assert conn.execute("select current_user").fetchone() == ("postgres",)
        granted = run_cli("db", "grant-reader", "downstream", "--password", "right-pw", env=env)
        assert granted.returncode == 0, granted.stderr
        assert "connect with: postgresql://downstream@/postgres?host=" in granted.stdout
        assert secret.read_text().strip() not in granted.stdout
        for user, password in (("postgres", "WRONG"), ("downstream", "WRONG"), ("nobody", "")):
            with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|no password"):
                psycopg.connect(host=socket, dbname="postgres", user=user, password=password).close()
        with psycopg.connect(host=socket, dbname="postgres", user="downstream", password="right-pw") as conn:
            conn.execute("select count(*) from latest_runs")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("set role postgres")
    finally:
        run_cli("db", "stop", env=env)

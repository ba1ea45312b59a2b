"""Engines: a statement of a killed job does not outlive it on the server."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from colrec_store.db import DEAD_CLIENT_CHECK, make_engine

CHILD = """
import sys
from sqlalchemy import text
from colrec_store.db import make_engine
with make_engine(sys.argv[1]).connect() as conn:
    print("running", flush=True)
    conn.execute(text("select pg_sleep(300)"))
"""


def test_connections_ask_the_server_to_watch_for_a_dead_client(database_url: str) -> None:
    with make_engine(database_url).connect() as conn:
        assert conn.execute(text("show client_connection_check_interval")).scalar_one() == DEAD_CLIENT_CHECK


def test_a_killed_clients_statement_is_cancelled_within_seconds(database_url: str) -> None:
    name = f"colrec-killed-{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "running"
    watcher = make_engine(database_url)
    query = text("select count(*) from pg_stat_activity where application_name = :n and state = 'active'")
    # autocommit: within one transaction pg_stat_activity would show the same snapshot each time
    with watcher.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        deadline = time.monotonic() + 10
        while conn.execute(query, {"n": name}).scalar_one() == 0:  # the sleep has reached the server
            assert time.monotonic() < deadline, "the child's statement never showed up"
            time.sleep(0.1)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 20  # the check runs every 5 s; a 300 s sleep would otherwise stay
        while conn.execute(query, {"n": name}).scalar_one() > 0:
            assert time.monotonic() < deadline, "the killed client's statement is still running"
            time.sleep(0.2)
    watcher.dispose()

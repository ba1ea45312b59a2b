"""Helpers shared by tests: run the real CLI in a subprocess, count rows."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from jobs.common.context import JobContext

CLI = str(Path(sys.executable).parent / "colrec-jobs")
TABLES = ("datasets", "users", "items", "interactions")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COLREC_") and k != "DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False)


def cli_env(ctx: JobContext, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": ctx.settings.database_url or "",
        "COLREC_DATA_DIR": str(ctx.settings.data_dir),
        "COLREC_LOG_LEVEL": "WARNING",
        **extra,
    }


def counts(ctx: JobContext) -> dict[str, int]:
    with ctx.transaction() as session:
        return {t: session.execute(text(f"select count(*) from {t}")).scalar_one() for t in TABLES}


def rows(ctx: JobContext, sql: str, **params: Any) -> list[dict[str, Any]]:
    with ctx.transaction() as session:
        return [dict(r) for r in session.execute(text(sql), params).mappings()]


CSV_MAPPING = "user=user,item=item,rating=rating,ts=ts,title=title"


def community_events(path: Path, users: int = 60, items: int = 40, per_user: int = 25, days: int = 600) -> Path:
    """Users in two communities rating items over `days` from 2020-01-01 (rating > 3 inside the
    community), as a csv for `ingest --format csv --map CSV_MAPPING`."""
    rng = np.random.default_rng(0)
    lines = ["user,item,rating,ts,title"]
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for user in range(users):
        group = user % 2
        for _ in range(per_user):
            item = int(rng.integers(0, items))
            rating = 5 if item % 2 == group else 1
            when = start + dt.timedelta(days=int(rng.integers(0, days)), seconds=int(rng.integers(0, 86400)))
            lines.append(f"u{user},i{item},{rating},{int(when.timestamp())},Film number {item}")
    path.write_text("\n".join(lines) + "\n")
    return path

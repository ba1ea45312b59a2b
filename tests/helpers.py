"""Helpers shared by tests: run the real CLI in a subprocess, count rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from jobs.context import JobContext

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

"""The job context's engine: the embedded store migrates itself (tested in
tests/colrec_store/test_embedded_server.py); a server named by DATABASE_URL does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from colrec.errors import ColrecError
from colrec_store.config import Settings
from jobs.common.context import JobContext


def test_a_named_server_is_not_migrated_for_its_owner(empty_database_url: str, tmp_path: Path) -> None:
    ctx = JobContext(Settings(database_url=empty_database_url, data_dir=tmp_path))
    try:
        with pytest.raises(ColrecError, match=r"run `colrec-jobs db upgrade` first"):
            _ = ctx.engine
        assert not inspect(ctx.raw_engine).has_table("alembic_version")
    finally:
        ctx.raw_engine.dispose()

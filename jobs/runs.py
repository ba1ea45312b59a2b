"""`colrec-jobs runs`: the run records, newest first."""

from __future__ import annotations

from typing import Any

from colrec_store.repositories.runs import list_runs
from jobs.common.context import JobContext


def run(ctx: JobContext, dataset: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with ctx.transaction() as session:
        return list_runs(session, dataset, limit)

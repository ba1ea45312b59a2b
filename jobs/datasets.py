"""`colrec-jobs datasets`: the dataset_stats view."""

from __future__ import annotations

from typing import Any

from colrec_store.repositories.datasets import dataset_stats
from jobs.common.context import JobContext


def run(ctx: JobContext, name: str | None = None) -> list[dict[str, Any]]:
    with ctx.transaction() as session:
        return dataset_stats(session, name)

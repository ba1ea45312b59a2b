"""`colrec-jobs split`: cut a split as of a date and record its sizes (splits are reproducible
views: the same dataset, split, date and seed always give the same rows)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobs.common.context import JobContext
from jobs.common.windows import load_window, split_params


def run(ctx: JobContext, dataset: str, split: str, as_of: dt.date | None = None, seed: int = 0) -> dict[str, Any]:
    window = load_window(ctx, dataset, split, as_of, seed)
    result: dict[str, Any] = {"dataset": dataset, **split_params(split, as_of, seed), **window.split.counts()}
    result.update({k: v for k, v in window.split.info.items()})
    with ctx.run("split", dataset_id=window.dataset_id, params=split_params(split, as_of, seed), as_of=as_of) as record:
        record.metrics.update(window.split.counts())
    return result

"""`colrec-jobs evaluate`: the metrics of a method on a split, into a run and onto the terminal.

For a collaborative model (mf, lightgcn, sasrec, deepfm) it loads the newest published artifact
trained on that split and scores the split again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from colrec.cf.base import Recommender
from colrec.cf.registry import models
from colrec.errors import ColrecError
from colrec.evaluation import evaluate
from colrec_store.repositories.models import latest_model
from jobs.context import JobContext
from jobs.windows import load_window, split_params


def run(
    ctx: JobContext, dataset: str, method: str, split: str, *, as_of: dt.date | None = None, seed: int = 0, k: int = 20
) -> dict[str, Any]:
    if method not in models():
        raise ColrecError(f"unknown method {method!r}; known: {', '.join(models())}")
    window = load_window(ctx, dataset, split, as_of, seed)
    with ctx.transaction() as session:
        artifact, trained = latest_model(session, window.dataset_id, method, split)
    model = Recommender.load(Path(artifact.path or ""))
    params = {"method": method, **split_params(split, as_of, seed), "model_run": trained.id, "k": k}
    with ctx.run("evaluate", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        with record.timed("evaluate"):
            record.metrics.update(evaluate(model, window.split, window.index, k))
    return {"method": method, "split": split, "model_run": trained.id, **record.metrics}

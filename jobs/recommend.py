"""`colrec-jobs recommend`: top-N items per user from the newest model of a method, seen items
excluded, written to `recommendations`. Run alone it publishes its run with its rows in one
transaction; as a step of a refresh it is staged and the refresh publishes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from colrec.cf import registry
from colrec.cf.data import seen_items
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.models import latest_model
from colrec_store.repositories.outputs import write_recommendations
from jobs.common.console import progress
from jobs.common.context import JobContext
from jobs.common.windows import load_window


def run(
    ctx: JobContext,
    dataset: str,
    method: str,
    top: int = 20,
    *,
    as_of: dt.date | None = None,
    split: str | None = None,
    parent_run_id: int | None = None,
    model_run: int | None = None,
) -> dict[str, Any]:
    with ctx.transaction() as session:
        artifact, trained = latest_model(session, find_dataset(session, dataset), method, split, model_run)
    window = load_window(ctx, dataset, str(trained.params["split"]), as_of, serve=bool(trained.params.get("serve")))
    model = registry.load(Path(artifact.path or ""))
    history = window.index.interactions(window.split.rows)
    model.observe(history)  # a sequential model recommends after everything known as of the date
    seen = seen_items(history.users, history.items)
    users = np.arange(window.index.n_users)
    params = {"method": method, "top": top, "model_run": trained.id, "as_of": as_of.isoformat() if as_of else None}
    with ctx.run(
        "recommend", dataset_id=window.dataset_id, params=params, as_of=as_of, parent_run_id=parent_run_id
    ) as record:
        with progress() as bar:
            bar.add_task(f"recommend {method}", total=None)
            items, scores = model.recommend(users, top, exclude=seen)
        with ctx.transaction() as session:
            written = write_recommendations(
                session,
                run_id=record.id,
                dataset_id=window.dataset_id,
                method=method,
                user_ids=window.index.users,
                item_ids=[window.index.items[row].tolist() for row in items],
                scores=[row.tolist() for row in scores],
            )
            record.metrics.update(rows=written, users=int(users.size))
            record.finish(session, "published")  # staged instead inside a refresh, which publishes
    return {"run_id": record.id, **record.metrics}

"""`colrec-jobs train`: fit a collaborative model on a split, evaluate it, and publish the artifact
(file + `models` row), its user/item embeddings (pgvector) and metrics in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from colrec.cf.data import item_tokens
from colrec.cf.deepfm import DeepFM
from colrec.cf.registry import build
from colrec.evaluation import evaluate
from colrec_store.repositories.embeddings import Space, write_embeddings
from colrec_store.repositories.models import record_model
from jobs.console import progress
from jobs.context import JobContext
from jobs.windows import load_window, split_params

log = logging.getLogger(__name__)

USER_SPACE, ITEM_SPACE = "cf_user", "cf_item"


def run(
    ctx: JobContext,
    dataset: str,
    model_name: str,
    split: str,
    *,
    as_of: dt.date | None = None,
    seed: int = 0,
    epochs: int | None = None,
    dim: int | None = None,
    lr: float | None = None,
    k: int = 20,
) -> dict[str, Any]:
    window = load_window(ctx, dataset, split, as_of, seed)
    index = window.index
    model = build(model_name, index.n_users, index.n_items, epochs=epochs, dim=dim, lr=lr, seed=seed)
    if isinstance(model, DeepFM):
        model.set_item_tokens(item_tokens(window.item_attributes))
    params = {"model": model_name, **split_params(split, as_of, seed), "config": dataclasses.asdict(model.config)}
    with ctx.run("train", dataset_id=window.dataset_id, params=params, as_of=as_of) as record, progress() as bar:
        train = index.interactions(window.split.part("train"))
        valid = index.interactions(window.split.part("valid"))
        task = bar.add_task(f"train {model_name}", total=model.config.epochs)

        def on_epoch(epoch: int, stats: dict[str, float]) -> None:
            bar.advance(task)
            log.info("epoch %d: %s", epoch + 1, {key: round(v, 4) for key, v in stats.items()})

        with record.timed("fit"):
            report = model.fit(train, valid if valid.labels.size and valid.has_negatives else None, on_epoch)
        with record.timed("evaluate"):
            record.metrics.update(evaluate(model, window.split, index, k))
        record.metrics.update(epochs_run=report["epochs_run"], best_epoch=report["best_epoch"], **window.split.counts())
        path = ctx.settings.models_path / "runs" / str(record.id) / f"{model_name}.pt"
        model.save(path)
        with ctx.transaction() as session:
            record_model(
                session,
                run_id=record.id,
                dataset_id=window.dataset_id,
                kind=model_name,
                name=f"{model_name}-{dataset}",
                path=str(path),
                config={**params, "loss": report["loss"]},
                metrics=dict(record.metrics),
            )
            dim_ = model.user_embeddings().shape[1]
            write_embeddings(
                session, window.dataset_id, Space(record.id, USER_SPACE, dim_), index.users, model.user_embeddings()
            )
            write_embeddings(
                session, window.dataset_id, Space(record.id, ITEM_SPACE, dim_), index.items, model.item_embeddings()
            )
            record.finish(session, "published")
    return {"run_id": record.id, "path": str(path), **record.metrics}

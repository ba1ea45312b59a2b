"""`colrec-jobs train`: fit a collaborative model on a split, evaluate it, and publish the artifact
(file + `models` row), its user/item embeddings (pgvector) and metrics in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec.cf import registry
from colrec.cf.base import Recommender
from colrec.cf.data import IdIndex, previous_rows
from colrec.cf.registry import build
from colrec.errors import ColrecError
from colrec.evaluation import evaluate
from colrec_store.repositories.embeddings import Space, write_embeddings
from colrec_store.repositories.models import record_model
from jobs.common.console import progress
from jobs.common.context import JobContext
from jobs.common.side import TEXT_SPACE, side_features
from jobs.common.windows import load_window, split_params

log = logging.getLogger(__name__)

USER_SPACE, ITEM_SPACE = "cf_user", "cf_item"


@dataclass(frozen=True)
class WarmStart:
    """Train from a previous model's weights (last night's) instead of from scratch."""

    path: Path
    from_run: int
    chain: int  # warm starts in a row, this one included, since the last training from scratch


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
    warm: WarmStart | None = None,
    side: str = "none",
    profile_run: int | None = None,
    max_interactions: int | None = None,
    sparse: bool = False,
    serve: bool = False,
) -> dict[str, Any]:
    """`side`: RecLM's profile fusion (jobs.common.side): none, text, profiles or text+profiles.
    `max_interactions` (default: settings.train_max_interactions): fit on the newest that many
    training interactions only, the window one machine's memory and night can take; every user
    and item still gets embeddings, and evaluation is unchanged. `sparse` (MF): optimizer steps
    that touch only a batch's rows (for millions of users). `serve`: the serving fit, on every
    interaction up to `as_of` labelled as `split` labels them; nothing is held out, so it records
    no evaluation metrics (the split's own fit does)."""
    max_interactions = max_interactions or ctx.settings.train_max_interactions
    window = load_window(ctx, dataset, split, as_of, seed, serve=serve)
    index = window.index
    model = build(model_name, index.n_users, index.n_items, epochs=epochs, dim=dim, lr=lr, seed=seed,
                  sparse=sparse or None)  # fmt: skip
    model.prepare(window.item_attributes)
    model.user_ids, model.item_ids = index.users, index.items
    features, side_info, text_vectors = side_features(ctx, window, side, split, profile_run)
    if features is not None:
        try:
            model.set_side_features(features)
        except ValueError as err:
            raise ColrecError(str(err)) from err
    config = dataclasses.asdict(model.config)
    params = {"model": model_name, **split_params(split, as_of, seed, serve), "config": config,
              "max_interactions": max_interactions, **side_info}  # fmt: skip
    if warm is not None:
        _warm_start(model, index, warm)
        params["warm_start"] = {"from_run": warm.from_run, "chain": warm.chain}
    with ctx.run("train", dataset_id=window.dataset_id, params=params, as_of=as_of) as record, progress() as bar:
        train = index.interactions(_newest(window.split.part("train"), max_interactions))
        valid = index.interactions(window.split.part("valid"))
        task = bar.add_task(f"train {model_name}", total=model.config.epochs)

        ends = [time.perf_counter()]

        def on_epoch(epoch: int, stats: dict[str, float]) -> None:
            ends.append(time.perf_counter())
            bar.advance(task)
            log.info("epoch %d: %s", epoch + 1, {key: round(v, 4) for key, v in stats.items()})

        with record.timed("fit"):
            report = model.fit(train, valid if valid.labels.size and valid.has_negatives else None, on_epoch)
        if not serve:
            with record.timed("evaluate"):
                record.metrics.update(evaluate(model, window.split, index, k))
        # the median epoch: the first one also pays for one-off set-up (torch imports its compiler then)
        seconds_per_epoch = round(float(np.median(np.diff(ends))), 4) if len(ends) > 1 else None
        record.metrics.update(epochs_run=report["epochs_run"], best_epoch=report["best_epoch"],
                              seconds_per_epoch=seconds_per_epoch, **window.split.counts())  # fmt: skip
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
            if text_vectors is not None:
                text_space = Space(record.id, TEXT_SPACE, text_vectors.shape[1])
                write_embeddings(session, window.dataset_id, text_space, index.items, text_vectors)
            record.finish(session, "published")
    return {"run_id": record.id, "path": str(path), **record.metrics}


def _newest(rows: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    if limit is None or rows.height <= limit:
        return rows
    log.info("training on the newest %d of %d interactions (max_interactions)", limit, rows.height)
    return rows.sort("ts", "interaction_id").tail(limit)


def _warm_start(model: Recommender, index: IdIndex, warm: WarmStart) -> None:
    try:
        previous = registry.load(warm.path)
    except (OSError, RuntimeError) as err:
        raise ColrecError(f"cannot warm-start from {warm.path}: {err}") from err
    if previous.user_ids is None or previous.item_ids is None:
        raise ColrecError(f"cannot warm-start from {warm.path}: saved without its ids (train it again)")
    try:
        users, items = previous_rows(previous.user_ids, index.users), previous_rows(previous.item_ids, index.items)
        model.warm_start(previous, users, items)
    except ValueError as err:
        raise ColrecError(f"cannot warm-start from {warm.path}: {err}") from err
    log.info("warm start from run %d (%d in a row)", warm.from_run, warm.chain)

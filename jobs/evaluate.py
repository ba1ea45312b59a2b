"""`colrec-jobs evaluate`: the metrics of a method on a split, into a run and onto the terminal.

For a collaborative model (mf, lightgcn, sasrec, deepfm) it loads the newest published artifact
trained on that split and scores the split again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec.candidates import rerank_metrics
from colrec.cf import registry
from colrec.cf.registry import models
from colrec.errors import ColrecError
from colrec.evaluation import evaluate, pair_scores, pairwise
from colrec_store.repositories.models import latest_model, latest_score_run
from colrec_store.repositories.outputs import read_predictions
from jobs.common.context import JobContext
from jobs.common.pairs import candidate_param, pair_targets
from jobs.common.windows import Window, load_window, split_params
from jobs.methods import SCORED as METHODS


def run(
    ctx: JobContext,
    dataset: str,
    method: str,
    split: str,
    *,
    as_of: dt.date | None = None,
    seed: int = 0,
    k: int = 20,
    model_run: int | None = None,
    candidates: int = 0,
) -> dict[str, Any]:
    """`candidates` N: the metrics on each user's rerank list of N (colrec.candidates), NDCG@10 and
    HR@10 among them, beside AUC over the lists' pairs: a score run of the same lists for LLM and
    stacked methods; a CF model scores them here."""
    if method not in models() and method not in METHODS:
        raise ColrecError(f"unknown method {method!r}; known: {', '.join([*models(), *METHODS])}")
    window = load_window(ctx, dataset, split, as_of, seed)
    if method in METHODS:
        return _from_predictions(ctx, window, method, split, as_of, seed, candidates)
    with ctx.transaction() as session:
        artifact, trained = latest_model(session, window.dataset_id, method, split, model_run)
    model = registry.load(Path(artifact.path or ""))
    params = {"method": method, **split_params(split, as_of, seed), "model_run": trained.id, "k": k,
              **candidate_param(candidates)}  # fmt: skip
    with ctx.run("evaluate", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        with record.timed("evaluate"):
            if candidates:
                lists = pair_targets(window, ("test",), None, seed, candidates)
                scores = pair_scores(model, window.split, window.index, lists)
                record.metrics.update(_on_lists(lists, scores))
            else:
                record.metrics.update(evaluate(model, window.split, window.index, k))
    return {"method": method, "split": split, "model_run": trained.id, **record.metrics}


def _on_lists(lists: pl.DataFrame, scores: np.ndarray) -> dict[str, Any]:
    users, labels = lists["user_id"].to_numpy(), lists["label"].to_numpy()
    result = {**metric_values(pairwise(users, labels, scores, None, None)), **rerank_metrics(users, labels, scores)}
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}


def _from_predictions(ctx: JobContext, window: Window, method: str, split: str, as_of: dt.date | None,
                      seed: int, candidates: int = 0) -> dict[str, Any]:  # fmt: skip
    """AUC/UAUC (and F1 when valid pairs were scored) from the newest score run of the method; with
    `candidates`, from its newest run of rerank lists, with NDCG@10 and HR@10 on them."""
    with ctx.transaction() as session:
        scored = latest_score_run(session, window.dataset_id, method, split, candidates=candidates)
        predictions = read_predictions(session, scored, method)
    result: dict[str, Any] = {"method": method, "split": split, "score_run": scored}
    if candidates:  # labels from the lists the run scored (the same seed draws the same lists)
        lists = pair_targets(window, ("test",), None, seed, candidates)
        test = predictions.join(lists.select("user_id", "item_id", "label"), on=["user_id", "item_id"])
        if test.height:
            result.update(_on_lists(test, test["score"].to_numpy()))
    else:
        result.update(_split_pairs(window, predictions))
    params = {"method": method, **split_params(split, as_of, seed), "score_run": scored,
              **candidate_param(candidates)}  # fmt: skip
    with ctx.run("evaluate", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        record.metrics.update(metric_values(result))
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.items()}


def _split_pairs(window: Window, predictions: pl.DataFrame) -> dict[str, Any]:
    rows = window.split.rows.select("user_id", "item_id", "label", "part").unique(
        ["user_id", "item_id", "part"], keep="last"
    )
    joined = predictions.join(rows, on=["user_id", "item_id"])
    test = joined.filter(pl.col("part") == "test")
    if not test.height:
        return {}
    valid = joined.filter(pl.col("part") == "valid")
    return pairwise(test["user_id"].to_numpy(), test["label"].to_numpy(), test["score"].to_numpy(),
                    valid["label"].to_numpy(), valid["score"].to_numpy())  # fmt: skip


def metric_values(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics of a result: numbers, and each undefined one as None beside its reason."""
    return {
        k: v
        for k, v in result.items()
        if isinstance(v, float | int) or k.endswith("_undefined") or (v is None and f"{k}_undefined" in result)
    }

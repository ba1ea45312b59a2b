"""`colrec-jobs score --method hybrid` (and `hybrid-no-llm`, the same stack without the LLM): the
CF + LLM stack of colrec.hybrid, fit on the split's valid pairs only, into `predictions` for the valid
(out-of-fold) and test pairs.

Its inputs are runs already made on the split: the LLM's P(Yes) of every valid and test pair (a score
run of `llm_method`, by default the newest of the tuned, then untuned methods that has one), and each
collaborative model trained on the split (mf, lightgcn, sasrec, deepfm, whichever it has).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec import hybrid, metrics
from colrec.cf import registry
from colrec.cf.registry import models
from colrec.errors import ColrecError
from colrec.evaluation import pair_scores
from colrec_store.repositories.models import latest_model, latest_score_run
from colrec_store.repositories.outputs import read_predictions, write_predictions
from jobs.common.context import JobContext
from jobs.common.pairs import pair_targets
from jobs.common.windows import Window, load_window, split_params
from jobs.methods import HYBRID

log = logging.getLogger(__name__)
PARTS = ("valid", "test")
# The LLM feature's default source, best first: a tuned model's scores before the base model's.
LLM_PREFERENCE = ("score-full", "llm-full", "score-lora", "llm-lora", "score", "llm")


def run(ctx: JobContext, dataset: str, split: str, *, method: str = "hybrid", llm_method: str | None = None,
        as_of: dt.date | None = None, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    if method not in HYBRID:
        raise ColrecError(f"unknown hybrid method {method!r}; known: {', '.join(HYBRID)}")
    window = load_window(ctx, dataset, split, as_of, seed)
    pairs = pair_targets(window, PARTS, None, seed)
    params: dict[str, Any] = {"method": method, **split_params(split, as_of, seed), "parts": list(PARTS)}
    features = hybrid.rate_features(window.split.part("train"), pairs)
    params["cf_runs"], cf = _cf_features(ctx, window, split, pairs)
    features = features.hstack(cf)
    if method == "hybrid":
        params["llm_method"], params["llm_run"], llm = _llm_feature(ctx, window, split, pairs, llm_method)
        features = features.with_columns(pl.Series("llm", hybrid.logit(llm)))
    is_valid = (pairs["part"] == "valid").to_numpy()
    labels = pairs["label"].to_numpy()
    with ctx.run("score", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        with record.timed("fit"):
            try:
                stack = hybrid.fit_stack(features.filter(pl.Series(is_valid)), labels[is_valid], seed)
            except ValueError as error:
                raise ColrecError(f"{method} on split {split!r}: {error}") from None
        scores = np.empty(pairs.height)
        scores[is_valid] = stack.valid_scores
        scores[~is_valid] = stack.predict(features.filter(pl.Series(~is_valid)))
        summary = stack.summary()
        record.metrics.update(pairs=pairs.height, valid_pairs=int(is_valid.sum()), **summary,
                              auc=metrics.rounded(metrics.auc(labels[~is_valid], scores[~is_valid])))  # fmt: skip
        log.info("%s: %s stack (cv AUC %s) over %s", method, stack.name, summary["cv_auc"],
                 ", ".join(stack.features))  # fmt: skip
        with ctx.transaction() as session:
            write_predictions(session, run_id=record.id, dataset_id=window.dataset_id, method=method,
                              user_ids=pairs["user_id"].to_numpy(), item_ids=pairs["item_id"].to_numpy(),
                              scores=scores, labels=labels)  # fmt: skip
            record.finish(session, "published")  # staged inside a refresh
    return {"run_id": record.id, **record.metrics}


def _cf_features(ctx: JobContext, window: Window, split: str,
                 pairs: pl.DataFrame) -> tuple[dict[str, int], pl.DataFrame]:  # fmt: skip
    """Each collaborative model trained on the split: its train run, and its scores of the pairs."""
    runs, columns = {}, {}
    for name in models():
        with ctx.transaction() as session:
            try:
                artifact, trained = latest_model(session, window.dataset_id, name, split)
            except ColrecError:
                continue  # the split has no such model: one feature fewer
        model = registry.load(Path(artifact.path or ""))
        runs[name], columns[name] = trained.id, pair_scores(model, window.split, window.index, pairs)
    if not runs:
        raise ColrecError(f"no collaborative model trained on split {split!r}: run `colrec-jobs train -s {split}`")
    return runs, pl.DataFrame(columns)


def _llm_feature(ctx: JobContext, window: Window, split: str, pairs: pl.DataFrame,
                 method: str | None) -> tuple[str, int, np.ndarray]:  # fmt: skip
    """The LLM's P(Yes) of every pair, from the newest score run of the method."""
    scored = None
    with ctx.transaction() as session:
        for candidate in (method,) if method else LLM_PREFERENCE:
            try:
                scored = (candidate, latest_score_run(session, window.dataset_id, candidate, split))
                break
            except ColrecError:
                continue
        if scored is None:
            raise ColrecError(f"no LLM scores on split {split!r} for the hybrid: run `colrec-jobs score -s {split} "
                              f"--parts valid,test` first")  # fmt: skip
        predictions = read_predictions(session, scored[1], scored[0])
    joined = pairs.select("user_id", "item_id").join(predictions, on=["user_id", "item_id"], how="left")
    missing = joined["score"].null_count()
    if missing:
        raise ColrecError(f"score run {scored[1]} ({scored[0]}) has no P(Yes) for {missing:,} of the {pairs.height:,} "
                          f"valid and test pairs: score them with `--parts valid,test` and no --limit")  # fmt: skip
    return scored[0], scored[1], joined["score"].to_numpy()

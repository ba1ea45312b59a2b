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
from colrec.candidates import rerank_metrics
from colrec.cf import registry
from colrec.cf.registry import models
from colrec.errors import ColrecError
from colrec.evaluation import pair_scores
from colrec_store.repositories.models import latest_model, score_runs
from colrec_store.repositories.outputs import read_predictions, write_predictions
from jobs.common.context import JobContext
from jobs.common.pairs import candidate_param, pair_targets
from jobs.common.windows import Window, load_window, split_params
from jobs.methods import HYBRID

log = logging.getLogger(__name__)
PARTS = ("valid", "test")
# The LLM feature's default source, best first: a tuned model's scores before the base model's.
LLM_PREFERENCE = ("score-full", "llm-full", "score-lora", "llm-lora", "score", "llm")


def run(ctx: JobContext, dataset: str, split: str, *, method: str = "hybrid", llm_method: str | None = None,
        as_of: dt.date | None = None, seed: int = 0, candidates: int = 0) -> dict[str, Any]:  # fmt: skip
    """`candidates` N: fit on the valid part's rerank lists and score the test part's (the LLM's
    scores must come from score runs of the same lists)."""
    if method not in HYBRID:
        raise ColrecError(f"unknown hybrid method {method!r}; known: {', '.join(HYBRID)}")
    window = load_window(ctx, dataset, split, as_of, seed)
    pairs = pair_targets(window, PARTS, None, seed, candidates)
    params: dict[str, Any] = {"method": method, **split_params(split, as_of, seed), "parts": list(PARTS),
                              **candidate_param(candidates)}  # fmt: skip
    features = hybrid.rate_features(window.split.part("train"), pairs)
    params["cf_runs"], cf = _cf_features(ctx, window, split, pairs)
    features = features.hstack(cf)
    if method == "hybrid":
        params["llm_method"], params["llm_runs"], llm = _llm_feature(ctx, window, split, pairs, llm_method, candidates)
        scored = pl.Series(~np.isnan(llm))  # a valid pair the LLM did not score is left out of the fit
        params["valid_pairs_without_llm"] = int((~scored).sum())
        if not (scored & (pairs["part"] == "valid")).any():
            raise ColrecError(f"no valid pair of split {split!r} has an LLM score to fit the stack on: score the valid "
                              "part too (`score --parts valid`, a --limit sample will do)")  # fmt: skip
        pairs, features = pairs.filter(scored), features.filter(scored)
        features = features.with_columns(pl.Series("llm", hybrid.logit(llm[scored.to_numpy()])))
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
        if candidates:
            record.metrics.update(rerank_metrics(pairs["user_id"].to_numpy()[~is_valid], labels[~is_valid],
                                                 scores[~is_valid]))  # fmt: skip
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
                 method: str | None, candidates: int) -> tuple[str, list[int], np.ndarray]:  # fmt: skip
    """The LLM's P(Yes) of the pairs (NaN where none), from the newest score runs of the method made
    with the same model, newest first: one run of the test part and another of a valid sample serve
    together. Every test pair must have one; a valid pair without one is left out of the fit."""
    found: list[tuple[int, dict[str, Any]]] = []
    with ctx.transaction() as session:
        for llm_name in (method,) if method else LLM_PREFERENCE:
            found = [
                (run, params)
                for run, params in score_runs(session, window.dataset_id, llm_name, split)
                if params.get("candidates", 0) == candidates
            ]  # the same kind of pairs: lists or the split's
            if found:
                break
        if not found:
            lists = f" --candidates {candidates}" if candidates else ""
            raise ColrecError(f"no LLM scores on split {split!r} for the hybrid: run `colrec-jobs score -s {split} "
                              f"--parts valid,test{lists}` first")  # fmt: skip
        runs = [run for run, params in found if _same_model(params, found[0][1])]
        scored = pl.concat([read_predictions(session, run, llm_name).with_columns(pl.lit(n).alias("newness"))
                            for n, run in enumerate(runs)])  # fmt: skip
    newest = scored.sort("newness").unique(["user_id", "item_id"], keep="first")
    joined = pairs.select("user_id", "item_id", "part").join(newest, on=["user_id", "item_id"], how="left")
    missing = joined.filter(pl.col("score").is_null() & (pl.col("part") == "test")).height
    if missing:
        raise ColrecError(f"{llm_name} score run(s) {', '.join(map(str, runs))} have no P(Yes) for "
                          f"{missing:,} of the test pairs: score them all (`--parts test`, no --limit)")  # fmt: skip
    return llm_name, runs, joined["score"].fill_null(float("nan")).to_numpy()


def _same_model(params: dict[str, Any], newest: dict[str, Any]) -> bool:
    """Whether a score run asked the same model the same prompt as the newest one."""
    return all(params.get(k) == newest.get(k) for k in ("model", "adapter_run", "history_len", "evidence_run"))

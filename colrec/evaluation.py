"""Evaluate a collaborative model on a split: pairwise (AUC, UAUC, F1) and ranking (Recall/NDCG@K
over all items, HR/NDCG@K over sampled candidates) metrics, as the papers report them."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from colrec import metrics
from colrec.cf.base import Recommender
from colrec.cf.data import IdIndex, seen_items
from colrec.cf.sasrec import SASRec
from colrec.splits import Split


def evaluate(model: Recommender, split: Split, index: IdIndex, k: int = 20) -> dict[str, Any]:
    valid = index.interactions(split.part("valid"))
    test = index.interactions(split.part("test"))
    if isinstance(model, SASRec):
        model.extend_history(valid)  # rankings look back on everything before the test period
    known = index.interactions(split.rows.filter(pl.col("part") != "test"))
    seen = seen_items(known.users, known.items)
    result: dict[str, Any] = {"k": k}
    result.update(_ranking(model, index, split, seen, k))
    if isinstance(model, SASRec):
        model.extend_history(test)  # pair scores still see only events strictly before each one
    valid_scores = model.score(valid.users, valid.items, valid.ts)
    test_scores = model.score(test.users, test.items, test.ts)
    threshold = metrics.best_threshold(valid.labels, valid_scores)
    result.update(
        valid_auc=metrics.auc(valid.labels, valid_scores),
        auc=metrics.auc(test.labels, test_scores),
        uauc=metrics.uauc(test.users, test.labels, test_scores),
        f1=metrics.f1_at(test.labels, test_scores, threshold),
        f1_threshold=threshold,
        test_pairs=len(test),
        test_positives=int(test.labels.sum()),
    )
    return {key: _plain(value) for key, value in result.items()}


def _ranking(model: Recommender, index: IdIndex, split: Split, seen: dict[int, np.ndarray], k: int) -> dict[str, Any]:
    positives = split.part("test").filter(pl.col("label") == 1)
    if positives.height == 0:
        return {}
    users = index.user_index(positives["user_id"].to_numpy())
    items = index.item_index(positives["item_id"].to_numpy())
    truth = pl.DataFrame({"u": users, "i": items}).group_by("u").agg(pl.col("i")).sort("u")
    ranked_users = truth["u"].to_numpy()
    warm = _warm_items(index, split) if split.config.name == "zero-shot" else None
    if warm is not None:  # RecLM's zero-shot protocol: rank among the items held out of training
        seen = {int(u): np.union1d(seen.get(int(u), np.zeros(0, np.int64)), warm) for u in ranked_users}
    top, _ = model.recommend(ranked_users, k, exclude=seen)
    recall, ndcg = metrics.recall_ndcg_at_k(top.tolist(), [set(i) for i in truth["i"].to_list()], k)
    result: dict[str, Any] = {f"recall@{k}": recall, f"ndcg@{k}": ndcg, "ranked_users": int(ranked_users.size)}
    if warm is not None:
        result["ranked_among"] = "held-out items"
    if split.negatives.height:
        result.update(_sampled(model, index, split, positives))
    return result


def _warm_items(index: IdIndex, split: Split) -> np.ndarray:
    """Indices of every item outside the zero-shot test items (warm items and never-seen ones)."""
    cold = index.item_index(split.part("test")["item_id"].unique().to_numpy())
    return np.setdiff1d(np.arange(index.n_items), cold)


def _sampled(model: Recommender, index: IdIndex, split: Split, positives: pl.DataFrame) -> dict[str, Any]:
    """HR/NDCG@{1,5,10} of each test user's positive among its sampled negatives (leave-one-out)."""
    negatives = split.negatives.group_by("user_id").agg(pl.col("item_id")).sort("user_id")
    test = positives.unique("user_id", keep="last").sort("user_id").join(negatives, on="user_id", suffix="_neg")
    users = index.user_index(test["user_id"].to_numpy())
    pos_scores = model.score(users, index.item_index(test["item_id"].to_numpy()))
    neg_scores = [
        model.score(np.full(len(negs), u), index.item_index(np.asarray(negs)))
        for u, negs in zip(users, test["item_id_neg"], strict=True)
    ]
    out: dict[str, Any] = {}
    for cut in (1, 5, 10):
        out[f"hr@{cut}_sampled"], out[f"ndcg@{cut}_sampled"] = metrics.hr_ndcg_sampled(pos_scores, neg_scores, cut)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 6)
    return value

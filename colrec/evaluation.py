"""Evaluate a collaborative model on a split: pairwise (AUC, UAUC, F1) and ranking (Recall/NDCG@K
over all items, HR/NDCG@K over sampled candidates) metrics, as the papers report them."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from colrec import metrics
from colrec.cf.base import Recommender
from colrec.cf.data import IdIndex, seen_items
from colrec.splits import Split


def evaluate(model: Recommender, split: Split, index: IdIndex, k: int = 20) -> dict[str, Any]:
    """The model is left as it came: a sequential model's history is extended while scoring the
    later parts and restored afterwards, so a model saved after evaluation holds training events only."""
    with model.observing():
        return _evaluate(model, split, index, k)


def pair_scores(model: Recommender, split: Split, index: IdIndex, pairs: pl.DataFrame) -> np.ndarray:
    """Scores of held-out pairs (user_id, item_id, ts) as `evaluate` scores them: a sequential model
    looks back on every event of the split strictly before each pair, and is left as it came."""
    asked = index.interactions(pairs.with_columns(pl.lit(0.0).alias("label")))
    with model.observing():
        model.observe(index.interactions(split.rows.filter(pl.col("part") != "train")))
        return model.score(asked.users, asked.items, asked.ts)


def _evaluate(model: Recommender, split: Split, index: IdIndex, k: int) -> dict[str, Any]:
    valid = index.interactions(split.part("valid"))
    test = index.interactions(split.part("test"))
    model.observe(valid)  # rankings look back on everything before the test period
    known = index.interactions(split.rows.filter(pl.col("part") != "test"))
    seen = seen_items(known.users, known.items)
    result: dict[str, Any] = {"k": k}
    result.update(_ranking(model, index, split, seen, k))
    model.observe(test)  # pair scores still see only events strictly before each one
    valid_scores = model.score(valid.users, valid.items, valid.ts)
    test_scores = model.score(test.users, test.items, test.ts)
    result.update(pairwise(test.users, test.labels, test_scores, valid.labels, valid_scores))
    return {key: _plain(value) for key, value in result.items()}


def pairwise(users: np.ndarray, labels: np.ndarray, scores: np.ndarray, valid_labels: np.ndarray | None,
             valid_scores: np.ndarray | None) -> dict[str, Any]:  # fmt: skip
    """AUC, UAUC and F1 on the test pairs (its threshold chosen on the valid pairs), each left out
    with its reason where the labels cannot define it (implicit feedback has no negatives)."""
    test_why = metrics.undefined_reason(labels, "test")
    valid_why = metrics.undefined_reason(valid_labels if valid_labels is not None else np.zeros(0), "valid")
    out: dict[str, Any] = {"test_pairs": len(labels), "test_positives": int((np.asarray(labels) > 0.5).sum())}
    if valid_labels is not None and valid_scores is not None:
        out.update(metrics.defined("valid_auc", lambda: metrics.auc(valid_labels, valid_scores), valid_why))
    out.update(metrics.defined("auc", lambda: metrics.auc(labels, scores), test_why))
    out.update(metrics.defined("uauc", lambda: metrics.uauc(users, labels, scores), test_why))
    threshold = None
    if valid_why is None and valid_labels is not None and valid_scores is not None:
        threshold = metrics.best_threshold(valid_labels, valid_scores)
    f1_why = test_why or (valid_why and f"{valid_why} (F1's threshold is chosen there)")

    def f1() -> float:
        assert threshold is not None  # chosen whenever the valid part defines it, which f1_why checks
        return metrics.f1_at(labels, scores, threshold)

    out.update(metrics.defined("f1", f1, f1_why))
    if out["f1"] is not None:
        out["f1_threshold"] = threshold
    return out


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
    recall, ndcg = metrics.recall_ndcg_at_k([t.tolist() for t in top], [set(i) for i in truth["i"].to_list()], k)
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
    return metrics.rounded(float(value)) if isinstance(value, float | np.floating) else value

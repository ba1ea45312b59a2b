"""Evaluation metrics of the four papers, in numpy.

Pairwise (CTR): AUC (Mann-Whitney with tied scores averaged), UAUC (mean per-user AUC over users
that have both classes), F1 at a threshold (chosen on validation by `best_threshold`).
Ranking: Recall@K and NDCG@K over all items (RecLM), HR@K and NDCG@K of one positive ranked
among sampled candidates (TWiCE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import rankdata


def rounded(value: float) -> float | None:
    """A metric as runs store it: 6 decimals, and None where it is undefined (NaN)."""
    return None if np.isnan(value) else round(float(value), 6)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def uauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean of per-user AUCs, over users that have both a positive and a negative."""
    users, labels, scores = np.asarray(users), np.asarray(labels), np.asarray(scores)
    order = np.argsort(users, kind="stable")
    users, labels, scores = users[order], labels[order], scores[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    values = [auc(lab, sco) for lab, sco in zip(np.split(labels, bounds), np.split(scores, bounds), strict=True)]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def undefined_reason(labels: np.ndarray, part: str) -> str | None:
    """Why a pairwise metric (AUC, UAUC, F1) means nothing on these labels, or None when it does:
    with one class only, AUC has no pairs to rank and F1 is trivially perfect."""
    labels = np.asarray(labels) > 0.5
    if labels.size == 0:
        return f"no {part} pairs"
    if labels.all():
        return f"no negatives in {part}"
    if not labels.any():
        return f"no positives in {part}"
    return None


def defined(name: str, compute: Callable[[], float], why: str | None) -> dict[str, float | str | None]:
    """`{name: value}`, or `{name: None, name_undefined: why}` when the labels cannot define it."""
    if why is not None:
        return {name: None, f"{name}_undefined": why}
    value = compute()
    if np.isnan(value):
        return {name: None, f"{name}_undefined": "no user or pair with both classes to rank"}
    return {name: value}


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    labels = np.asarray(labels) > 0.5
    predicted = np.asarray(scores) >= threshold
    tp = int((predicted & labels).sum())
    denominator = int(predicted.sum()) + int(labels.sum())
    return 2 * tp / denominator if denominator else 0.0


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximises F1 (on validation data); NaN without validation data."""
    candidates = np.unique(np.asarray(scores))
    if candidates.size == 0:
        return float("nan")
    if candidates.size > 512:
        candidates = np.quantile(candidates, np.linspace(0, 1, 513))
    return float(max(candidates, key=lambda t: f1_at(labels, scores, t)))


def recall_ndcg_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> tuple[float, float]:
    """All-rank Recall@K (hits / |relevant|, as RecBole and RecLM) and NDCG@K, averaged over users
    with at least one relevant item."""
    recalls, ndcgs = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for top, truth in zip(ranked, relevant, strict=True):
        if not truth:
            continue
        hits = np.array([item in truth for item in list(top)[:k]], dtype=np.float64)
        recalls.append(hits.sum() / len(truth))
        ideal = discounts[: min(k, len(truth))].sum()
        ndcgs.append(float((hits * discounts[: hits.size]).sum() / ideal))
    return (float(np.mean(recalls)), float(np.mean(ndcgs))) if recalls else (float("nan"), float("nan"))


def hit_recall_ndcg_at_k(
    ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int
) -> tuple[float, float, float]:
    """HR@K (share of users with a relevant item in their top K), Recall@K and NDCG@K, averaged over
    users with at least one relevant item (a list shorter than K counts what it has)."""
    recall, ndcg = recall_ndcg_at_k(ranked, relevant, k)
    hits = [any(item in truth for item in list(top)[:k]) for top, truth in zip(ranked, relevant, strict=True) if truth]
    return (float(np.mean(hits)) if hits else float("nan")), recall, ndcg


def ndcg_in_list(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """NDCG@K of one reordering of a candidate list, against the best order of that same list
    (ideal: its relevant items first), so that reorderings of one list compare on one scale."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = np.array([item in relevant for item in list(ranked)[:k]], dtype=np.float64)
    ideal = discounts[: min(k, sum(item in relevant for item in ranked))].sum()
    return float((gains * discounts[: gains.size]).sum() / ideal) if ideal else float("nan")


def hr_ndcg_sampled(positive_scores: np.ndarray, negative_scores: Sequence[np.ndarray], k: int) -> tuple[float, float]:
    """HR@K and NDCG@K of each user's one positive ranked among its sampled negatives (ties count
    against the positive, so a constant scorer gets no credit)."""
    hrs, ndcgs = [], []
    for pos, negs in zip(positive_scores, negative_scores, strict=True):
        rank = int((np.asarray(negs) >= pos).sum())  # 0-based rank of the positive
        hrs.append(1.0 if rank < k else 0.0)
        ndcgs.append(1.0 / np.log2(rank + 2) if rank < k else 0.0)
    return float(np.mean(hrs)), float(np.mean(ndcgs))

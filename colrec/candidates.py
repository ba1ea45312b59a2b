"""Candidate lists for rerank evaluation: per user, one held-out positive among sampled unseen items.

A reranker (the LLM, a CF model, the stack) is judged by where it puts the user's held-out liked
item in a short list, as LLM recommenders are deployed: NDCG@10 and HR@10 of that item among
`size` candidates (the positive and `size - 1` items the user never interacted with in any part of
the split, drawn uniformly under the seed). Every method scores the same lists, so their NDCG@10
compare; a random order gets about 0.23 with 20 candidates (the mean of 1/log2(rank + 2) over the
first 10 of 20 ranks, times a half).

Each list takes the user's last positive of the part (by time), with that event's timestamp on every
candidate, so histories, sequential models and evidence look back from the same instant. A user's
lists in several parts (valid and test) never share an item, so each pair has one score.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from colrec import metrics
from colrec.splits import PARTS, Split

COLUMNS = ("user_id", "item_id", "label", "ts", "interaction_id", "part")


def candidate_lists(split: Split, parts: tuple[str, ...], size: int, seed: int) -> pl.DataFrame:
    """For each user with a positive in each part: that positive (label 1) and `size - 1` sampled
    unseen items (label 0), with the positive's ts, interaction_id and part; fewer negatives when
    the user's unseen items are fewer than 3 lists' worth (a third of them each). Sorted by part
    (train, valid, test), ts, user and label (the positive last in its list)."""
    if size < 2:
        raise ValueError(f"a candidate list needs at least 2 items, got {size}")
    positives = pl.concat(
        [
            split.part(p).filter(pl.col("label") == 1).sort("ts", "interaction_id").unique("user_id", keep="last")
            for p in parts
        ]
    ).select(*COLUMNS)
    positives = positives.with_columns(pl.col("label").cast(pl.Int8))
    items = np.sort(split.rows["item_id"].unique().to_numpy())
    seen = split.rows.group_by("user_id").agg(pl.col("item_id"))
    seen_by_user = dict(zip(seen["user_id"].to_list(), seen["item_id"].to_list(), strict=True))
    users, picked, in_part = [], [], []
    for (user,), lists in positives.sort("user_id").group_by("user_id", maintain_order=True):
        pool = np.setdiff1d(items, np.asarray(seen_by_user[user]))
        # One draw per user and seed, cut into a slice per part in a fixed order: a part's lists are
        # the same whichever parts are asked for, and a user's lists never share an item.
        rng = np.random.default_rng([seed, int(user)])
        per = min(size - 1, pool.size // len(PARTS))
        drawn = rng.choice(pool, size=per * len(PARTS), replace=False)
        for part in lists["part"].to_list():
            n = PARTS.index(part)
            chosen = np.sort(drawn[n * per : (n + 1) * per])
            users.extend([user] * chosen.size)
            picked.extend(chosen.tolist())
            in_part.extend([part] * chosen.size)
    negatives = pl.DataFrame({"user_id": users, "item_id": picked, "part": in_part},
                             schema={"user_id": pl.Int64, "item_id": pl.Int64, "part": pl.String})  # fmt: skip
    negatives = negatives.join(positives.select("user_id", "part", "ts", "interaction_id"), on=["user_id", "part"])
    negatives = negatives.with_columns(pl.lit(0, pl.Int8).alias("label")).select(*COLUMNS)
    order = pl.col("part").replace_strict({p: n for n, p in enumerate(PARTS)}, return_dtype=pl.Int8)
    return pl.concat([negatives, positives]).sort(order, "ts", "user_id", "label", "item_id")


def rerank_metrics(
    users: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int = 10
) -> dict[str, float | int | None]:
    """HR@K and NDCG@K of each list's positive among its negatives (ties count against the
    positive), over the users whose list holds exactly one positive and some negatives: the lists of
    one part, where each user has one."""
    frame = pl.DataFrame({"u": users, "y": labels, "s": scores})
    lists = frame.group_by("u").agg(
        pl.col("s").filter(pl.col("y") == 1).alias("pos"), pl.col("s").filter(pl.col("y") == 0).alias("neg")
    )
    lists = lists.filter((pl.col("pos").list.len() == 1) & (pl.col("neg").list.len() > 0))
    if lists.height == 0:
        return {"rerank_users": 0}
    positives = np.array([s[0] for s in lists["pos"].to_list()])
    negatives = [np.asarray(n) for n in lists["neg"].to_list()]
    hr, ndcg = metrics.hr_ndcg_sampled(positives, negatives, k)
    size = 1 + int(np.median([n.size for n in negatives]))
    return {f"rerank_hr@{k}": metrics.rounded(hr), f"rerank_ndcg@{k}": metrics.rounded(ndcg),
            "rerank_users": lists.height, "rerank_candidates": size}  # fmt: skip

"""Rerank candidate lists on a hand-made split, and the rerank metrics on lists with known ranks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from colrec.candidates import candidate_lists, rerank_metrics
from colrec.splits import SplitConfig, make_split
from tests.colrec.test_splits import frame


def _split():  # type: ignore[no-untyped-def]
    # 4 users, 24 items; each user rates 6 items over 6 days (ratings 5 and 1 alternate)
    rows = [
        (u, (u * 7 + k) % 30, 5.0 if k % 2 == 0 else 1.0, f"2024-01-{k + 1:02d}") for u in range(4) for k in range(6)
    ]
    return make_split(frame(rows), SplitConfig(name="random", ratios=(0.5, 0.25, 0.25), implicit=False))


def test_each_list_is_one_positive_among_unseen_items() -> None:
    split = _split()
    lists = candidate_lists(split, ("valid", "test"), 5, seed=3)
    seen = split.rows.group_by("user_id").agg(pl.col("item_id"))
    seen_by_user = dict(zip(seen["user_id"].to_list(), seen["item_id"].to_list(), strict=True))
    for (user, part), one in lists.group_by("user_id", "part"):
        positive = one.filter(pl.col("label") == 1)
        assert positive.height == 1 and one.height == 5
        expected = split.part(str(part)).filter((pl.col("user_id") == user) & (pl.col("label") == 1))
        assert positive["item_id"][0] == expected.sort("ts")["item_id"][-1]  # the part's last positive
        negatives = one.filter(pl.col("label") == 0)["item_id"].to_list()
        assert not set(negatives) & set(seen_by_user[user])  # never interacted with, in any part
        assert one["ts"].n_unique() == 1  # every candidate looks back from the positive's instant
    assert lists["part"].to_list() == sorted(lists["part"].to_list(), key=("valid", "test").index)
    per_user = lists.group_by("user_id").agg(pl.col("item_id").n_unique().alias("n"), pl.len())
    assert (per_user["n"] == per_user["len"]).all()  # a user's valid and test lists share no item
    assert lists.equals(candidate_lists(split, ("valid", "test"), 5, seed=3))
    alone = candidate_lists(split, ("test",), 5, seed=3)  # a part's lists do not depend on the others asked
    assert alone.equals(lists.filter(pl.col("part") == "test"))
    assert not lists.equals(candidate_lists(split, ("valid", "test"), 5, seed=4))


def test_lists_shrink_to_the_unseen_catalogue() -> None:
    lists = candidate_lists(_split(), ("test",), 100, seed=0)
    # 24 items in the split; each user saw 6 of them: a third of the 18 unseen ones join its positive
    assert set(lists.group_by("user_id").len()["len"].to_list()) == {7}
    with pytest.raises(ValueError, match="at least 2"):
        candidate_lists(_split(), ("test",), 1, seed=0)


def test_rerank_metrics_rank_the_positive() -> None:
    users = np.array([1, 1, 1, 2, 2, 2, 3, 3, 3])
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1])
    scores = np.array([0.9, 0.1, 0.2, 0.8, 0.5, 0.1, 0.5, 0.5, 0.5])  # ranks 0, 1, and 2 (ties count against)
    out = rerank_metrics(users, labels, scores, k=2)
    assert out["rerank_users"] == 3 and out["rerank_candidates"] == 3
    assert out["rerank_hr@2"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["rerank_ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 3, abs=1e-6)
    assert rerank_metrics(np.array([1, 1]), np.array([1, 1]), np.array([0.3, 0.4]))["rerank_users"] == 0

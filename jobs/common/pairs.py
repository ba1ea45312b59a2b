"""The (user, item) pairs an LLM job scores and each pair's history strictly before its event:
shared by `score` and `retrieve` so that both see the same sample of the same split."""

from __future__ import annotations

import numpy as np
import polars as pl

from colrec.candidates import candidate_lists
from colrec.errors import ColrecError
from colrec.llm.prompts import History
from jobs.common.windows import Window


def pair_targets(window: Window, parts: tuple[str, ...], limit: int | None, seed: int,
                 candidates: int = 0) -> pl.DataFrame:  # fmt: skip
    """The split's pairs of the parts (a seeded sample of `limit`), or with `candidates` N each user's
    rerank list of N (colrec.candidates; `limit` then samples whole lists, limit // N of them)."""
    if candidates:
        rows = candidate_lists(window.split, parts, candidates, seed)  # ordered valid, then test
        rows = rows.unique(["user_id", "item_id"], keep="last", maintain_order=True)  # an item rated twice
        lists = rows.select("part", "user_id").unique()
        if limit is not None and lists.height > max(limit // candidates, 1):
            lists = lists.sample(max(limit // candidates, 1), seed=seed)
            rows = rows.join(lists, on=["part", "user_id"], how="semi")
        if rows.height == 0:
            raise ColrecError(f"no candidate lists in parts {', '.join(parts)}: no user has a positive there")
        return rows
    rows = window.split.rows.filter(pl.col("part").is_in(list(parts)))
    rows = rows.unique(["user_id", "item_id"], keep="last", maintain_order=True)  # one score per pair
    if limit is not None and rows.height > limit:
        rows = rows.sample(limit, seed=seed).sort("ts", "interaction_id")
    if rows.height == 0:
        raise ColrecError(f"no pairs to score in parts {', '.join(parts)}")
    return rows


def candidate_param(candidates: int) -> dict[str, int]:
    """The run param that says its pairs are rerank lists (absent otherwise, as in runs made before)."""
    return {"candidates": candidates} if candidates else {}


def histories_before(window: Window, targets: pl.DataFrame, history_len: int,
                     parts: tuple[str, ...] | None = None) -> list[tuple[History, str]]:  # fmt: skip
    """For each pair: the user's last liked and disliked titles strictly before the event (from the
    given split parts only, e.g. train for training data), and the target title."""
    events = window.split.rows if parts is None else window.split.rows.filter(pl.col("part").is_in(list(parts)))
    events = events.sort("ts", "interaction_id")
    by_user = {
        user: (frame["ts"].to_numpy(), frame["item_id"].to_numpy(), frame["label"].to_numpy())
        for (user,), frame in events.group_by("user_id")
    }
    out = []
    for user, item, ts in zip(targets["user_id"], targets["item_id"], targets["ts"].to_numpy(), strict=True):
        times, items, labels = by_user[user]
        before = np.searchsorted(times, ts, side="left")
        past_items, past_labels = items[:before], labels[:before]
        liked = [window.titles[int(i)] for i in past_items[past_labels == 1][-history_len:]]
        disliked = [window.titles[int(i)] for i in past_items[past_labels == 0][-history_len:]]
        out.append((History(liked, disliked), window.titles[int(item)]))
    return out

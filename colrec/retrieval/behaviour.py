"""d(H(u)) of SCORE: a user's behaviour as text, from the items they rated highly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl


def recent_likes(rows: pl.DataFrame, n: int) -> dict[int, list[int]]:
    """user -> their last n liked items (label 1), oldest first; users with no like are absent."""
    liked = rows.filter(pl.col("label") == 1).sort("ts", "interaction_id")
    out: dict[int, list[int]] = {}
    for (user,), frame in liked.group_by("user_id", maintain_order=True):
        out[int(user)] = [int(i) for i in frame["item_id"].to_list()[-n:]]
    return out


def behaviour_text(items: Sequence[int], titles: Mapping[int, str]) -> str:
    """What the sentence encoders and the reranker read for a user. Titles are only ever encoded
    here, never given to an LLM as instructions (prompts quote them separately)."""
    return "Highly rated: " + "; ".join(titles.get(i, "") or f"item {i}" for i in items)

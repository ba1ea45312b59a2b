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


def behaviour_text(items: Sequence[int], titles: Mapping[int, str], genres: Mapping[int, str] | None = None) -> str:
    """What the sentence encoders and the reranker read for a user: titles, with the item's
    genres where the dataset has them. Only ever encoded here, never given to an LLM as
    instructions (prompts quote titles separately)."""
    genres = genres or {}
    return "Highly rated: " + "; ".join(
        (titles.get(i, "") or f"item {i}") + (f" ({genres[i]})" if genres.get(i) else "") for i in items
    )


def item_genres(item_ids: Sequence[int], attributes: Sequence[str | None]) -> dict[int, str]:
    """item -> its genres, comma-separated, from the items' attributes JSON (empty where none)."""
    import json

    out = {}
    for item, raw in zip(item_ids, attributes, strict=True):
        found = json.loads(raw).get("genres") if raw else None
        if isinstance(found, list) and found:
            out[int(item)] = ", ".join(map(str, found))
    return out

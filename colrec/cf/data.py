"""Mapping between the store's ids and the contiguous indices models use, and item attribute tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from colrec.cf.base import Interactions


@dataclass(frozen=True)
class IdIndex:
    """Every user and item of the dataset (not only the training window), so that any later pair
    can be scored; entities never seen in training keep their initial embeddings."""

    users: np.ndarray  # sorted store ids; index = position
    items: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.users.size)

    @property
    def n_items(self) -> int:
        return int(self.items.size)

    def user_index(self, ids: np.ndarray) -> np.ndarray:
        return _positions(self.users, ids, "user")

    def item_index(self, ids: np.ndarray) -> np.ndarray:
        return _positions(self.items, ids, "item")

    def interactions(self, frame: pl.DataFrame) -> Interactions:
        """Frame with user_id, item_id, label, ts (datetime) -> model-ready arrays."""
        ts = frame["ts"].dt.epoch("s").to_numpy() if frame.height else np.zeros(0, np.int64)
        return Interactions(
            self.user_index(frame["user_id"].to_numpy()),
            self.item_index(frame["item_id"].to_numpy()),
            frame["label"].to_numpy().astype(np.float32),
            ts,
        )


def previous_rows(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """For each id of `current` (an index's ids), its position in `previous` (sorted), or -1."""
    if previous.size == 0:
        return np.full(current.size, -1, np.int64)
    pos = np.minimum(np.searchsorted(previous, current), previous.size - 1)
    return np.where(previous[pos] == current, pos, -1).astype(np.int64)


def _positions(sorted_ids: np.ndarray, ids: np.ndarray, what: str) -> np.ndarray:
    pos = np.searchsorted(sorted_ids, ids)
    bad = (pos >= sorted_ids.size) | (sorted_ids[np.minimum(pos, sorted_ids.size - 1)] != ids)
    if bad.any():
        raise KeyError(f"unknown {what} id {ids[bad][0]}")
    return pos.astype(np.int64)


ATTRIBUTE_KEYS = ("genres", "category", "categories", "main_cat", "main_category", "brand", "store")


def categorical_attributes(attributes: str | None) -> list[tuple[str, list[str]]]:
    """(key, values) of an item's attributes JSON for the keys in ATTRIBUTE_KEYS, in that order."""
    found = json.loads(attributes) if attributes else {}
    if not isinstance(found, dict):
        return []
    out = []
    for key in ATTRIBUTE_KEYS:
        value = found.get(key)
        values = [str(v) for v in value if v] if isinstance(value, list) else [str(value)] if value else []
        if values:
            out.append((key, values))
    return out


def item_tokens(attributes: list[str | None], max_tokens: int = 8) -> np.ndarray:
    """[n_items, max_tokens] token ids (1-based, 0 = pad) from the items' categorical attributes
    (genres, categories, brand, ...), for CTR models such as DeepFM."""
    vocab: dict[str, int] = {}
    rows = np.zeros((len(attributes), max_tokens), dtype=np.int64)
    for row, text in enumerate(attributes):
        tokens = [f"{key}={v}" for key, values in categorical_attributes(text) for v in values]
        for col, token in enumerate(dict.fromkeys(tokens).keys()):
            if col == max_tokens:
                break
            rows[row, col] = vocab.setdefault(token, len(vocab) + 1)
    return rows


def seen_items(users: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    """user index -> item indices the user interacted with (to exclude from rankings)."""
    frame = pl.DataFrame({"u": users, "i": items}).group_by("u").agg(pl.col("i"))
    return {int(u): np.asarray(i, dtype=np.int64) for u, i in zip(frame["u"], frame["i"], strict=True)}

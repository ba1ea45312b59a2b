"""Side vectors for RecLM's profile fusion (`train --side`), row-aligned with a window's index.

- `text`: each item's title, genres and description through the sentence encoder (RecLM's "Base":
  raw item text features).
- `profiles`: the LLM profiles' embeddings (users and items) of a profile run made from the same
  split's training part, read from pgvector.
- `text+profiles`: items get both, side by side (RecLM's "Augment"); users their profile.

Entities with no vector get a row of zeros: the model then uses their ID embedding alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from colrec.cf.data import categorical_attributes, previous_rows
from colrec.cf.side import SideFeatures
from colrec.errors import ColrecError
from colrec.llm.catalog import encoder_path
from colrec.llm.encoder import TextEncoder
from colrec_store.repositories.embeddings import Space, read_embeddings, space_dim
from colrec_store.repositories.generated import profile_run_for_split
from jobs.common.context import JobContext
from jobs.common.windows import Window

SIDES = ("none", "text", "profiles", "text+profiles")
TEXT_SPACE = "text_item"
DESCRIPTION_CHARS = 400


def side_features(
    ctx: JobContext, window: Window, side: str, split: str, profile_run: int | None = None
) -> tuple[SideFeatures | None, dict[str, Any], np.ndarray | None]:
    """(features, what was used, the item text vectors to store) for `train --side`."""
    if side not in SIDES:
        raise ColrecError(f"unknown --side {side!r}; known: {', '.join(SIDES)}")
    if side == "none":
        return None, {}, None
    users = items = text = None
    info: dict[str, Any] = {"side": side}
    if "profiles" in side:
        users, items, found = _profiles(ctx, window, split, profile_run)
        info.update(found)
    if "text" in side:
        text = item_text_vectors(ctx, window)
        items = text if items is None else np.hstack([text, items])
    return SideFeatures(users, items), info, text


def item_text_vectors(ctx: JobContext, window: Window) -> np.ndarray:
    encoder = TextEncoder(encoder_path(ctx.settings.models_path, ctx.settings.text_encoder))
    texts = [
        item_text(window.titles.get(int(i), ""), attributes, window.descriptions.get(int(i), ""))
        for i, attributes in zip(window.index.items, window.item_attributes, strict=True)
    ]
    return encoder.encode(texts)


def item_text(title: str, attributes: str | None, description: str) -> str:
    """What the encoder reads for an item: title, categorical attributes, start of the description.
    A value is said once: Amazon repeats "Gift Cards" in `category` and again in `main_cat`."""
    parts, said = [title or "untitled"], set[str]()
    for _, values in categorical_attributes(attributes):
        fresh = [v for v in dict.fromkeys(values) if v not in said]
        said.update(fresh)
        if fresh:
            parts.append(", ".join(fresh))
    if description:
        parts.append(description[:DESCRIPTION_CHARS])
    return ". ".join(parts)


def _profiles(
    ctx: JobContext, window: Window, split: str, profile_run: int | None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    with ctx.transaction() as session:
        run = profile_run_for_split(session, window.dataset_id, split, profile_run)
        found = {}
        for kind, ids in (("user", window.index.users), ("item", window.index.items)):
            dim = space_dim(session, run, f"profile_{kind}")
            if dim is None:
                raise ColrecError(f"profile run {run} stored no {kind} profile embeddings")
            found[kind] = _aligned(ids, *read_embeddings(session, Space(run, f"profile_{kind}", dim)), dim)
    users, items = found["user"][0], found["item"][0]
    return users, items, {"profile_run": run, "users_with_profile": found["user"][1],
                          "items_with_profile": found["item"][1]}  # fmt: skip


def _aligned(index_ids: np.ndarray, ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, int]:
    """The vectors in index order (zeros where an entity has none), and how many were placed."""
    out = np.zeros((index_ids.size, dim), dtype=np.float32)
    pos = previous_rows(index_ids, ids)
    ok = pos >= 0
    out[pos[ok]] = vectors[ok]
    return out, int(ok.sum())

"""Loading a dataset's interactions as of a date (`events_until`, the one loader every job reads
events through) and cutting the requested split (`load_window`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from colrec.cf.data import IdIndex
from colrec.splits import Split, SplitConfig, make_split, until
from colrec_store.repositories import interactions
from colrec_store.repositories.datasets import dataset_id as find_dataset
from jobs.common.context import JobContext


@dataclass
class Window:
    dataset_id: int
    split: Split
    index: IdIndex
    item_attributes: list[str | None]
    titles: dict[int, str]  # item id -> title ("" when the source has none)
    descriptions: dict[int, str] = field(default_factory=dict)  # item id -> description, where there is one

    def liked_sequences(self) -> dict[int, list[int]]:
        """Each user's liked training items, oldest first (users with none are absent)."""
        liked = self.split.part("train").filter(pl.col("label") == 1).sort("ts", "interaction_id")
        return {int(u): f["item_id"].to_list() for (u,), f in liked.group_by("user_id", maintain_order=True)}


def events_until(session: Session, dataset_id: int, as_of: dt.date | None) -> pl.DataFrame:
    """Every interaction of a dataset up to the date (None: all), oldest first."""
    return until(interactions.interactions(session, dataset_id), as_of).sort("ts", "interaction_id")


def load_window(
    ctx: JobContext, dataset: str, split: str, as_of: dt.date | None = None, seed: int = 0, *, serve: bool = False
) -> Window:
    """`serve`: every interaction up to the date in train, labelled as `split` labels them."""
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        rows = events_until(session, dataset_id, None)  # the split applies as_of itself
        users = interactions.user_ids(session, dataset_id)
        items = interactions.items(session, dataset_id)
    cut = make_split(rows, SplitConfig(name=split, as_of=as_of, seed=seed, serve=serve))
    index = IdIndex(np.sort(users.to_numpy()), items["id"].to_numpy())
    return Window(dataset_id, cut, index, items["attributes"].to_list(), *item_texts(items))


def item_texts(items: pl.DataFrame) -> tuple[dict[int, str], dict[int, str]]:
    """item id -> title ("" when the source has none), and item id -> description where there is one."""
    titles = {int(i): t or "" for i, t in zip(items["id"], items["title"], strict=True)}
    return titles, {int(i): d for i, d in zip(items["id"], items["description"], strict=True) if d}


def split_params(split: str, as_of: dt.date | None, seed: int, serve: bool = False) -> dict[str, object]:
    params: dict[str, object] = {"split": split, "as_of": as_of.isoformat() if as_of else None, "seed": seed}
    if serve:
        params["serve"] = True  # fit on every interaction up to as_of; `split` only says how labels are made
    return params

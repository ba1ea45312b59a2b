"""The papers' evaluation splits as pure functions of an interaction frame.

Input: one row per interaction with columns interaction_id, user_id, item_id, rating, label, ts
(datetime, UTC). Output: the same rows that take part, with `part` in {train, valid, test} and a
0/1 `label`, deterministic under a seed. Every split takes `as_of`: rows after that date (UTC, the
whole day included) are never seen.

- temporal (SCORE/CoLLM): the last `months` calendar months of data (UTC), split 10/5/5 by month.
- long-tail (CoRAL): 5-core; items ranked by popularity, bottom 80% long-tail; all head rows and
  70% of long-tail rows train, the rest of the long tail 15/15 valid/test.
- leave-one-out (TWiCE): per user, last row test, second last valid; sampled negatives per test user.
- random (RecLM/RecBole): per-user ratio split; `zero-shot` holds a share of items out of training.
With `serve`, any of them is the serving fit instead: every row up to `as_of` in train, labelled the
protocol's way, nothing held out.
Labels: rating > 3 (or the source's label) for temporal and long-tail; implicit (all 1) otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from colrec.errors import ColrecError

SPLITS = ("temporal", "long-tail", "leave-one-out", "random", "zero-shot")
# Protocols on implicit feedback (TWiCE, RecLM/RecBole): every interaction is a positive.
IMPLICIT = ("leave-one-out", "random", "zero-shot")
PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitConfig:
    name: str
    as_of: dt.date | None = None
    seed: int = 0
    months: tuple[int, int, int] = (10, 5, 5)  # temporal: train/valid/test calendar months
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)  # random / zero-shot
    zero_shot_items: float = 0.2  # zero-shot: share of items seen only in test
    core: int = 5  # long-tail: k-core filter
    head_share: float = 0.2  # long-tail: most popular share of items that is "head"
    tail_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    negatives: int = 99  # leave-one-out: sampled negatives per test user
    positive_above: float = 3.0  # label = rating > this, where the source gives no label
    implicit: bool | None = None  # all rows positive; default: by protocol (IMPLICIT)
    # The serving fit: every row up to `as_of` is training data, labelled as the protocol labels
    # them, nothing held out (what the models whose outputs downstream reads are fit on).
    serve: bool = False

    def __post_init__(self) -> None:
        if self.name not in SPLITS:
            raise ColrecError(f"unknown split {self.name!r}; known: {', '.join(SPLITS)}")
        if self.implicit is None:
            object.__setattr__(self, "implicit", self.name in IMPLICIT)


@dataclass
class Split:
    config: SplitConfig
    rows: pl.DataFrame  # the input columns + part + label
    negatives: pl.DataFrame = field(default_factory=pl.DataFrame)  # leave-one-out: user_id, item_id
    info: dict[str, object] = field(default_factory=dict)

    def part(self, name: str) -> pl.DataFrame:
        return self.rows.filter(pl.col("part") == name)

    def counts(self) -> dict[str, int]:
        counts = {p: self.part(p).height for p in PARTS}
        if self.negatives.height:
            counts["test_negatives"] = self.negatives.height
        return counts


def make_split(interactions: pl.DataFrame, config: SplitConfig) -> Split:
    rows = until(interactions, config.as_of)
    rows = (
        rows.with_columns(pl.lit(1, pl.Int8).alias("label"))
        if config.implicit
        else labelled(rows, config.positive_above)
    )
    if rows.height == 0:
        raise ColrecError(f"no interactions{f' on or before {config.as_of}' if config.as_of else ''}: nothing to split")
    rows = rows.sort("ts", "interaction_id")
    if config.serve:
        return Split(config, rows.with_columns(pl.lit("train").alias("part")), info={"serve": True})
    builders = {
        "temporal": _temporal,
        "long-tail": _long_tail,
        "leave-one-out": _leave_one_out,
        "random": _random,
        "zero-shot": _zero_shot,
    }
    split = builders[config.name](rows, config)
    for part in ("train", "test"):  # valid may be empty (e.g. an 80/20 random split)
        if split.part(part).height == 0:
            raise ColrecError(f"split {config.name!r} left no {part} rows ({split.counts()}): too little data")
    return split


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after `day` (UTC): an as-of date includes its whole day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def until(rows: pl.DataFrame, as_of: dt.date | None) -> pl.DataFrame:
    if as_of is None:
        return rows
    return rows.filter(pl.col("ts") < end_of_day(as_of))


def labelled(rows: pl.DataFrame, positive_above: float = 3.0) -> pl.DataFrame:
    derived = (pl.col("rating") > positive_above).cast(pl.Int8)
    return rows.with_columns(pl.coalesce(pl.col("label").cast(pl.Int8), derived, pl.lit(1, pl.Int8)).alias("label"))


def _month_start(ts: dt.datetime, back: int) -> dt.datetime:
    month = ts.year * 12 + ts.month - 1 - back
    return dt.datetime(month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)


def _temporal(rows: pl.DataFrame, config: SplitConfig) -> Split:
    train_m, valid_m, test_m = config.months
    last = rows["ts"].max()
    assert isinstance(last, dt.datetime)
    start = _month_start(last, train_m + valid_m + test_m - 1)
    valid_from = _month_start(last, valid_m + test_m - 1)
    test_from = _month_start(last, test_m - 1)
    part = (
        pl.when(pl.col("ts") < valid_from)
        .then(pl.lit("train"))
        .when(pl.col("ts") < test_from)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
    )
    kept = rows.filter(pl.col("ts") >= start).with_columns(part.alias("part"))
    info: dict[str, object] = {
        "start": start.isoformat(),
        "valid_from": valid_from.isoformat(),
        "test_from": test_from.isoformat(),
    }
    return Split(config, kept, info=info)


def _k_core(rows: pl.DataFrame, k: int) -> pl.DataFrame:
    while True:
        users = rows.group_by("user_id").len().filter(pl.col("len") >= k)["user_id"]
        items = rows.group_by("item_id").len().filter(pl.col("len") >= k)["item_id"]
        kept = rows.filter(pl.col("user_id").is_in(users.implode()) & pl.col("item_id").is_in(items.implode()))
        if kept.height == rows.height:
            return kept
        rows = kept


def _long_tail(rows: pl.DataFrame, config: SplitConfig) -> Split:
    rows = _k_core(rows, config.core)
    popularity = rows.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    n_head = round(popularity.height * config.head_share)
    head = popularity.head(n_head)["item_id"]
    rows = rows.with_columns(pl.col("item_id").is_in(head.implode()).alias("head"))
    draw = _uniform(rows.height, config.seed)
    train_r, valid_r, _ = config.tail_ratios
    part = (
        pl.when(pl.col("head"))
        .then(pl.lit("train"))
        .when(pl.col("draw") < train_r)
        .then(pl.lit("train"))
        .when(pl.col("draw") < train_r + valid_r)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
    )
    rows = rows.with_columns(pl.Series("draw", draw)).with_columns(part.alias("part")).drop("draw")
    return Split(config, rows, info={"head_items": n_head, "tail_items": popularity.height - n_head})


def _leave_one_out(rows: pl.DataFrame, config: SplitConfig) -> Split:
    order = pl.int_range(pl.len()).over("user_id", order_by=["ts", "interaction_id"], descending=True)
    rows = rows.with_columns(order.alias("from_end"), pl.len().over("user_id").alias("n"))
    part = (
        pl.when((pl.col("n") >= 3) & (pl.col("from_end") == 0))
        .then(pl.lit("test"))
        .when((pl.col("n") >= 3) & (pl.col("from_end") == 1))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("train"))
    )
    rows = rows.with_columns(part.alias("part")).drop("from_end", "n")
    return Split(config, rows, negatives=_sample_negatives(rows, config))


def _sample_negatives(rows: pl.DataFrame, config: SplitConfig) -> pl.DataFrame:
    """`negatives` items per test user that the user never interacted with (seeded, without
    replacement; fewer when the catalogue is small)."""
    rng = np.random.default_rng(config.seed)
    items = np.sort(rows["item_id"].unique().to_numpy())
    seen = rows.group_by("user_id").agg(pl.col("item_id")).sort("user_id")
    seen_by_user = dict(zip(seen["user_id"].to_list(), seen["item_id"].to_list(), strict=True))
    users, picked = [], []
    for user in sorted(rows.filter(pl.col("part") == "test")["user_id"].to_list()):
        pool = np.setdiff1d(items, np.asarray(seen_by_user[user]), assume_unique=False)
        chosen = rng.choice(pool, size=min(config.negatives, pool.size), replace=False)
        users.extend([user] * chosen.size)
        picked.extend(np.sort(chosen).tolist())
    return pl.DataFrame({"user_id": users, "item_id": picked}, schema={"user_id": pl.Int64, "item_id": pl.Int64})


def _random(rows: pl.DataFrame, config: SplitConfig) -> Split:
    return Split(config, _ratio_parts(rows, config))


def _ratio_parts(rows: pl.DataFrame, config: SplitConfig) -> pl.DataFrame:
    """Per user, a seeded shuffle cut at the ratios (each user keeps at least one train row)."""
    train_r, valid_r, _ = config.ratios
    rows = rows.with_columns(pl.Series("draw", _uniform(rows.height, config.seed)))
    rank = pl.col("draw").rank("ordinal").over("user_id") - 1
    n = pl.len().over("user_id")
    n_train = (n * train_r).round().clip(lower_bound=1)
    n_valid = (n * valid_r).round()
    part = (
        pl.when(rank < n_train)
        .then(pl.lit("train"))
        .when(rank < n_train + n_valid)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
    )
    return rows.with_columns(part.alias("part")).drop("draw")


def _zero_shot(rows: pl.DataFrame, config: SplitConfig) -> Split:
    items = np.sort(rows["item_id"].unique().to_numpy())
    rng = np.random.default_rng(config.seed)
    held_out = rng.choice(items, size=round(items.size * config.zero_shot_items), replace=False)
    cold = pl.col("item_id").is_in(pl.Series(held_out).implode())
    warm = _ratio_parts(rows.filter(~cold), config)
    warm = warm.with_columns(
        pl.when(pl.col("part") == "test").then(pl.lit("valid")).otherwise(pl.col("part")).alias("part")
    )
    test = rows.filter(cold).with_columns(pl.lit("test").alias("part"))
    return Split(config, pl.concat([warm, test]).sort("ts", "interaction_id"), info={"cold_items": int(held_out.size)})


def _uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n)

"""Splits on hand-made frames with exact expected rows, and the CoLLM split reproduced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from colrec.errors import ColrecError
from colrec.splits import SplitConfig, make_split


def frame(rows: list[tuple[int, int, float | None, str]]) -> pl.DataFrame:
    """(user, item, rating, 'YYYY-MM-DD[ HH:MM]') rows, ids in the given order."""
    stamps = [dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC) for *_, t in rows]
    return pl.DataFrame(
        {
            "interaction_id": list(range(1, len(rows) + 1)),
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "rating": [r[2] for r in rows],
            "label": [None] * len(rows),
            "ts": stamps,
        },
        schema={
            "interaction_id": pl.Int64,
            "user_id": pl.Int64,
            "item_id": pl.Int64,
            "rating": pl.Float64,
            "label": pl.Int16,
            "ts": pl.Datetime("us", "UTC"),
        },
    )


def parts(split) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    return {p: sorted(split.part(p)["interaction_id"].to_list()) for p in ("train", "valid", "test")}


def test_temporal_calendar_months_and_labels() -> None:
    rows = frame([
        (1, 1, 5, "2000-01-15"),  # before the 20-month window: dropped
        (1, 2, 4, "2000-02-01"), (1, 3, 2, "2000-11-30 23:59"),  # train months 2000-02..2000-11
        (2, 1, 3, "2000-12-01"), (2, 2, 5, "2001-04-30"),  # valid 2000-12..2001-04
        (2, 3, 1, "2001-05-01"), (1, 4, 5, "2001-09-30"),  # test 2001-05..2001-09
    ])  # fmt: skip
    split = make_split(rows, SplitConfig("temporal"))
    assert parts(split) == {"train": [2, 3], "valid": [4, 5], "test": [6, 7]}
    assert split.rows.sort("interaction_id")["label"].to_list() == [1, 0, 0, 1, 0, 1]  # rating > 3


def test_as_of_sees_nothing_after_the_date() -> None:
    rows = frame([(1, i, 5, f"2001-0{i}-10") for i in range(1, 8)])
    split = make_split(rows, SplitConfig("temporal", as_of=dt.date(2001, 5, 10), months=(2, 1, 1)))
    assert split.rows["ts"].max() == dt.datetime(2001, 5, 10, tzinfo=dt.UTC)  # the whole day is included
    assert parts(split) == {"train": [2, 3], "valid": [4], "test": [5]}


def test_leave_one_out_with_seeded_negatives() -> None:
    rows = frame([
        (1, 1, 5, "2001-01-01"), (1, 2, 1, "2001-01-02"), (1, 3, 5, "2001-01-03"), (1, 4, 5, "2001-01-04"),
        (2, 5, 5, "2001-01-01"), (2, 6, 5, "2001-01-02"),  # only two rows: all train
        (3, 7, 5, "2001-01-03"), (3, 1, 5, "2001-01-02"), (3, 2, 5, "2001-01-01"),
    ])  # fmt: skip
    split = make_split(rows, SplitConfig("leave-one-out", negatives=3, seed=1))
    assert parts(split) == {"train": [1, 2, 5, 6, 9], "valid": [3, 8], "test": [4, 7]}
    assert split.rows["label"].to_list() == [1] * 9  # implicit protocol
    negatives = split.negatives
    assert sorted(negatives["user_id"].unique().to_list()) == [1, 3]
    for user, seen in ((1, {1, 2, 3, 4}), (3, {7, 1, 2})):
        picked = set(negatives.filter(pl.col("user_id") == user)["item_id"].to_list())
        assert len(picked) == 3 and not picked & seen
    again = make_split(rows, SplitConfig("leave-one-out", negatives=3, seed=1))
    assert again.negatives.equals(negatives)
    other = make_split(rows, SplitConfig("leave-one-out", negatives=3, seed=2))
    assert not other.negatives.equals(negatives)


def test_random_ratio_split_per_user_is_seeded() -> None:
    rows = frame([(u, i, 5, f"2001-01-{i:02d}") for u in (1, 2) for i in range(1, 11)])
    split = make_split(rows, SplitConfig("random", seed=7))
    per_user = split.rows.group_by("user_id", "part").len().sort("user_id", "part")
    assert per_user["len"].to_list() == [1, 8, 1] * 2  # test, train, valid for each user
    assert make_split(rows, SplitConfig("random", seed=7)).rows.equals(split.rows)
    assert not make_split(rows, SplitConfig("random", seed=8)).rows.equals(split.rows)


def test_zero_shot_items_appear_only_in_test() -> None:
    rows = frame([(u, i, 5, f"2001-01-{(u + i) % 27 + 1:02d}") for u in range(1, 9) for i in range(1, 11)])
    split = make_split(rows, SplitConfig("zero-shot", zero_shot_items=0.2, seed=3))
    test_items = set(split.part("test")["item_id"].to_list())
    train_items = set(split.part("train")["item_id"].to_list()) | set(split.part("valid")["item_id"].to_list())
    assert len(test_items) == 2 and not test_items & train_items
    assert split.info["cold_items"] == 2
    assert split.rows.height == rows.height


def test_long_tail_keeps_all_head_rows_in_train() -> None:
    rows = []
    for user in range(1, 13):  # 12 users x 10 items, item popularity falling with its id
        for item in range(1, 11):
            if user <= 13 - item:
                rows.append((user, item, 4.0 if (user + item) % 2 else 2.0, f"2001-01-{user:02d}"))
    split = make_split(frame(rows), SplitConfig("long-tail", core=3, seed=0))
    head = {1, 2}  # top 20% of the items that survive the 3-core filter
    assert split.info["head_items"] == 2
    assert set(split.part("valid")["item_id"].to_list()).isdisjoint(head)
    assert set(split.part("test")["item_id"].to_list()).isdisjoint(head)
    kept = split.rows
    assert kept.group_by("item_id").len()["len"].min() >= 3 and kept.group_by("user_id").len()["len"].min() >= 3
    assert kept.filter(pl.col("item_id").is_in(list(head)))["part"].unique().to_list() == ["train"]
    assert set(kept["label"].unique().to_list()) == {0, 1}


def test_empty_window_and_unknown_split_are_clear_errors() -> None:
    rows = frame([(1, 1, 5, "2001-01-01")])
    with pytest.raises(ColrecError, match="no interactions on or before 2000-01-01"):
        make_split(rows, SplitConfig("random", as_of=dt.date(2000, 1, 1)))
    with pytest.raises(ColrecError, match="unknown split 'weekly'"):
        SplitConfig("weekly")
    with pytest.raises(ColrecError, match=r"left no train rows \(\{.train.: 0, .valid.: 0, .test.: 1\}\)"):
        make_split(rows, SplitConfig("temporal"))


COLLM = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-1m-collm"


@pytest.mark.skipif(not COLLM.exists(), reason="../shared/data/ml-1m-collm is not beside the repo")
def test_temporal_reproduces_the_collm_split() -> None:
    from colrec.formats import parse

    batch = parse("collm", [COLLM / "interactions.tsv"])
    rows = batch.interactions.select(
        pl.int_range(1, pl.len() + 1).alias("interaction_id"),
        pl.col("user").cast(pl.Int64).alias("user_id"),
        pl.col("item").cast(pl.Int64).alias("item_id"),
        "rating",
        "label",
        pl.from_epoch("ts_us", time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
        pl.col("attributes").str.json_path_match("$.split").alias("source_split"),
    )
    split = make_split(rows, SplitConfig("temporal"))
    assert split.counts() == {"train": 33891, "valid": 10401, "test": 7331}
    assert (split.rows["part"] == split.rows["source_split"]).all()

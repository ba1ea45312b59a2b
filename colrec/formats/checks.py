"""Checks every parsed batch passes, whatever its format: what the store would take but corrupt
(NUL bytes, times out of range) or lose without a word (two different ratings of one event).

Each names the file and line of the first offending row, before the database sees any of it."""

from __future__ import annotations

import polars as pl

from colrec.errors import InputError
from colrec.formats.base import Batch, epoch_bounds, time_rule

RATING_RANGE = (0.0, 5.0)  # the scale of MovieLens and Amazon, and of the label rule rating > 3
EVENT = ["user", "item", "ts_us", "event_key"]


def check_batch(batch: Batch) -> Batch:
    for frame in (batch.interactions, batch.users, batch.items):
        if frame is not None:
            _no_nul_bytes(frame)
    _values(batch.interactions)
    _no_conflicting_duplicates(batch.interactions)
    return batch


def _first(frame: pl.DataFrame, condition: pl.Expr) -> dict | None:
    bad = frame.filter(condition)
    return bad.row(0, named=True) if bad.height else None


def _no_nul_bytes(frame: pl.DataFrame) -> None:
    """Postgres text cannot hold a NUL (0x00), nor jsonb an escaped one."""
    for column, dtype in frame.schema.items():
        if dtype != pl.Utf8 or column == "file":
            continue
        text = pl.col(column)
        condition = text.str.contains("\x00", literal=True)
        if column == "attributes":
            condition = condition | text.str.contains("\\u0000", literal=True)
        row = _first(frame, condition.fill_null(False))
        if row is not None:
            raise InputError(f"{row['file']}:{row['line']}: field '{column}' contains a NUL byte (0x00)")


def _values(frame: pl.DataFrame) -> None:
    low, high = RATING_RANGE
    rating = pl.col("rating")
    row = _first(frame, rating.is_not_null() & (rating.is_nan() | ~rating.is_between(low, high)))
    if row is not None:
        raise InputError(
            f"{row['file']}:{row['line']}: field 'rating' must be in [{low:g}, {high:g}], got {row['rating']}"
        )
    row = _first(frame, pl.col("label").is_not_null() & ~pl.col("label").is_in([0, 1]))
    if row is not None:
        raise InputError(f"{row['file']}:{row['line']}: field 'label' must be 0 or 1, got {row['label']}")
    earliest, latest = (int(bound * 1_000_000) for bound in epoch_bounds())
    row = _first(frame, ~pl.col("ts_us").is_between(earliest, latest))
    if row is not None:
        raise InputError(f"{row['file']}:{row['line']}: the interaction's time must be {time_rule()}")


def _no_conflicting_duplicates(frame: pl.DataFrame) -> None:
    """The same event (user, item, time, event key) twice with a different rating or label: which
    one is true cannot be known, and keeping the first would drop the other silently."""
    keyed = frame.with_columns(pl.col("event_key").fill_null(""))
    repeated = keyed.filter(pl.len().over(EVENT) > 1)
    if not repeated.height:
        return
    values = pl.struct(pl.col("rating"), pl.col("label"))
    conflicting = repeated.filter(values.n_unique().over(EVENT) > 1).sort("file", "line")
    if not conflicting.height:
        return
    first = conflicting.row(0, named=True)
    same = conflicting.filter(
        (pl.col("user") == first["user"])
        & (pl.col("item") == first["item"])
        & (pl.col("ts_us") == first["ts_us"])
        & (pl.col("event_key") == first["event_key"])
    )
    other = same.filter((pl.col("rating").ne_missing(first["rating"])) | (pl.col("label").ne_missing(first["label"])))
    second = other.row(0, named=True)
    raise InputError(
        f"{second['file']}:{second['line']}: the same event as {first['file']}:{first['line']} (user "
        f"{first['user']!r}, item {first['item']!r}, same time) with a different rating or label "
        f"({_value(second)} vs {_value(first)}); keep one of the two"
    )


def _value(row: dict) -> str:
    return f"rating {row['rating']}" if row["rating"] is not None else f"label {row['label']}"

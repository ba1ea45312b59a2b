"""The processed ML-1M temporal split of CoLLM/SCORE: interactions.tsv, items.tsv, movies.dat.

Labels (rating > 3) come with the data; raw ratings do not. The source's own split column is kept
in each interaction's attributes so that the temporal split can be checked against it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from colrec.errors import InputError
from colrec.formats.base import (
    INTERACTION_SCHEMA,
    ITEM_SCHEMA,
    Batch,
    cast_checked,
    conform,
    epoch_to_us,
    first_duplicate,
    headed_lines,
    json_object,
    line_frame,
    resolve_files,
    split_fields,
)

SPLITS = ("train", "valid", "test")


def parse_collm(paths: list[Path]) -> Batch:
    files = resolve_files(paths, "collm", {"interactions.tsv": True, "items.tsv": False, "movies.dat": False})
    interactions = _interactions(files["interactions.tsv"])
    items = None
    if "items.tsv" in files:
        genres = _genres_by_title(files["movies.dat"]) if "movies.dat" in files else None
        items = _items(files["items.tsv"], genres)
    return Batch(interactions, None, items, tuple(str(p) for p in files.values()), False, True)


def _interactions(path: Path) -> pl.DataFrame:
    lines = headed_lines(path, "\t", ["uid", "iid", "label", "timestamp", "split"])
    rows = split_fields(lines, path, "\t", ["user", "item", "label", "ts", "split"])
    for column in ("user", "item", "ts"):
        rows = cast_checked(rows, path, column, pl.Int64)
    rows = cast_checked(rows, path, "label", pl.Int16)
    for column, allowed in (("label", [0, 1]), ("split", list(SPLITS))):
        bad = rows.filter(~pl.col(column).is_in(allowed))
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(f"{path}:{row['line']}: field '{column}' must be one of {allowed}, got {row[column]!r}")
    rows = epoch_to_us(rows, path, "ts").with_columns(
        pl.col("user").cast(pl.Utf8),
        pl.col("item").cast(pl.Utf8),
        json_object({"split": pl.col("split")}).alias("attributes"),
        pl.lit(str(path)).alias("file"),
    )
    return conform(rows, INTERACTION_SCHEMA)


def _items(path: Path, genres: dict[str, list[str]] | None) -> pl.DataFrame:
    rows = split_fields(headed_lines(path, "\t", ["iid", "title"]), path, "\t", ["external_id", "title"])
    rows = cast_checked(rows, path, "external_id", pl.Int64)
    dup = first_duplicate(rows, "external_id")
    if dup is not None:
        raise InputError(f"{path}:{dup['line']}: duplicate item id {dup['external_id']}")
    if genres is not None:
        lookup = pl.DataFrame({"title": list(genres), "genres": list(genres.values())})
        rows = rows.join(lookup, on="title", how="left", maintain_order="left")
        attributes = json_object({"genres": pl.col("genres")})
    else:
        attributes = pl.lit("{}")
    rows = rows.with_columns(
        pl.col("external_id").cast(pl.Utf8), attributes.alias("attributes"), pl.lit(str(path)).alias("file")
    )
    return conform(rows, ITEM_SCHEMA)


def _genres_by_title(path: Path) -> dict[str, list[str]]:
    rows = split_fields(line_frame(path, "latin-1"), path, "::", ["id", "title", "genres"])
    return {title: genres.split("|") for title, genres in zip(rows["title"], rows["genres"], strict=True)}

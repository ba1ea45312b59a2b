"""MovieLens: the 100K release (u.data, u.item, u.user) and the 1M release (`::` files, latin-1)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from colrec.errors import InputError
from colrec.formats.base import (
    INTERACTION_SCHEMA,
    ITEM_SCHEMA,
    USER_SCHEMA,
    Batch,
    cast_checked,
    conform,
    epoch_to_us,
    first_duplicate,
    json_object,
    line_frame,
    resolve_files,
    split_fields,
)

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


def parse_movielens_100k(paths: list[Path]) -> Batch:
    files = resolve_files(paths, "movielens-100k", {"u.data": True, "u.item": False, "u.user": False, "u.genre": False})
    genres = _read_genres(files["u.genre"]) if "u.genre" in files else ML100K_GENRES
    ratings = _ratings(files["u.data"], "\t", "utf-8")
    items = _ml100k_items(files["u.item"], genres) if "u.item" in files else None
    users = (
        _users(files["u.user"], "|", ["external_id", "age", "gender", "occupation", "zip"])
        if "u.user" in files
        else None
    )
    return Batch(ratings, users, items, tuple(str(p) for p in files.values()), True, True)


def parse_movielens_1m(paths: list[Path]) -> Batch:
    files = resolve_files(paths, "movielens-1m", {"ratings.dat": True, "movies.dat": False, "users.dat": False})
    ratings = _ratings(files["ratings.dat"], "::", "latin-1")
    items = _ml1m_items(files["movies.dat"]) if "movies.dat" in files else None
    users = (
        _users(files["users.dat"], "::", ["external_id", "gender", "age", "occupation", "zip"])
        if "users.dat" in files
        else None
    )
    return Batch(ratings, users, items, tuple(str(p) for p in files.values()), True, True)


def _ratings(path: Path, sep: str, encoding: str) -> pl.DataFrame:
    rows = split_fields(line_frame(path, encoding), path, sep, ["user", "item", "rating", "ts"])
    for column in ("user", "item", "ts"):
        rows = cast_checked(rows, path, column, pl.Int64)
    rows = cast_checked(rows, path, "rating", pl.Float64)
    # the rating's range: colrec.formats.checks, the one rule of every format
    rows = epoch_to_us(rows, path, "ts").with_columns(
        pl.col("user").cast(pl.Utf8),
        pl.col("item").cast(pl.Utf8),
        pl.lit(str(path)).alias("file"),
    )
    return conform(rows, INTERACTION_SCHEMA)


def _users(path: Path, sep: str, names: list[str]) -> pl.DataFrame:
    rows = split_fields(line_frame(path, "latin-1"), path, sep, names)
    rows = cast_checked(rows, path, "external_id", pl.Int64)
    rows = cast_checked(rows, path, "age", pl.Int64)
    _no_duplicates(rows, path, "external_id", "user")
    attributes = json_object({n: pl.col(n) for n in names if n != "external_id"})
    rows = rows.with_columns(
        pl.col("external_id").cast(pl.Utf8), attributes.alias("attributes"), pl.lit(str(path)).alias("file")
    )
    return conform(rows, USER_SCHEMA)


def _ml100k_items(path: Path, genres: list[str]) -> pl.DataFrame:
    names = ["external_id", "title", "release_date", "video_release_date", "imdb_url"] + [
        f"g{i}" for i in range(len(genres))
    ]
    rows = split_fields(line_frame(path, "latin-1"), path, "|", names)
    rows = cast_checked(rows, path, "external_id", pl.Int64)
    for i in range(len(genres)):
        bad = rows.filter(~pl.col(f"g{i}").is_in(["0", "1"]))
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(f"{path}:{row['line']}: genre flag {genres[i]!r} must be 0 or 1, got {row[f'g{i}']!r}")
    _no_duplicates(rows, path, "external_id", "item")
    genre_list = pl.concat_list(
        [pl.when(pl.col(f"g{i}") == "1").then(pl.lit(g)).otherwise(None) for i, g in enumerate(genres)]
    ).list.drop_nulls()
    attributes = json_object(
        {"release_date": _nullable("release_date"), "imdb_url": _nullable("imdb_url"), "genres": genre_list}
    )
    rows = rows.with_columns(
        pl.col("external_id").cast(pl.Utf8), attributes.alias("attributes"), pl.lit(str(path)).alias("file")
    )
    return conform(rows, ITEM_SCHEMA)


def _ml1m_items(path: Path) -> pl.DataFrame:
    rows = split_fields(line_frame(path, "latin-1"), path, "::", ["external_id", "title", "genres"])
    rows = cast_checked(rows, path, "external_id", pl.Int64)
    _no_duplicates(rows, path, "external_id", "item")
    attributes = json_object({"genres": pl.col("genres").str.split("|")})
    rows = rows.with_columns(
        pl.col("external_id").cast(pl.Utf8), attributes.alias("attributes"), pl.lit(str(path)).alias("file")
    )
    return conform(rows, ITEM_SCHEMA)


def _read_genres(path: Path) -> list[str]:
    rows = split_fields(
        line_frame(path, "latin-1").filter(pl.col("text").str.strip_chars() != ""), path, "|", ["name", "index"]
    )
    rows = cast_checked(rows, path, "index", pl.Int64).sort("index")
    return rows["name"].to_list()


def _nullable(column: str) -> pl.Expr:
    return pl.when(pl.col(column) == "").then(None).otherwise(pl.col(column))


def _no_duplicates(rows: pl.DataFrame, path: Path, key: str, what: str) -> None:
    dup = first_duplicate(rows, key)
    if dup is not None:
        raise InputError(f"{path}:{dup['line']}: duplicate {what} id {dup[key]}")

"""Format names as the CLI spells them, each mapped to its parser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from colrec.errors import InputError
from colrec.formats.amazon import parse_amazon_2018, parse_amazon_2023
from colrec.formats.base import Batch
from colrec.formats.checks import check_batch
from colrec.formats.collm import parse_collm
from colrec.formats.movielens import parse_movielens_1m, parse_movielens_100k
from colrec.formats.tabular import parse_item_mapping, parse_mapping, parse_tabular

FORMATS: dict[str, str] = {
    "movielens-100k": "u.data (+ u.item, u.user, u.genre), or their folder",
    "movielens-1m": "ratings.dat (+ movies.dat, users.dat), '::'-separated latin-1, or their folder",
    "collm": "interactions.tsv (+ items.tsv, movies.dat for genres), or their folder",
    "amazon-2018": "5-core reviews JSON lines (+ meta JSON lines), gzip or not",
    "amazon-2023": "reviews JSON lines (+ meta JSON lines), gzip or not",
    "csv": "CSV/TSV/Parquet of interactions with --map user=COL,item=COL[,rating=,label=,ts=,title=] "
    "(+ a catalogue: --items FILE --item-map id=COL,title=COL[,description=COL][,attributes=COL,...])",
}


def parse(fmt: str, paths: list[Path], *, mapping: str | None = None, all_items: bool = False,
          items: Path | None = None, item_mapping: str | None = None, multi_sep: str = "|") -> Batch:  # fmt: skip
    """`items` and `item_mapping`: a catalogue file beside a csv format's interactions."""
    parsers: dict[str, Callable[[], Batch]] = {
        "movielens-100k": lambda: parse_movielens_100k(paths),
        "movielens-1m": lambda: parse_movielens_1m(paths),
        "collm": lambda: parse_collm(paths),
        "amazon-2018": lambda: parse_amazon_2018(paths, all_items),
        "amazon-2023": lambda: parse_amazon_2023(paths, all_items),
        "csv": lambda: parse_tabular(paths, parse_mapping(mapping), items, parse_item_mapping(item_mapping), multi_sep),
    }
    if fmt not in parsers:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    check_catalogue_options(fmt, items, item_mapping)
    if not paths:
        raise InputError("no input files given")
    return check_batch(parsers[fmt]())


def check_catalogue_options(fmt: str, items: Path | None, item_mapping: str | None) -> None:
    """`--items`/`--item-map` go with the csv format, and the map with a file."""
    if fmt != "csv" and (items is not None or item_mapping):
        raise InputError(f"--items and --item-map are for the csv format; {fmt} reads its own catalogue files")
    if item_mapping and items is None:
        raise InputError("--item-map needs --items FILE")

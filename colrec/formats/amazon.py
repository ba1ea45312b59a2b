"""Amazon reviews: the 2018 release (reviewerID/asin/overall/unixReviewTime) and the 2023 release
(user_id/parent_asin/rating/timestamp in ms). Each takes a reviews file and an optional meta file,
JSON lines, gzip or not; which file is which is read from its first record, not its name.

The meta file is a whole category's catalogue while the reviews are usually a k-core subset, so by
default only reviewed items are kept (`all_items=True` keeps the catalogue: cold-start items). It is
also incomplete: a reviewed item with no meta record is kept without text, counted and warned of.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from colrec.errors import InputError
from colrec.formats.base import INTERACTION_SCHEMA, ITEM_SCHEMA, Batch, check_epoch, iter_json_lines, require


@dataclass(frozen=True)
class AmazonFields:
    user: str
    item: str
    rating: str
    time: str
    time_scale: int  # microseconds per unit of `time`
    review_keys: tuple[str, ...]  # kept in interaction attributes
    meta_item: str
    meta_keys: tuple[str, ...]  # kept in item attributes
    description: str


AMAZON_2018 = AmazonFields(
    user="reviewerID",
    item="asin",
    rating="overall",
    time="unixReviewTime",
    time_scale=1_000_000,
    review_keys=("summary", "reviewText", "verified", "vote", "style"),
    meta_item="asin",
    meta_keys=("brand", "category", "main_cat", "price", "feature"),
    description="description",
)
AMAZON_2023 = AmazonFields(
    user="user_id",
    item="parent_asin",
    rating="rating",
    time="timestamp",
    time_scale=1_000,
    review_keys=("title", "text", "verified_purchase", "helpful_vote"),
    meta_item="parent_asin",
    meta_keys=("store", "categories", "main_category", "price", "features"),
    description="description",
)


def parse_amazon_2018(paths: list[Path], all_items: bool = False) -> Batch:
    return _parse(paths, AMAZON_2018, all_items)


def parse_amazon_2023(paths: list[Path], all_items: bool = False) -> Batch:
    return _parse(paths, AMAZON_2023, all_items)


def _parse(paths: list[Path], fields: AmazonFields, all_items: bool) -> Batch:
    reviews_path, meta_path = _roles(paths, fields)
    interactions = _reviews(reviews_path, fields)
    items, metrics = None, {}
    warnings: tuple[str, ...] = ()
    if meta_path is not None:
        items = _meta(meta_path, fields)
        if not all_items:
            items = items.filter(pl.col("external_id").is_in(interactions["item"].unique().implode()))
        items, missing = _with_unlisted(items, interactions, meta_path)
        metrics = {"items_without_meta": len(missing)}
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            counted = f"{len(missing)} reviewed items have" if len(missing) > 1 else "1 reviewed item has"
            warnings = (f"{meta_path}: {counted} no meta record ({shown}); "
                        "ingested without title or description",)  # fmt: skip
    files = tuple(str(p) for p in (reviews_path, meta_path) if p is not None)
    return Batch(interactions, None, items, files, warnings=warnings, metrics=metrics)


def _with_unlisted(items: pl.DataFrame, interactions: pl.DataFrame, meta_path: Path) -> tuple[pl.DataFrame, list[str]]:
    """Amazon's meta files leave out some reviewed items (6 of 157 in one 2018 category): those
    items are created without text rather than failing the ingest. Their line is 0 (no record)."""
    listed = set(items["external_id"].to_list())
    missing = [i for i in interactions["item"].unique(maintain_order=True).to_list() if i not in listed]
    if not missing:
        return items, []
    extra = pl.DataFrame(
        {"external_id": missing, "title": None, "description": None, "attributes": "{}",
         "file": str(meta_path), "line": 0},
        schema=ITEM_SCHEMA,
    )  # fmt: skip
    return pl.concat([items, extra]), missing


def _roles(paths: list[Path], fields: AmazonFields) -> tuple[Path, Path | None]:
    files = [f for p in paths for f in (sorted(x for x in p.iterdir() if ".json" in x.name) if p.is_dir() else [p])]
    reviews: list[Path] = []
    meta: list[Path] = []
    for path in files:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        (reviews if _is_reviews(path, fields) else meta).append(path)
    if len(reviews) != 1:
        raise InputError(
            f"expected one reviews file (records with '{fields.user}'), "
            f"found {len(reviews)} among {', '.join(map(str, files))}"
        )
    if len(meta) > 1:
        raise InputError(f"expected at most one meta file, found {len(meta)}: {', '.join(map(str, meta))}")
    return reviews[0], (meta[0] if meta else None)


def _is_reviews(path: Path, fields: AmazonFields, sample: int = 50) -> bool:
    """A reviews file by its first records: one of them with the reviewer, or with a rating and a
    time (a review missing its reviewer is still a review, and its line is then named)."""
    records = iter_json_lines(path)
    for _, record in itertools.islice(records, sample):
        if fields.user in record or (fields.rating in record and fields.time in record):
            return True
    return False


def _reviews(path: Path, fields: AmazonFields) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {name: [] for name in INTERACTION_SCHEMA}
    for line, record in iter_json_lines(path):
        rating = require(record, fields.rating, (int, float), path, line)
        if not 0 <= rating <= 5:
            raise InputError(f"{path}:{line}: field '{fields.rating}' must be in [0, 5], got {rating}")
        rows["user"].append(require(record, fields.user, str, path, line))
        rows["item"].append(require(record, fields.item, str, path, line))
        rows["rating"].append(float(rating))
        rows["label"].append(None)
        time = require(record, fields.time, int, path, line)
        rows["ts_us"].append(check_epoch(time, path, line, fields.time, 1_000_000 // fields.time_scale))
        rows["attributes"].append(_subset(record, fields.review_keys))
        rows["event_key"].append(_review_key(record, fields))
        rows["file"].append(str(path))
        rows["line"].append(line)
    return pl.DataFrame(rows, schema=INTERACTION_SCHEMA)


def _meta(path: Path, fields: AmazonFields) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {name: [] for name in ITEM_SCHEMA}
    seen: set[str] = set()
    for line, record in iter_json_lines(path):
        item = require(record, fields.meta_item, str, path, line)
        if item in seen:  # the meta files repeat some items; the first record wins
            continue
        seen.add(item)
        rows["external_id"].append(item)
        rows["title"].append(_text(record.get("title")))
        rows["description"].append(_text(record.get(fields.description)))
        rows["attributes"].append(_subset(record, fields.meta_keys))
        rows["file"].append(str(path))
        rows["line"].append(line)
    return pl.DataFrame(rows, schema=ITEM_SCHEMA)


def _review_key(record: dict[str, Any], fields: AmazonFields) -> str:
    """Reviews carry no id, and one user can review an item twice in a day: the review's own words
    tell the two apart, and stay the same when the file is ingested again."""
    words = json.dumps([record.get(k) for k in fields.review_keys], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(words.encode()).hexdigest()[:16]


def _text(value: Any) -> str | None:
    """Titles and descriptions come as strings or lists of strings; kept verbatim, joined by lines."""
    if isinstance(value, list):
        value = "\n".join(str(v) for v in value if v)
    if value is None or not str(value).strip():
        return None
    return str(value)


def _subset(record: dict[str, Any], keys: tuple[str, ...]) -> str:
    return json.dumps({k: record[k] for k in keys if record.get(k) not in (None, "", [], {})}, ensure_ascii=False)

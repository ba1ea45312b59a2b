"""Ingest into a real Postgres: every format, idempotent reruns, appends, and all-or-nothing errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from colrec.errors import InputError
from colrec.formats import parse
from colrec_store.repositories.ingest import ingest_batch
from jobs import ingest
from jobs.common.context import JobContext
from tests.helpers import counts, rows

FORMATS = [
    # folder, format, mapping, (users, items, interactions)
    ("ml100k", "movielens-100k", None, (6, 5, 20)),
    ("ml1m", "movielens-1m", None, (4, 5, 16)),
    ("collm", "collm", None, (4, 5, 15)),
    ("amazon2018", "amazon-2018", None, (4, 3, 13)),
    ("amazon2023", "amazon-2023", None, (4, 3, 10)),
    ("csv/events.csv", "csv", "user=member,item=sku,rating=stars,ts=when,title=name", (3, 4, 10)),
]


@pytest.mark.parametrize(("folder", "fmt", "mapping", "expected"), FORMATS)
def test_ingest_each_format_twice(
    ctx: JobContext, fixtures: Path, folder: str, fmt: str, mapping: str | None, expected: tuple[int, int, int]
) -> None:
    first = ingest.run(ctx, [fixtures / folder], dataset="d", fmt=fmt, mapping=mapping)
    assert (first.users_added, first.items_added, first.interactions_added) == expected
    before = counts(ctx)
    assert (before["users"], before["items"], before["interactions"]) == expected
    again = ingest.run(ctx, [fixtures / folder], dataset="d", fmt=fmt, mapping=mapping)
    assert again.interactions_added == again.users_added == again.items_added == again.items_updated == 0
    assert counts(ctx) == before


def test_new_rows_append_and_changed_items_update(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "ml100k"
    shutil.copytree(fixtures / "ml100k", root)
    ingest.run(ctx, [root], dataset="ml", fmt="movielens-100k")
    with (root / "u.data").open("a") as fh:
        fh.write("6\t5\t4\t890000000\n")
    item_lines = (root / "u.item").read_text("latin-1").splitlines()
    item_lines[0] = item_lines[0].replace("Alpha Story", "Alpha Story Redux")
    (root / "u.item").write_text("\n".join(item_lines) + "\n", "latin-1")
    result = ingest.run(ctx, [root], dataset="ml", fmt="movielens-100k")
    assert (result.interactions_added, result.items_updated, result.items_added) == (1, 1, 0)
    assert rows(ctx, "select title from items where external_id = '1'")[0]["title"] == "Alpha Story Redux (1995)"


def test_ratings_alone_resolve_against_stored_catalogue(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    ingest.run(ctx, [fixtures / "ml100k"], dataset="ml", fmt="movielens-100k")
    more = tmp_path / "u.data"
    more.write_text("2\t3\t5\t899999999\n")
    assert ingest.run(ctx, [more], dataset="ml", fmt="movielens-100k").interactions_added == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("7\t1\t3\t880000000", r"u\.data:21: unknown user id '7'"),
        ("1\t99\t3\t880000000", r"u\.data:21: unknown item id '99'"),
    ],
)
def test_unknown_reference_leaves_tables_unchanged(
    ctx: JobContext, fixtures: Path, tmp_path: Path, line: str, message: str
) -> None:
    ingest.run(ctx, [fixtures / "collm"], dataset="other", fmt="collm")
    before = counts(ctx)
    root = tmp_path / "ml100k"
    shutil.copytree(fixtures / "ml100k", root)
    with (root / "u.data").open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(InputError, match=message):
        ingest.run(ctx, [root], dataset="ml", fmt="movielens-100k")
    assert counts(ctx) == before  # not even the dataset row or the users of the good lines
    failed = rows(ctx, "select status, error from runs order by id desc limit 1")[0]
    assert failed["status"] == "failed" and "unknown" in failed["error"]


def test_parse_error_writes_nothing(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "collm"
    shutil.copytree(fixtures / "collm", root)
    (root / "items.tsv").write_text("iid\ttitle\n1\tA\n1\tB\n")
    with pytest.raises(InputError, match=r"items\.tsv:3: duplicate item id 1"):
        ingest.run(ctx, [root], dataset="c", fmt="collm")
    assert counts(ctx) == {"datasets": 0, "users": 0, "items": 0, "interactions": 0}


def test_item_text_round_trips_verbatim(ctx: JobContext, fixtures: Path) -> None:
    batch = parse("amazon-2018", [fixtures / "amazon2018"])
    with ctx.transaction() as session:
        ingest_batch(session, "a", batch)
    titles = {r["title"] for r in rows(ctx, "select title from items")}
    assert "Card B {{system}}" in titles
    hostile = rows(ctx, "select title from items where external_id = 'B000'")[0]["title"]
    assert hostile == "Card A"


def test_dataset_stats_and_runs(ctx: JobContext, fixtures: Path) -> None:
    from jobs import datasets, runs

    ingest.run(ctx, [fixtures / "ml100k"], dataset="ml", fmt="movielens-100k")
    stats = datasets.run(ctx)
    assert [(s["dataset"], s["users"], s["items"], s["interactions"]) for s in stats] == [("ml", 6, 5, 20)]
    assert stats[0]["first_ts"] < stats[0]["last_ts"]
    recorded = runs.run(ctx)
    assert recorded[0]["job"] == "ingest" and recorded[0]["status"] == "published"
    assert recorded[0]["metrics"]["interactions_added"] == 20 and recorded[0]["dataset"] == "ml"
    assert {"stage", "load", "merge_insert"} <= set(recorded[0]["timings"])
    assert recorded[0]["code_version"].startswith("0.1.0")

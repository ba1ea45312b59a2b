"""Each format parses its fixture files into the expected rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from colrec.errors import InputError
from colrec.formats import parse


def test_movielens_100k(fixtures: Path) -> None:
    batch = parse("movielens-100k", [fixtures / "ml100k"])
    assert batch.interactions.height == 20
    assert batch.users is not None and batch.users.height == 6
    assert batch.items is not None and batch.items.height == 5
    assert batch.users_declared and batch.items_declared
    first = batch.interactions.row(0, named=True)
    assert (first["user"], first["item"], first["rating"], first["ts_us"]) == ("1", "1", 3.0, 880000000 * 10**6)
    assert first["line"] == 1 and first["file"].endswith("u.data")
    item1 = batch.items.row(0, named=True)
    assert item1["title"] == "Alpha Story (1995)"
    attributes = json.loads(item1["attributes"])
    assert attributes["genres"] == ["Action", "Animation"]
    assert attributes["release_date"] == "01-Jan-1995" and attributes["imdb_url"] == "http://example.org/1"
    assert batch.items.row(3, named=True)["title"] == "Délta Noir (1994)"  # latin-1 decoded
    assert json.loads(batch.users.row(0, named=True)["attributes"]) == {
        "age": 21, "gender": "F", "occupation": "student", "zip": "02101",
    }  # fmt: skip


def test_movielens_100k_accepts_single_files(fixtures: Path) -> None:
    batch = parse("movielens-100k", [fixtures / "ml100k" / "u.data"])
    assert batch.users is None and batch.items is None
    assert batch.users_declared and batch.items_declared  # references must match the store


def test_movielens_1m(fixtures: Path) -> None:
    batch = parse("movielens-1m", [fixtures / "ml1m"])
    assert batch.interactions.height == 16
    assert batch.items is not None and batch.items.height == 5
    assert json.loads(batch.items.row(0, named=True)["attributes"]) == {"genres": ["Action", "Comedy"]}
    assert batch.users is not None and json.loads(batch.users.row(0, named=True)["attributes"])["gender"] == "F"


def test_collm_keeps_labels_and_source_split(fixtures: Path) -> None:
    batch = parse("collm", [fixtures / "collm"])
    assert batch.interactions.height == 15
    assert batch.interactions["label"].to_list()[:4] == [0, 1, 0, 1]
    assert batch.interactions["rating"].null_count() == 15
    splits = [json.loads(a)["split"] for a in batch.interactions["attributes"]]
    assert splits.count("train") == 8 and splits.count("test") == 3
    assert batch.interactions["line"][0] == 2  # line 1 is the header
    assert batch.items is not None
    genres = [json.loads(a)["genres"] for a in batch.items["attributes"]]
    assert genres[:3] == [["Drama", "War"]] * 3 and genres[3] is None  # joined on title
    assert not batch.users_declared and batch.items_declared


def test_amazon_2018(fixtures: Path) -> None:
    batch = parse("amazon-2018", [fixtures / "amazon2018"])
    assert batch.interactions.height == 13
    assert batch.items is not None
    assert sorted(batch.items["external_id"]) == ["B000", "B001", "B002"]  # unreviewed B999 dropped
    first = batch.items.filter(pl.col("external_id") == "B000").row(0, named=True)
    assert first["title"] == "Card A"  # the first of the repeated records wins
    assert first["description"] == "desc 0\n<b>html</b>"
    same_day = batch.interactions.filter((pl.col("user") == "U0") & (pl.col("item") == "B000"))
    assert same_day["ts_us"].n_unique() == 1 and same_day["event_key"].n_unique() == same_day.height


def test_amazon_2018_all_items_keeps_catalogue(fixtures: Path) -> None:
    batch = parse("amazon-2018", [fixtures / "amazon2018"], all_items=True)
    assert batch.items is not None and "B999" in batch.items["external_id"].to_list()


@pytest.mark.parametrize(("folder", "fmt", "reviews", "key"), [
    ("amazon2018", "amazon-2018", "reviews_5.json", "asin"),
    ("amazon2023", "amazon-2023", "Gift_Cards.jsonl", "parent_asin"),
])  # fmt: skip
def test_amazon_reviewed_items_missing_from_meta_are_kept_and_counted(
    fixtures: Path, tmp_path: Path, folder: str, fmt: str, reviews: str, key: str
) -> None:
    import shutil

    root = tmp_path / folder
    shutil.copytree(fixtures / folder, root)
    path = root / reviews
    first = json.loads(path.read_text().splitlines()[0])
    extra = [dict(first, **{key: f"NOMETA{n}"}) for n in range(7)]
    path.write_text(path.read_text() + "".join(json.dumps(r) + "\n" for r in extra))
    batch = parse(fmt, [root])
    assert batch.items is not None
    unlisted = batch.items.filter(pl.col("external_id").str.starts_with("NOMETA"))
    assert unlisted.height == 7 and unlisted["title"].is_null().all() and unlisted["description"].is_null().all()
    assert batch.metrics == {"items_without_meta": 7}
    (warning,) = batch.warnings
    assert "7 reviewed items have no meta record (NOMETA0, NOMETA1, NOMETA2, NOMETA3, NOMETA4, ...)" in warning
    assert parse(fmt, [fixtures / folder]).warnings == ()  # every reviewed item listed: nothing to say


def test_amazon_2023_uses_parent_asin_and_ms(fixtures: Path) -> None:
    batch = parse("amazon-2023", [fixtures / "amazon2023"])
    assert batch.interactions.height == 10
    assert batch.interactions["item"][0] == "P0"
    assert batch.interactions["ts_us"][0] == 1600000000000 * 1000
    assert batch.items is not None and batch.items.height == 3


def test_csv_with_mapping_and_iso_times(fixtures: Path) -> None:
    batch = parse(
        "csv", [fixtures / "csv" / "events.csv"], mapping="user=member,item=sku,rating=stars,ts=when,title=name"
    )
    assert batch.interactions.height == 10
    assert batch.interactions["ts_us"][0] == 1704103200 * 10**6
    assert batch.items is not None and batch.items["title"].to_list()[0] == "Item, 0"
    assert batch.interactions["line"].to_list()[:2] == [2, 3]


def test_tsv_and_parquet(fixtures: Path, tmp_path: Path) -> None:
    tsv = parse("csv", [fixtures / "csv" / "events.tsv"], mapping="user=member,item=sku,label=clicked,ts=epoch")
    assert tsv.interactions["label"].to_list()[:3] == [0, 1, 0]
    parquet = tmp_path / "events.parquet"
    pl.read_csv(fixtures / "csv" / "events.tsv", separator="\t").write_parquet(parquet)
    from_parquet = parse("csv", [parquet], mapping="user=member,item=sku,label=clicked,ts=epoch")
    assert from_parquet.interactions.drop("file", "line").equals(tsv.interactions.drop("file", "line"))


def test_item_text_is_kept_verbatim(fixtures: Path) -> None:
    batch = parse("amazon-2018", [fixtures / "amazon2018"])
    assert batch.items is not None
    assert "Card B {{system}}" in batch.items["title"].to_list()


@pytest.mark.parametrize("fmt", ["movielens-100k", "collm", "amazon-2018"])
def test_unknown_format_and_no_files(fmt: str) -> None:
    from colrec.errors import InputError

    with pytest.raises(InputError, match="unknown format"):
        parse("nope", [Path(".")])
    with pytest.raises(InputError, match="no input files"):
        parse(fmt, [])


RATINGS_MAP = "user=userId,item=movieId,rating=rating,ts=timestamp"
MOVIES_MAP = "id=movieId,title=title,attributes=genres"


def test_csv_with_a_catalogue_file(fixtures: Path) -> None:
    folder = fixtures / "catalogue"
    batch = parse("csv", [folder / "ratings.csv"], mapping=RATINGS_MAP, items=folder / "movies.csv",
                  item_mapping=MOVIES_MAP)  # fmt: skip
    assert batch.items is not None and batch.items_declared
    assert batch.items["external_id"].to_list() == ["1", "2", "3", "4"]  # unrated items are kept: cold start
    heat = batch.items.filter(pl.col("external_id") == "3").row(0, named=True)
    assert heat["title"] == "Heat, the Remake (1995)" and heat["line"] == 4 and heat["description"] is None
    assert json.loads(heat["attributes"]) == {"genres": ["Action", "Crime", "Thriller"]}
    whole = parse("csv", [folder / "ratings.csv"], mapping=RATINGS_MAP, items=folder / "movies.csv",
                  item_mapping="id=movieId,title=title,attributes=genres,title", multi_sep="")  # fmt: skip
    assert whole.items is not None
    assert json.loads(whole.items["attributes"][0]) == {
        "genres": ["Adventure|Animation|Children|Comedy|Fantasy"],
        "title": ["Toy Story (1995)"],
    }


@pytest.mark.parametrize(("edit", "item_map", "error"), [
    (lambda t: t + "2,Jumanji again,Comedy\n", MOVIES_MAP, r"movies\.csv:6: item id '2' appears again \(first on line 3\)"),
    (lambda t: t, "id=movieId,title=name", r"movies\.csv: no column 'name' \(columns: movieId, title, genres\)"),
    (lambda t: t, "id=movieId,colour=genres", r"bad item column mapping 'colour=genres'"),
    (lambda t: t + ",Nameless,Drama\n", MOVIES_MAP, r"movies\.csv:6: missing required field 'movieId'"),
])  # fmt: skip
def test_bad_catalogue_names_the_line(fixtures: Path, tmp_path: Path, edit: object, item_map: str, error: str) -> None:
    movies = tmp_path / "movies.csv"
    movies.write_text(edit((fixtures / "catalogue" / "movies.csv").read_text()))  # type: ignore[operator]
    with pytest.raises(InputError, match=error):
        parse("csv", [fixtures / "catalogue" / "ratings.csv"], mapping=RATINGS_MAP, items=movies, item_mapping=item_map)


def test_catalogue_options_only_for_csv(fixtures: Path) -> None:
    with pytest.raises(InputError, match=r"--items and --item-map are for the csv format"):
        parse("movielens-100k", [fixtures / "ml100k"], items=fixtures / "catalogue" / "movies.csv")
    with pytest.raises(InputError, match=r"not both"):
        parse("csv", [fixtures / "csv" / "events.csv"], mapping="user=member,item=sku,title=name",
              items=fixtures / "catalogue" / "movies.csv", item_mapping=MOVIES_MAP)  # fmt: skip

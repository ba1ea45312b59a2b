"""Bad input stops the parse with one line naming the file and line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from colrec.errors import InputError
from colrec.formats import parse


def _copy(fixtures: Path, name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(fixtures / name, target)
    return target


def _replace_line(path: Path, number: int, text: str) -> None:
    # latin-1 round-trips any bytes, so the other lines stay exactly as they were
    lines = path.read_text("latin-1").split("\n")
    lines[number - 1] = text
    path.write_text("\n".join(lines), "latin-1")


CASES = [
    # (folder, format, file, line, replacement, expected message)
    ("ml100k", "movielens-100k", "u.data", 4, "1\t2\t3", r"u\.data:4: expected 4 fields separated by '\\t', found 3"),
    ("ml100k", "movielens-100k", "u.data", 5, "1\tx\t3\t880000000", r"u\.data:5: field 'item' must be an integer, got 'x'"),
    ("ml100k", "movielens-100k", "u.data", 6, "1\t2\t\t880000000", r"u\.data:6: missing required field 'rating'"),
    ("ml100k", "movielens-100k", "u.data", 2, "1\t2\t9\t880000000", r"u\.data:2: field 'rating' must be in \[0, 5\]"),
    ("ml100k", "movielens-100k", "u.user", 3, "1|30|M|x|1", r"u\.user:3: duplicate user id 1"),
    ("ml100k", "movielens-100k", "u.item", 2, "2|T|d||u|" + "|".join(["2"] * 19), r"u\.item:2: genre flag"),
    ("collm", "collm", "interactions.tsv", 3, "1\t1\t7\t100\ttrain", r"interactions\.tsv:3: field 'label' must be one of"),
    ("collm", "collm", "interactions.tsv", 1, "user\titem", r"interactions\.tsv:1: expected header"),
    ("amazon2023", "amazon-2023", "Gift_Cards.jsonl", 3, "{not json", r"Gift_Cards\.jsonl:3: malformed JSON"),
    ("amazon2023", "amazon-2023", "Gift_Cards.jsonl", 2, '{"user_id": "u", "parent_asin": "p", "timestamp": 1}', r"Gift_Cards\.jsonl:2: missing required field 'rating'"),
    ("amazon2023", "amazon-2023", "Gift_Cards.jsonl", 4, '{"user_id": "u", "parent_asin": "p", "rating": "5", "timestamp": 1}', r"Gift_Cards\.jsonl:4: field 'rating' must be int or float, got '5'"),
]  # fmt: skip


@pytest.mark.parametrize(("folder", "fmt", "name", "line", "text", "message"), CASES)
def test_bad_line_is_named(
    fixtures: Path, tmp_path: Path, folder: str, fmt: str, name: str, line: int, text: str, message: str
) -> None:
    root = _copy(fixtures, folder, tmp_path)
    _replace_line(root / name, line, text)
    with pytest.raises(InputError, match=message):
        parse(fmt, [root])


def test_empty_file(fixtures: Path, tmp_path: Path) -> None:
    root = _copy(fixtures, "ml100k", tmp_path)
    (root / "u.data").write_text("")
    with pytest.raises(InputError, match=r"u\.data: file is empty"):
        parse("movielens-100k", [root])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.dat: no such file"):
        parse("movielens-1m", [tmp_path / "nope.dat"])


def test_unreadable_gzip(fixtures: Path, tmp_path: Path) -> None:
    root = _copy(fixtures, "amazon2018", tmp_path)
    (root / "meta.json.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(InputError, match=r"meta\.json\.gz: cannot read file"):
        parse("amazon-2018", [root])


def test_bad_encoding_names_the_line(fixtures: Path, tmp_path: Path) -> None:
    root = _copy(fixtures, "amazon2023", tmp_path)
    path = root / "Gift_Cards.jsonl"
    path.write_bytes(path.read_bytes().replace(b"text 3", b"text \xff"))
    with pytest.raises(InputError, match=r"Gift_Cards\.jsonl:4: not valid utf-8"):
        parse("amazon-2023", [root])


def test_gzip_reviews_are_read(fixtures: Path, tmp_path: Path) -> None:
    root = _copy(fixtures, "amazon2018", tmp_path)
    plain = root / "reviews_5.json"
    (root / "reviews_5.json.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    assert parse("amazon-2018", [root]).interactions.height == 13


def test_csv_errors(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,b,ts\nu1,i1,2024-01-01\nu2,i2\n")
    with pytest.raises(InputError, match=r"e\.csv:3: expected 3 fields, found 2"):
        parse("csv", [path], mapping="user=a,item=b,ts=ts")
    path.write_text("a,b,ts\nu1,i1,2024-01-01\nu2,i2,yesterday\n")
    with pytest.raises(
        InputError, match=r"e\.csv:3: field 'ts' must be unix seconds or an ISO date/time, got 'yesterday'"
    ):
        parse("csv", [path], mapping="user=a,item=b,ts=ts")
    with pytest.raises(InputError, match=r"e\.csv: no column 'member'"):
        parse("csv", [path], mapping="user=member,item=b")
    with pytest.raises(InputError, match="bad column mapping"):
        parse("csv", [path], mapping="usr=a")

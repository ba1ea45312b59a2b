"""Bad input through the CLI, one row per case: one line on stderr, the file and line named where
there is one, exit 1, and the store's rows as they were (a baseline dataset is ingested first, so
"unchanged" is checked against real rows, not an empty store)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from jobs import ingest
from jobs.common.context import JobContext
from tests.helpers import cli_env, counts, rows, run_cli

GOOD = "1\t1\t3\t880000000\n"
CSV_HEAD = "user,item,rating,ts\n"
CSV_OK = "u1,i1,4,881250949\n"
ML = ["-d", "ml", "-f", "movielens-100k"]
CSV = ["-d", "events", "-f", "csv", "--map", "user=user,item=item,rating=rating,ts=ts"]
LABELS = ["-d", "events", "-f", "csv", "--map", "user=user,item=item,label=label,ts=ts"]
AMAZON = ["-d", "gift", "-f", "amazon-2018"]
REVIEW = {"overall": 5.0, "reviewerID": "U0", "asin": "B000", "reviewText": "fine", "unixReviewTime": 1514764800}


def _gzip_corrupt() -> bytes:
    packed = bytearray(gzip.compress((GOOD * 400).encode()))
    packed[12] ^= 0xFF  # past the header: the deflate stream itself is broken (zlib.error)
    packed[13] ^= 0x55
    return bytes(packed)


def _review(**changes: object) -> str:
    return json.dumps({**REVIEW, **changes}) + "\n"


def _parquet(frame: pl.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.write_parquet(path)


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes | Callable[[Path], None]]
    args: list[str]
    expect: str  # a regex the one line must match; {dir} is the case's folder
    env: dict[str, str] = field(default_factory=dict)
    dataset: str | None = None  # overrides the -d of args


CASES = [
    # 5: timestamps that wrap around or land in another millennium
    Case("ts wraps around", {"u.data": GOOD + "1\t2\t4\t288230377032962693\n"}, ML, r"{dir}/u.data:2: field 'ts'"),
    Case("ts 1e12 (year 33658)", {"u.data": GOOD + "1\t2\t4\t1000000000000\n"}, ML, r"{dir}/u.data:2: field 'ts'"),
    # 6: an unterminated quote
    Case(
        "unterminated quote",
        {"e.csv": CSV_HEAD.replace("ts", "ts,title") + 'u1,i1,4,881250949,"unterminated\nu2,i1,3,881250950,B\n'},
        [*CSV[:-1], "user=user,item=item,rating=rating,ts=ts,title=title"],
        r"{dir}/e.csv:2: malformed CSV",
    ),
    # 7: ratings and labels out of their range
    *[
        Case(f"rating {value}", {"e.csv": CSV_HEAD + f"u1,i1,{value},881250949\n"}, CSV, r"{dir}/e.csv:2: .*'rating'")
        for value in ("nan", "inf", "-5", "1e308")
    ],
    *[
        Case(
            f"label {value}",
            {"e.csv": "user,item,label,ts\n" + f"u1,i1,{value},881250949\n"},
            LABELS,
            r"{dir}/e.csv:2: field 'label' must be 0 or 1",
        )
        for value in ("7", "-3")
    ],
    Case(
        "parquet NaN rating",
        {"e.parquet": _parquet(pl.DataFrame({"user": ["a"], "item": ["b"], "rating": [float("nan")], "ts": [9e8]}))},
        CSV,
        r"{dir}/e.parquet:1: .*'rating'",
    ),
    # 8: one event, two ratings
    Case(
        "conflicting duplicate",
        {"e.csv": CSV_HEAD + "u1,i1,1,881250949\nu1,i1,3,881250949\n"},
        CSV,
        r"{dir}/e.csv:3: the same event as {dir}/e.csv:2 .*rating 3.0 vs rating 1.0",
    ),
    Case("conflicts with the store", {"u.data": "1\t1\t5\t880000000\n"}, ML, r"{dir}/u.data:1: .*already stored"),
    # 10: tracebacks before
    Case("corrupt gzip", {"u.data.gz": _gzip_corrupt()}, ML, r"{dir}/u.data.gz: cannot read file"),
    *[
        Case(f"csv ts {value}", {"e.csv": CSV_HEAD + f"u1,i1,4,{value}\n"}, CSV, r"{dir}/e.csv:2: field 'ts'")
        for value in ("1e308", "1e13", "nan")
    ],
    Case(
        "parquet NaN ts",
        {"e.parquet": _parquet(pl.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "ts": [9e8, float("nan")]}))},
        ["-d", "events", "-f", "csv", "--map", "user=user,item=item,ts=ts"],
        r"{dir}/e.parquet:2: field 'ts'",
    ),
    Case(
        "parquet list column",
        {"e.parquet": _parquet(pl.DataFrame({"user": ["a"], "item": [["x", "y"]]}))},
        ["-d", "events", "-f", "csv", "--map", "user=user,item=item"],
        r"{dir}/e.parquet:1: column 'item' .*list",
    ),
    Case("duplicate header", {"e.csv": "user,item,item\nu,i,j\n"}, ["-d", "e", "-f", "csv"], r"{dir}/e.csv:1: .*twice"),
    Case(
        "field over 128 KB",
        {"e.csv": CSV_HEAD.replace("ts", "ts,title") + CSV_OK.strip() + ",t\n" + "u2,i2,4,881250950," + "x" * 140_000},
        [*CSV[:-1], "user=user,item=item,rating=rating,ts=ts,title=title"],
        r"{dir}/e.csv:3: malformed CSV: field larger than field limit",
    ),
    Case("amazon time 1e13", {"r.json": _review(unixReviewTime=10**13)}, AMAZON, r"{dir}/r.json:1: .*'unixReviewTime'"),
    Case(
        "lone surrogate",
        {"r.json": _review() + _review(reviewText="\ud800").replace('"\\ud800"', '"x\\ud800"')},
        AMAZON,
        r"{dir}/r.json:2: not valid text",
    ),
    Case("not a url", {}, ["datasets"], r"settings: DATABASE_URL is not a database URL", {"DATABASE_URL": "not a url"}),
    # 11: the database saw these first
    Case(
        "NUL byte", {"e.csv": CSV_HEAD + "u1,i\x001,4,881250949\n"}, CSV, r"{dir}/e.csv:2: field 'item' contains a NUL"
    ),
    Case("name of 201 characters", {"u.data": GOOD}, ML, r"dataset name 'a+\.\.\.' .*not allowed", dataset="a" * 201),
    # 12: a 1 MB field is named, not echoed
    Case(
        "1 MB field",
        {"u.data": GOOD + "1\t2\t" + "x" * 1_000_000 + "\t880000000\n"},
        ML,
        r"{dir}/u.data:2: field 'rating' must be a number, got 'x{{80}}\.\.\.' \(1,000,000 characters\)$",
    ),
    # 13: a reviews file whose first record lacks the reviewer
    Case(
        "reviews without reviewerID",
        {"r.json": json.dumps({k: v for k, v in REVIEW.items() if k != "reviewerID"}) + "\n" + _review()},
        AMAZON,
        r"{dir}/r.json:1: missing required field 'reviewerID'",
    ),
    # 14: names that are not names
    *[
        Case(f"dataset name {name!r}", {"u.data": GOOD}, ML, r"dataset name .* is not allowed", dataset=name)
        for name in ("", "   ", "a\nb", "../../../tmp/x", ".hidden")
    ],
]


@pytest.fixture
def baseline(ctx: JobContext, fixtures: Path) -> dict[str, int]:
    ingest.run(ctx, [fixtures / "ml100k"], dataset="ml", fmt="movielens-100k")
    return counts(ctx)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    case: Case, ctx: JobContext, baseline: dict[str, int], tmp_path: Path
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    for name, content in case.files.items():
        path = folder / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
    args = ["ingest", *(str(folder / n) for n in case.files), *case.args] if case.files else list(case.args)
    if case.dataset is not None:
        args[args.index("-d") + 1] = case.dataset
    result = run_cli(*args, env={**cli_env(ctx), **case.env})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert re.match(r"error: " + case.expect.format(dir=re.escape(str(folder))), lines[0]), lines[0][:500]
    assert counts(ctx) == baseline
    errors = rows(ctx, "select error from runs where status = 'failed'")
    assert all(len(r["error"] or "") < 600 for r in errors)


def test_a_column_named_line_is_data_like_any_other(ctx: JobContext, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("line,user,item\nL1,u1,i1\nL2,u2,i1\n")
    result = run_cli("ingest", str(path), "-d", "e", "-f", "csv", "--map", "user=line,item=item", env=cli_env(ctx))
    assert result.returncode == 0, result.stderr
    users = rows(ctx, "select external_id from users order by external_id")
    assert [u["external_id"] for u in users] == ["L1", "L2"]


def test_a_broken_embedded_data_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "PG_VERSION").write_text("junk\n")
    result = run_cli("datasets", env={"COLREC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: the embedded database under {tmp_path / 'pg'} did not start: "
    )
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = run_cli("datasets", env={"COLREC_DATA_DIR": str(blocked)})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "did not start" in result.stderr

"""The real `colrec-jobs` executable in a subprocess: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from jobs.common.context import JobContext
from tests.helpers import cli_env, counts, rows, run_cli


def test_help_needs_no_database() -> None:
    result = run_cli("--help", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 0 and "ingest" in result.stdout


def test_ingest_then_datasets_json(ctx: JobContext, fixtures: Path) -> None:
    env = cli_env(ctx)
    for _ in range(2):
        result = run_cli(
            "ingest", str(fixtures / "amazon2018"), "--dataset", "gift", "--format", "amazon-2018", env=env
        )
        assert result.returncode == 0, result.stderr
    assert "+0 interactions (13 read)" in result.stdout
    stats = json.loads(run_cli("datasets", "--json", env=env).stdout)
    assert [(s["dataset"], s["users"], s["items"], s["interactions"]) for s in stats] == [("gift", 4, 3, 13)]
    runs = json.loads(run_cli("runs", "--json", env=env).stdout)
    assert [r["status"] for r in runs] == ["published", "published"]


def test_amazon_items_missing_from_meta_warn_once_and_load(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "amazon2018"
    shutil.copytree(fixtures / "amazon2018", root)
    reviews = root / "reviews_5.json"
    first = json.loads(reviews.read_text().splitlines()[0])
    reviews.write_text(reviews.read_text() + json.dumps(dict(first, asin="NOMETA")) + "\n")
    result = run_cli("ingest", str(root), "-d", "gift", "-f", "amazon-2018", env=cli_env(ctx))
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "no meta record" in line]
    assert len(warned) == 1 and "1 reviewed item has no meta record (NOMETA)" in warned[0]
    assert rows(ctx, "select title from items where external_id = 'NOMETA'") == [{"title": None}]
    (run,) = json.loads(run_cli("runs", "--json", env=cli_env(ctx)).stdout)
    assert run["metrics"]["items_without_meta"] == 1


def test_bad_input_exits_non_zero_with_one_line(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "ml100k"
    shutil.copytree(fixtures / "ml100k", root)
    (root / "u.user").write_text((root / "u.user").read_text().replace("3|23|", "3|abc|"))
    result = run_cli("ingest", str(root), "-d", "ml", "-f", "movielens-100k", env=cli_env(ctx))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {root / 'u.user'}:3: field 'age' must be an integer, got 'abc'"]
    assert counts(ctx) == {"datasets": 0, "users": 0, "items": 0, "interactions": 0}


def test_database_down_is_one_line() -> None:
    result = run_cli("datasets", env={"DATABASE_URL": "postgresql://colrec@127.0.0.1:1/colrec"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to the database colrec@127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unmigrated_database_says_how_to_fix(empty_database_url: str) -> None:
    result = run_cli("datasets", env={"DATABASE_URL": empty_database_url})
    assert result.returncode == 1 and "colrec-jobs db upgrade" in result.stderr
    first = run_cli("db", "upgrade", env={"DATABASE_URL": empty_database_url})
    second = run_cli("db", "upgrade", env={"DATABASE_URL": empty_database_url})
    assert first.returncode == second.returncode == 0
    from alembic.script import ScriptDirectory

    from colrec_store.migrate import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert first.stdout == second.stdout == f"schema at revision {head}\n"


def test_db_url_works_with_psql(ctx: JobContext) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no psql client on this machine")
    url = run_cli("db", "url", env=cli_env(ctx)).stdout.strip()
    assert url.startswith("postgresql://")
    out = subprocess.run(
        [psql, url, "-tAc", "select count(*) from dataset_stats"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"


def test_demo_with_local_data(ctx: JobContext, fixtures: Path, tiny_model: Path) -> None:
    env = cli_env(ctx, COLREC_LLM_BACKEND="transformers", COLREC_LLM_MODEL=str(tiny_model))
    result = run_cli("demo", "--data", str(fixtures / "ml100k"), env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ml100k" in result.stdout and "refresh as of 1997-11-20: published" in result.stdout
    assert "from latest_recommendations" in result.stdout
    assert "served (serving_recommendations): mf: auto: no prospective evidence yet" in result.stdout
    assert "title" in result.stdout and "held-out" in result.stdout
    assert counts(ctx)["interactions"] == 20
    shown = rows(ctx, "select distinct method from latest_recommendations order by 1")
    assert [r["method"] for r in shown] == ["llm", "mf"]
    again = run_cli("demo", "--data", str(fixtures / "ml100k"), env=env, timeout=300)
    assert again.returncode == 0 and "already published" in again.stdout


def test_demo_offline_says_how(ctx: JobContext) -> None:
    env = cli_env(ctx, COLREC_DEMO_URL="http://127.0.0.1:1/ml-100k.zip")
    result = run_cli("demo", env=env)
    assert result.returncode == 1
    assert "COLREC_DEMO_DATA" in result.stderr and "--data" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ingest_ratings_with_a_catalogue_file(ctx: JobContext, fixtures: Path, tmp_path: Path) -> None:
    folder, env = fixtures / "catalogue", cli_env(ctx)
    args = ["-d", "movies", "-f", "csv", "--map", "user=userId,item=movieId,rating=rating,ts=timestamp",
            "--items", str(folder / "movies.csv"), "--item-map", "id=movieId,title=title,attributes=genres"]  # fmt: skip
    result = run_cli("ingest", str(folder / "ratings.csv"), *args, env=env)
    assert result.returncode == 0, result.stderr
    assert "+5 interactions (5 read), +3 users, +4 items" in result.stdout
    stored = rows(ctx, "select external_id, title, attributes from items order by external_id")
    assert [(r["external_id"], r["title"]) for r in stored][:2] == [("1", "Toy Story (1995)"), ("2", "Jumanji (1995)")]
    assert stored[2]["attributes"] == {"genres": ["Action", "Crime", "Thriller"]}
    # an interaction naming an item the catalogue lacks: the file and line, and nothing written
    bad = tmp_path / "ratings.csv"
    bad.write_text((folder / "ratings.csv").read_text() + "4,99,3.0,1306463600\n")
    result = run_cli("ingest", str(bad), *[a.replace("movies", "other") if a == "movies" else a for a in args],
                     env=env)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}:7: unknown item id '99' (not in the items of this dataset)"
    ]
    assert rows(ctx, "select count(*) as n from datasets") == [{"n": 1}]


def test_the_console_carries_colrec_lines_only(ctx: JobContext, fixtures: Path, tiny_model: Path) -> None:
    import re

    env = cli_env(ctx, COLREC_LOG_LEVEL="INFO", COLREC_LLM_BACKEND="transformers", COLREC_LLM_MODEL=str(tiny_model))
    assert run_cli("ingest", str(fixtures / "amazon2018"), "-d", "a", "-f", "amazon-2018", env=env).returncode == 0
    quiet = run_cli("profile", "-d", "a", "--limit", "1", "--json", env=env, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    own = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING) (jobs|colrec|colrec_store)[\w.]*: ")
    foreign = [line for line in quiet.stderr.splitlines() if line.strip() and not own.match(line)]
    assert foreign == []
    assert json.loads(quiet.stdout)["llm_calls"] == 2  # the model was loaded and ran; stdout is the JSON alone
    # --verbose (DEBUG) lets the libraries speak: the same run, cached now, shows their lines
    loud = run_cli("--verbose", "profile", "-d", "a", "--limit", "1", "--json", env=env, timeout=300)
    assert loud.returncode == 0 and any(not own.match(line) for line in loud.stderr.splitlines() if line.strip())

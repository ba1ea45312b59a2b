"""`ingest --sql`: interactions (and a catalogue) read from another database on the test server (the
team's "application" database), streamed in chunks, with a per-source watermark for nightly deltas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from colrec.errors import ColrecError, InputError
from jobs import ingest
from jobs.common.context import JobContext
from tests.helpers import cli_env, rows, run_cli

MAP = "user=uid,item=iid,rating=stars,ts=happened"
EVENTS = [("u1", "i1", 5, "2024-01-01T10:00:00Z"), ("u1", "i2", 3, "2024-01-02T10:00:00Z"),
          ("u2", "i1", 4, "2024-01-03T10:00:00Z"), ("u2", "i3", 1, "2024-01-04T10:00:00Z"),
          ("u3", "i2", 2, "2024-01-05T10:00:00Z")]  # fmt: skip


@pytest.fixture
def app_url(empty_database_url: str) -> Iterator[str]:
    """The application's own database: an events table and a catalogue table."""
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("create table events (uid text, iid text, stars text, happened timestamptz)"))
        conn.execute(text("create table catalogue (sku text, name text, tags text[])"))
        conn.execute(text("insert into catalogue values ('i1', 'Film one', '{Drama,War}'), "
                          "('i2', 'Film two', '{Comedy}'), ('i3', 'Film three', null)"))  # fmt: skip
    _add(engine, EVENTS)
    engine.dispose()
    yield empty_database_url


def _add(engine_or_url: object, events: list[tuple[str, str, object, str]]) -> None:
    engine = create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for uid, iid, stars, happened in events:
            conn.execute(text("insert into events values (:u, :i, :s, :h)"),
                         {"u": uid, "i": iid, "s": str(stars), "h": happened})  # fmt: skip


def _with_source(ctx: JobContext, url: str) -> JobContext:
    return JobContext(ctx.settings.model_copy(update={"source_url": url}))


def test_since_last_reads_each_night_only_the_new_rows(ctx: JobContext, app_url: str) -> None:
    source = ingest.SqlIngest("select * from events", MAP, since_last=True, chunk_rows=2)  # three chunks
    counts = ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    assert (counts.interactions_seen, counts.interactions_added, counts.users_added) == (5, 5, 3)
    (mark,) = rows(ctx, "select ts_us, query, server from source_watermarks")
    assert mark["ts_us"] == 1704448800 * 1_000_000 and mark["query"] == "select * from events"
    assert "password" not in mark["server"] and "@" in mark["server"]
    _add(app_url, [("u3", "i3", 4, "2024-01-06T09:00:00Z"), ("u4", "i1", 5, "2024-01-07T09:00:00Z")])
    second = ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    assert (second.interactions_seen, second.interactions_added, second.users_added) == (2, 2, 1)
    third = ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    assert (third.interactions_seen, third.interactions_added) == (0, 0)
    assert rows(ctx, "select count(*) as n from interactions") == [{"n": 7}]
    # without --since-last the whole result is read again, and merges to nothing new
    again = ingest.run_sql(_with_source(ctx, app_url), "shop", ingest.SqlIngest("select * from events", MAP))
    assert (again.interactions_seen, again.interactions_added) == (7, 0)


def test_a_bad_row_names_its_position_and_keys_and_moves_nothing(ctx: JobContext, app_url: str) -> None:
    source = ingest.SqlIngest("select * from events order by happened", MAP, since_last=True, chunk_rows=2)
    ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    _add(app_url, [("u5", "i1", 4, "2024-02-01T00:00:00Z"), ("u5", "i2", "lots", "2024-02-02T00:00:00Z")])
    with pytest.raises(InputError) as err:
        ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    assert str(err.value) == "query row 2 (user 'u5', item 'i2'): field 'rating' must be a number, got 'lots'"
    assert rows(ctx, "select count(*) as n from interactions") == [{"n": 5}]
    assert rows(ctx, "select ts_us from source_watermarks") == [{"ts_us": 1704448800 * 1_000_000}]


def test_a_conflict_across_chunks_and_an_unknown_catalogue_item(ctx: JobContext, app_url: str) -> None:
    _add(app_url, [("u1", "i1", 2, "2024-01-01T10:00:00Z")])  # the first event again, another rating
    source = ingest.SqlIngest("select * from events", MAP, chunk_rows=2)
    with pytest.raises(InputError, match=r"^query row 6: the same event as query:1 \(user 'u1', item 'i1'"):
        ingest.run_sql(_with_source(ctx, app_url), "shop", source)
    catalogue = ingest.SqlIngest("select * from events where stars <> '2' or uid <> 'u1'", MAP,
                                 items_query="select * from catalogue where sku <> 'i3'",
                                 item_mapping="id=sku,title=name,attributes=tags")  # fmt: skip
    with pytest.raises(InputError, match=r"^query row 4: unknown item id 'i3' \(not in the items of this dataset\)"):
        ingest.run_sql(_with_source(ctx, app_url), "shop", catalogue)
    assert rows(ctx, "select count(*) as n from items") == [{"n": 0}]


def test_catalogue_query_and_the_cli(ctx: JobContext, app_url: str) -> None:
    env = {**cli_env(ctx), "COLREC_SOURCE_URL": app_url}
    args = ["ingest", "-d", "shop", "--sql", "select * from events", "--map", MAP, "--since-last",
            "--items-sql", "select * from catalogue", "--item-map", "id=sku,title=name,attributes=tags"]  # fmt: skip
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "shop: +5 interactions (5 read), +3 users, +3 items" in result.stdout
    stored = rows(ctx, "select external_id, title, attributes from items order by external_id")
    assert stored[0] == {"external_id": "i1", "title": "Film one", "attributes": {"tags": ["Drama", "War"]}}
    assert stored[2]["attributes"] == {"tags": None}
    assert "+0 interactions (0 read)" in run_cli(*args, env=env).stdout
    (first, *_) = json.loads(run_cli("runs", "--json", env=env).stdout)
    assert first["metrics"]["watermark_us"] == first["metrics"]["watermark_before_us"]
    bad = run_cli("ingest", "-d", "shop", "--sql", "select * from no_such_table", "--map", MAP, env=env)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: --sql 'select * from no_such_table': relation \"no_such_table\" does not exist"
    ]
    down = run_cli("ingest", "-d", "shop", "--sql", "select 1", "--map", MAP,
                   env={**env, "COLREC_SOURCE_URL": "postgresql://nobody@127.0.0.1:1/none"})  # fmt: skip
    assert down.returncode == 1 and down.stderr.startswith("error: cannot connect to the source database none@")


def test_since_last_needs_a_time_column(ctx: JobContext, app_url: str) -> None:
    with pytest.raises(ColrecError, match=r"--since-last needs a time column"):
        ingest.run_sql(_with_source(ctx, app_url), "shop", ingest.SqlIngest("select * from events",
                       "user=uid,item=iid", since_last=True))  # fmt: skip


def test_refresh_pulls_each_nights_delta(ctx: JobContext, empty_database_url: str, tmp_path: Path) -> None:
    import csv
    import datetime as dt

    from jobs import refresh
    from tests.helpers import community_events

    with community_events(tmp_path / "events.csv").open() as f:
        events = [(r["user"], r["item"], r["rating"], dt.datetime.fromtimestamp(int(r["ts"]), dt.UTC).isoformat(),
                   r["title"]) for r in csv.DictReader(f)]  # fmt: skip
    cut = dt.datetime(2021, 1, 1, tzinfo=dt.UTC).isoformat()
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("create table events (uid text, iid text, stars text, happened timestamptz, name text)"))
    insert = text("insert into events values (:u, :i, :s, :h, :n)")
    nights = [[e for e in events if e[3] < cut], [e for e in events if e[3] >= cut]]
    plan = refresh.RefreshPlan(methods=("mf",), epochs=1, steps=("ingest", "split", "train"), since_last=True,
                               source_sql="select * from events", source_map=f"{MAP},title=name")  # fmt: skip
    added = []
    for night, as_of in zip(nights, (dt.date(2021, 1, 2), dt.date(2021, 9, 1)), strict=True):
        with engine.begin() as conn:
            conn.execute(insert, [dict(zip("uishn", e, strict=True)) for e in night])
        result = refresh.run(_with_source(ctx, empty_database_url), "toy", plan, as_of)
        assert result["status"] == "published", result
        added.append(rows(ctx, "select (metrics->>'interactions_seen')::int as n from runs where job = 'ingest' "
                               "order by id desc limit 1")[0]["n"])  # fmt: skip
    engine.dispose()
    assert added == [len(nights[0]), len(nights[1])] and all(added)
    assert rows(ctx, "select count(*) as n from interactions") == [{"n": len(events)}]

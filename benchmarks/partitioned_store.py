"""Publish, query and prune at scale: the partitioned `predictions` (by dataset, then by run) against
the same table unpartitioned (the layout before migration 0007), side by side in one database.

    python -m benchmarks.partitioned_store [--runs 10 --rows-per-run 1000000]

Both tables get the same synthetic rows (generated server-side: `runs` runs of `rows-per-run`
predictions over 100k users x 10 items), with the same keys and foreign keys. Measured on each: the load,
publishing the newest run (a status change on `runs`: the same statement for both), reading one
user's predictions through `latest_predictions` (the view as shipped, and the same view over the
unpartitioned table), and pruning the oldest run (DROP of its partition against DELETE of its rows,
then the table size). Writes benchmarks/results/partitioned_store.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec_store.migrate import sql_file

USERS, ITEMS_PER_USER = 100_000, 10
FLAT = "predictions_flat"


def timed(conn: Connection, sql: str, **params: Any) -> float:
    start = time.perf_counter()
    conn.execute(text(sql), params)
    conn.commit()
    return round(time.perf_counter() - start, 3)


def seed(conn: Connection, runs: int) -> list[int]:
    conn.execute(text("insert into datasets (name) values ('bench')"))
    conn.execute(
        text(f"insert into users (dataset_id, external_id) select 1, g::text from generate_series(1, {USERS}) g")
    )
    conn.execute(
        text(
            f"insert into items (dataset_id, external_id) select 1, g::text from generate_series(1, {ITEMS_PER_USER * 10}) g"
        )
    )
    ids = [conn.execute(text("insert into runs (dataset_id, job, status, as_of, params) values "
                             "(1, 'score', 'staged', date '2026-01-01' + :k, '{\"method\": \"llm\"}') returning id"),
                        {"k": k}).scalar_one() for k in range(runs)]  # fmt: skip
    # The old layout: the same columns, keys and foreign keys, no partitions.
    conn.execute(text(f"create table {FLAT} (like predictions including defaults)"))
    conn.execute(text(f"alter table {FLAT} add primary key (run_id, method, user_id, item_id)"))
    conn.execute(text(f"create index on {FLAT} (dataset_id)"))
    for column, target in (("run_id", "runs"), ("user_id", "users"), ("item_id", "items"), ("dataset_id", "datasets")):
        conn.execute(text(f"alter table {FLAT} add foreign key ({column}) references {target} (id) on delete cascade"))
    view = sql_file("latest_views.sql").split("create or replace view latest_predictions as", 1)[1].split(";", 1)[0]
    conn.execute(text(f"create view latest_predictions_flat as {view.replace('join predictions p', f'join {FLAT} p')}"))
    conn.commit()
    return ids


def rows_of(run: int, per_run: int) -> str:
    return (f"select {run}, 'llm', 1 + g % {USERS}, 1 + (g / {USERS}) + {ITEMS_PER_USER} * ({run} % 10), 1, "
            f"random(), (random() < 0.5)::int, false from generate_series(0, {per_run - 1}) g")  # fmt: skip


def load(conn: Connection, runs: list[int], per_run: int) -> dict[str, float]:
    """Synthetic rows are valid by construction: the load skips the foreign-key checks (both tables
    alike) so that 20M rows load in minutes; the keys stay declared and act on the DELETE."""
    columns = "(run_id, method, user_id, item_id, dataset_id, score, label, failed)"
    conn.execute(text("set session_replication_role = replica"))
    out = {"partitioned": 0.0, "unpartitioned": 0.0}
    for run in runs:
        out["partitioned"] += timed(conn, f"select colrec_run_partition('predictions', 1, {run})")
        out["partitioned"] += timed(conn, f"insert into predictions {columns} {rows_of(run, per_run)}")
        out["unpartitioned"] += timed(conn, f"insert into {FLAT} {columns} {rows_of(run, per_run)}")
        print(f"  run {run}: loaded", flush=True)
    conn.execute(text("set session_replication_role = origin"))
    timed(conn, "analyze")
    return {k: round(v, 1) for k, v in out.items()}


def query(conn: Connection, view: str, repeats: int = 20) -> float:
    sql = f"select item_id, score from {view} where dataset = 'bench' and user_id = :u"
    timed(conn, sql, u="7")  # warm
    start = time.perf_counter()
    for k in range(repeats):
        conn.execute(text(sql), {"u": str(1 + 997 * k % USERS)}).all()
    return round((time.perf_counter() - start) / repeats * 1000, 2)


def size(conn: Connection, table: str) -> int:
    """Bytes on disk, indexes included (a partitioned table's are its partitions')."""
    sql = f"select coalesce(sum(pg_total_relation_size(relid)), 0) from pg_partition_tree('{table}')"
    return int(conn.execute(text(sql)).scalar() or 0) or int(
        conn.execute(text(f"select pg_total_relation_size('{table}')")).scalar()
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows-per-run", type=int, default=1_000_000)
    args = parser.parse_args()
    with scratch_server() as admin:
        engine = fresh_database(admin, "bench_partitions")
        with engine.connect() as conn:
            runs = seed(conn, args.runs)
            print(f"loading {args.runs} x {args.rows_per_run:,} rows into each table", flush=True)
            loaded = load(conn, runs, args.rows_per_run)
            publish = timed(conn, "update runs set status = 'published' where id = :r", r=runs[-1])
            read = {
                "partitioned": query(conn, "latest_predictions"),
                "unpartitioned": query(conn, "latest_predictions_flat"),
            }
            before = {"partitioned": size(conn, "predictions"), "unpartitioned": size(conn, FLAT)}
            prune = {
                "partitioned": timed(conn, "select colrec_drop_run_partitions(1, :r)", r=runs[0]),
                "unpartitioned": timed(conn, f"delete from {FLAT} where run_id = :r", r=runs[0]),
            }
            after = {"partitioned": size(conn, "predictions"), "unpartitioned": size(conn, FLAT)}
            # The DELETE frees no space: a VACUUM marks it reusable (the file keeps its size).
            conn.commit()
            conn.execution_options(isolation_level="AUTOCOMMIT")
            vacuum = timed(conn, f"vacuum {FLAT}")
        engine.dispose()
    total = args.runs * args.rows_per_run
    result = {
        "rows": total, "runs": args.runs, "load_s": loaded, "publish_s": publish, "read_one_user_ms": read,
        "prune_one_run_s": prune, "prune_ratio": round(prune["unpartitioned"] / max(prune["partitioned"], 1e-3), 1),
        "vacuum_after_delete_s": vacuum, "bytes_before_prune": before, "bytes_after_prune": after,
    }  # fmt: skip
    print(result)
    print(f"wrote {write_results('partitioned_store', result)}")


if __name__ == "__main__":
    main()

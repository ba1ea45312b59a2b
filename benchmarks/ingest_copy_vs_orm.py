"""Ingest of MovieLens-100K: colrec's COPY + set-based merge against ORM inserts, in one run.

    python benchmarks/ingest_copy_vs_orm.py [--data ../shared/data/ml-100k] [--orm-rows N]

Each method gets a fresh migrated database on the same server and loads the same parsed rows
(users, items, interactions). Baselines: the ORM adding and flushing one row at a time (the naive
loop), and the ORM adding everything then flushing once (SQLAlchemy batches the INSERTs).
`--orm-rows` caps the interactions the row-by-row baseline loads; its rate is then scaled to the
full count, and the result says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from sqlalchemy.orm import Session

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec.formats import Batch, parse
from colrec_store.models import Dataset, Interaction, Item, User
from colrec_store.repositories.ingest import ingest_batch


def copy_merge(engine, batch: Batch) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        ingest_batch(session, "ml100k", batch)
    return time.perf_counter() - start


def orm(engine, batch: Batch, limit: int | None, flush_each: bool) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    assert batch.users is not None and batch.items is not None
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        dataset = Dataset(name="ml100k")
        session.add(dataset)
        session.flush()
        users = {}
        for row in batch.users.iter_rows(named=True):
            users[row["external_id"]] = user = User(
                dataset_id=dataset.id, external_id=row["external_id"], attributes=json.loads(row["attributes"])
            )
            session.add(user)
            if flush_each:
                session.flush()
        items = {}
        for row in batch.items.iter_rows(named=True):
            items[row["external_id"]] = item = Item(
                dataset_id=dataset.id,
                external_id=row["external_id"],
                title=row["title"],
                attributes=json.loads(row["attributes"]),
            )
            session.add(item)
            if flush_each:
                session.flush()
        session.flush()
        interactions = batch.interactions if limit is None else batch.interactions.head(limit)
        for row in interactions.iter_rows(named=True):
            session.add(
                Interaction(
                    dataset_id=dataset.id, user_id=users[row["user"]].id, item_id=items[row["item"]].id,
                    rating=row["rating"], ts=dt.datetime.fromtimestamp(row["ts_us"] / 1e6, dt.UTC), event_key="",
                )
            )  # fmt: skip
            if flush_each:
                session.flush()
    return time.perf_counter() - start, interactions.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ml-100k"))
    parser.add_argument("--orm-rows", type=int, default=None, help="cap for the row-by-row baseline")
    args = parser.parse_args()
    batch = parse("movielens-100k", [args.data])
    total = batch.interactions.height
    with scratch_server() as admin:
        timings = {}
        engines = {name: fresh_database(admin, f"bench_{name}") for name in ("copy", "orm_rows", "orm_batched")}
        timings["copy_merge_s"] = copy_merge(engines["copy"], batch)
        timings["orm_batched_s"], _ = orm(engines["orm_batched"], batch, None, flush_each=False)
        seconds, loaded = orm(engines["orm_rows"], batch, args.orm_rows, flush_each=True)
        timings["orm_row_by_row_s"] = seconds * total / loaded
        for engine in engines.values():
            engine.dispose()
    result = {
        "dataset": "MovieLens-100K",
        "interactions": total,
        "users": batch.users.height if batch.users is not None else 0,
        "items": batch.items.height if batch.items is not None else 0,
        **{k: round(v, 3) for k, v in timings.items()},
        "orm_row_by_row_rows_loaded": loaded,
        "orm_row_by_row_extrapolated": loaded < total,
        "speedup_vs_orm_row_by_row": round(timings["orm_row_by_row_s"] / timings["copy_merge_s"], 1),
        "speedup_vs_orm_batched": round(timings["orm_batched_s"] / timings["copy_merge_s"], 1),
    }
    path = write_results("ingest_copy_vs_orm", result)
    for key, value in result.items():
        print(f"{key:32s} {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()

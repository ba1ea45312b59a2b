"""pgvector HNSW against exact search: recall@K and speed-up, through colrec's own store code.

    python -m benchmarks.hnsw_recall [--shared ../shared/data] [--synthetic 1000000] [--queries 200]

1. Dataset size: the user and item embeddings of an MF model trained on ml-1m-collm (838 users,
   3,255 items, 64 dims); top-20 neighbours of every entity, HNSW vs exact.
2. Synthetic: N vectors of 64 dims drawn around 1,000 Gaussian centres (clustered like learned
   embeddings); load time (binary COPY), HNSW build time, and top-20 for sampled queries.
Index settings: pgvector defaults (m=16, ef_construction=64); ef_search = max(40, 2K).
Writes benchmarks/results/hnsw_recall.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.cf_quality import frame, index_of
from benchmarks.common import fresh_database, scratch_server, write_results
from colrec.cf.registry import build
from colrec.formats import parse
from colrec.splits import SplitConfig, make_split
from colrec_store.repositories.datasets import ensure_dataset
from colrec_store.repositories.embeddings import Space, ensure_index, nearest, write_embeddings
from jobs.neighbours import recall_against

K = 20


def compare(session: Session, space: Space, ids: list[int] | None) -> dict[str, Any]:
    start = time.perf_counter()
    approximate = nearest(session, space, K, entity_ids=ids)
    hnsw_s = time.perf_counter() - start
    start = time.perf_counter()
    exact = nearest(session, space, K, exact=True, entity_ids=ids)
    exact_s = time.perf_counter() - start
    queries = len({row[0] for row in exact})
    return {
        "queries": queries,
        f"recall@{K}": round(recall_against(approximate, exact), 4),
        "hnsw_ms_per_query": round(1000 * hnsw_s / queries, 3),
        "exact_ms_per_query": round(1000 * exact_s / queries, 3),
        "speedup": round(exact_s / hnsw_s, 1),
    }


def dataset_size(engine, shared: Path) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    rows = frame(parse("collm", [shared / "ml-1m-collm"]))
    split = make_split(rows, SplitConfig("temporal"))
    index = index_of(rows)
    model = build("mf", index.n_users, index.n_items, epochs=10)
    model.fit(index.interactions(split.part("train")), index.interactions(split.part("valid")))
    out = []
    with Session(engine) as session, session.begin():
        dataset = ensure_dataset(session, "bench")
        run = session.execute(
            text("insert into runs (job, dataset_id) values ('bench', :d) returning id"), {"d": dataset}
        ).scalar_one()
        for name, ids, vectors in (
            ("cf_user", index.users, model.user_embeddings()),
            ("cf_item", index.items, model.item_embeddings()),
        ):
            space = Space(run, name, vectors.shape[1])
            write_embeddings(session, dataset, space, ids, vectors)
            session.execute(text("analyze embeddings"))
            out.append({"space": name, "vectors": len(ids), **compare(session, space, None)})
            print(out[-1])
    return out


def synthetic(engine, n: int, n_queries: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 1000, n)] + 0.35 * rng.normal(size=(n, 64)).astype(np.float32)
    ids = np.arange(1, n + 1, dtype=np.int64)
    with Session(engine) as session, session.begin():
        session.execute(text("set local maintenance_work_mem = '3GB'"))
        session.execute(text("set local max_parallel_maintenance_workers = 1"))
        dataset = ensure_dataset(session, "synthetic")
        run = session.execute(
            text("insert into runs (job, dataset_id) values ('bench', :d) returning id"), {"d": dataset}
        ).scalar_one()
        space = Space(run, "synthetic", 64)
        start = time.perf_counter()
        write_embeddings(session, dataset, space, ids, vectors, index=False)
        copy_s = time.perf_counter() - start
        start = time.perf_counter()
        ensure_index(session, space)
        index_s = time.perf_counter() - start
        session.execute(text("analyze embeddings"))
        queries = rng.choice(ids, size=n_queries, replace=False).tolist()
        result = {"vectors": n, "dims": 64, "copy_s": round(copy_s, 1), "hnsw_build_s": round(index_s, 1),
                  **compare(session, space, queries)}  # fmt: skip
    print(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with scratch_server() as admin:
        engine = fresh_database(admin, "bench_hnsw")
        result = {"dataset_size (ml-1m-collm MF)": dataset_size(engine, args.shared),
                  f"synthetic {args.synthetic:,}": synthetic(engine, args.synthetic, args.queries)}  # fmt: skip
        engine.dispose()
    print(f"written to {write_results('hnsw_recall', result)}")


if __name__ == "__main__":
    main()

"""The ray executor against the local one on the same scoring job, side by side in one run.

    COLREC_MODEL_DIR=... python -m benchmarks.ray_executor [--pairs 300 --replicas 2]

ML-100K is ingested into a scratch database; `score --method llm` on a seeded sample of its random-split
test pairs runs first with the local executor (one engine using every core), then, with
the LLM cache emptied, with the ray executor on a local Ray instance (`--replicas` engines of one
CPU each). Both use the transformers back end and the offline default model (COLREC_LLM_MODEL).
Reports both times, their ratio, Ray's start-up apart, and whether the predictions agree row for
row. Writes benchmarks/results/ray_executor.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec_store.config import Settings
from jobs import ingest, score
from jobs.common.context import JobContext
from jobs.llm.ray_executor import connect

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def predictions(ctx: JobContext, run_id: int) -> np.ndarray:
    with ctx.transaction() as session:
        rows = session.execute(
            text("select user_id, item_id, score from predictions where run_id = :r order by user_id, item_id"),
            {"r": run_id},
        ).all()
    return np.array(rows, dtype=np.float64)


def timed_score(ctx: JobContext, pairs: int) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    result = score.run(ctx, "ml100k", "random", limit=pairs)
    return result, round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--data", type=Path, default=SHARED / "ml-100k")
    args = parser.parse_args()
    with scratch_server() as admin:
        engine = fresh_database(admin, "bench_ray")
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        base = Settings(database_url=url, llm_backend="transformers")
        local = JobContext(base)
        ingest.run(local, [args.data], dataset="ml100k", fmt="movielens-100k")
        first, local_s = timed_score(local, args.pairs)
        with local.transaction() as session:
            session.execute(text("delete from llm_cache"))
        on_ray = JobContext(base.model_copy(update={"executor": "ray", "ray_replicas": args.replicas,
                                                    "ray_partition_size": max(1, args.pairs // (4 * args.replicas))}))  # fmt: skip
        start = time.perf_counter()
        connect(on_ray.settings)
        ray_start_s = round(time.perf_counter() - start, 2)
        second, ray_s = timed_score(on_ray, args.pairs)
        a, b = predictions(local, first["run_id"]), predictions(local, second["run_id"])
    same_pairs = a.shape == b.shape and bool(np.array_equal(a[:, :2], b[:, :2]))
    diff = float(np.abs(a[:, 2] - b[:, 2]).max()) if same_pairs else None
    result = {
        "model": base.llm_model, "backend": "transformers", "pairs": first["pairs"], "llm_calls": second["llm_calls"],
        "cpus": os.cpu_count(), "replicas": args.replicas, "partitions": second.get("ray_partitions"),
        "local_s": local_s, "ray_s": ray_s, "ray_start_s": ray_start_s, "ray_over_local": round(ray_s / local_s, 3),
        "same_pairs": same_pairs, "max_abs_score_diff": diff,
        "identical_scores": int((a[:, 2] == b[:, 2]).sum()) if same_pairs else 0,
    }  # fmt: skip
    print(result)
    print(f"wrote {write_results('ray_executor', result)}")


if __name__ == "__main__":
    main()

"""Cost of a nightly refresh where ~1% of users have new interactions, against a full refresh of
the same date, side by side in one run on MovieLens-100K.

    python -m benchmarks.refresh_incremental [--data ../shared/data/ml-100k] [--model tiny|NAME|DIR]

Database A: refresh as of DAY1, then DAY2 (incremental: the rerank step reuses DAY1's LLM rankings
of users with nothing new). Database B: DAY2 from scratch (full). The LLM cache is per database, so
B pays for every prompt. Reports per-step seconds, LLM calls and the ratios. Writes
benchmarks/results/refresh_incremental-<model>.json.

`--model tiny` (the default) runs the LLM steps on a tiny random Llama built on the fly: the LLM
calls are the same as with any model, the seconds are then the pipeline's own cost. A full rerank
of ML-100K with SmolLM2 on a 2-core CPU is hours; multiply the calls by seconds per prompt from
benchmarks/llm_throughput for that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec_store.config import Settings
from jobs import ingest, refresh
from jobs.common.context import JobContext

# 1998-03-02 -> 03-03: 9 users (about 1% of those known by then) have interactions on 03-03 (UTC).
DAY1, DAY2 = dt.date(1998, 3, 2), dt.date(1998, 3, 3)


def _context(admin_url: str, name: str, args: argparse.Namespace, data_dir: Path) -> JobContext:
    engine = fresh_database(admin_url, name)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    settings = Settings(database_url=url, data_dir=data_dir, model_dir=args.model_dir, llm_backend=args.backend,
                        llm_model=args.model)  # fmt: skip
    ctx = JobContext(settings)
    ingest.run(ctx, [args.data], dataset="ml100k", fmt="movielens-100k")
    return ctx


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {"seconds": round(sum(result["timings"].values()), 2), "timings": result["timings"],
            "llm_calls": result["rerank"]["llm_calls"], "reranked_users": result["rerank"]["reranked_users"],
            "warm_start_from": result.get("warm_start_from"), "metrics": result.get("metrics")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ml-100k"))
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    plan = refresh.RefreshPlan(methods=("mf",), epochs=args.epochs, rerank_candidates=args.candidates,
                               steps=("split", "train", "neighbours", "recommend", "rerank", "evaluate"))  # fmt: skip
    label = "tiny" if args.model == "tiny" else Path(args.model).name
    with scratch_server() as admin, tempfile.TemporaryDirectory() as tmp:
        args.model_dir = args.model_dir or Settings().models_path
        if args.model == "tiny":
            from tests.tiny_llm import build_tiny_model

            args.model = str(build_tiny_model(Path(tmp) / "tiny"))
        nightly = _context(admin, "bench_refresh_nightly", args, Path(tmp) / "a")
        first = refresh.run(nightly, "ml100k", plan, DAY1)
        incremental = refresh.run(nightly, "ml100k", plan, DAY2)
        scratch = _context(admin, "bench_refresh_full", args, Path(tmp) / "b")
        full = refresh.run(scratch, "ml100k", plan, DAY2)
    inc, ful = _summary(incremental), _summary(full)
    results = {
        "dataset": "ml100k", "days": [DAY1.isoformat(), DAY2.isoformat()], "backend": args.backend,
        "model": args.model, "candidates": args.candidates, "first_night": _summary(first),
        "incremental": inc, "full": ful,
        "ratio_total_seconds": round(inc["seconds"] / ful["seconds"], 4),
        "ratio_rerank_seconds": round(inc["timings"]["rerank"] / ful["timings"]["rerank"], 4),
        "ratio_llm_calls": round(inc["llm_calls"] / max(ful["llm_calls"], 1), 4),
    }  # fmt: skip
    for key in ("ratio_total_seconds", "ratio_rerank_seconds", "ratio_llm_calls"):
        print(f"{key}: {results[key]}")
    print(f"written to {write_results(f'refresh_incremental-{label}', results)}")


if __name__ == "__main__":
    main()

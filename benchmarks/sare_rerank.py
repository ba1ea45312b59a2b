"""SARE's reranking, float32 against bfloat16 autocast, side by side on the same inputs: what
`retrieve` spends most of its time on (one cross-encoder pass per candidate of every pair).

    python -m benchmarks.sare_rerank [--pairs 100] [--shared ../shared/data]

Inputs shaped as the job makes them from ML-100K: each pair's query is SCORE's P^b (a user's last
10 liked titles and a target title), its 10 candidates are other users' behaviour texts (their
last 10 liked titles with genres). The reranker is the offline default encoder with a new head
(the job fine-tunes it first; speed does not depend on the weights). Reports pairs/s of each
dtype, the ratio, how often the top-2 (the job's Ks) is the same, and the largest score gap.
Writes benchmarks/results/sare_rerank.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.results_io import write_results


def inputs(shared: Path, pairs: int) -> list[tuple[str, list[str]]]:
    import polars as pl

    from benchmarks.cf_quality import frame
    from colrec.formats import parse
    from colrec.llm.prompts import score_basic
    from colrec.retrieval.behaviour import behaviour_text, item_genres, recent_likes

    batch = parse("movielens-100k", [shared / "ml-100k"])
    rows = frame(batch).with_columns((pl.col("rating") >= 4).cast(pl.Int8).alias("label"))
    assert batch.items is not None
    item_ids = [int(e) for e in batch.items["external_id"].to_list()]
    titles = dict(zip(item_ids, batch.items["title"].to_list(), strict=True))
    genres = item_genres(item_ids, batch.items["attributes"].to_list())
    likes = recent_likes(rows, 11)
    users = sorted(u for u, liked in likes.items() if len(liked) == 11)
    texts = {u: behaviour_text(likes[u][:10], titles, genres) for u in users}
    out = []
    for n, user in enumerate(users[:pairs]):
        *liked, target = likes[user]
        query = score_basic([titles[i] for i in liked], titles[target])[-1]["content"]
        others = [users[(n + 1 + k * 7) % len(users)] for k in range(10)]
        out.append((query, [texts[o] for o in others]))
    return out


def measure(pairs: list[tuple[str, list[str]]]) -> dict[str, Any]:
    import numpy as np
    import torch

    from colrec.llm.catalog import encoder_path
    from colrec.retrieval import sare
    from colrec_store.config import Settings

    settings = Settings()
    base = encoder_path(settings.models_path, settings.reranker_model)
    reranker = sare.load_reranker(base, sare.SareConfig().max_length)
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "candidates_per_pair": len(pairs[0][1]),
        "threads": torch.get_num_threads(),
    }
    scores: dict[str, list[np.ndarray]] = {}
    for dtype in ("float32", "bfloat16"):
        with sare.inference_dtype(dtype):
            sare.rerank_scores(reranker, *pairs[0])  # warm
            start = time.perf_counter()
            scores[dtype] = [sare.rerank_scores(reranker, q, c) for q, c in pairs]
            seconds = time.perf_counter() - start
        result[dtype] = {"seconds": round(seconds, 2), "pairs_per_s": round(len(pairs) / seconds, 2)}
        print(dtype, result[dtype], flush=True)
    top = [set(np.argsort(-a)[:2]) == set(np.argsort(-b)[:2]) for a, b in zip(*scores.values(), strict=True)]
    result["bf16_speedup"] = round(result["float32"]["seconds"] / result["bfloat16"]["seconds"], 2)
    result["same_top2_share"] = round(sum(top) / len(top), 3)
    result["max_score_gap"] = float(max(np.abs(a - b).max() for a, b in zip(*scores.values(), strict=True)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    result = measure(inputs(args.shared, args.pairs))
    print(result)
    print(f"wrote {write_results('sare_rerank', result)}")


if __name__ == "__main__":
    main()

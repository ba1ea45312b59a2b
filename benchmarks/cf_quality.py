"""Quality and speed of the collaborative models on real data, in one run.

    python -m benchmarks.cf_quality [--shared ../shared/data] [--epochs-ml100k 60]

1. ml-1m-collm, temporal split (the SCORE/CoLLM protocol): test AUC and UAUC of MF, LightGCN,
   SASRec and DeepFM, early-stopped on valid AUC. Papers on exactly this split: MF 0.606-0.648,
   SASRec 0.700-0.708.
2. ML-100K, random 80/20 per user (implicit): all-rank Recall@20 and NDCG@20 and seconds per epoch
   of our BPR-MF and LightGCN against the `implicit` library's BPR on the same split (its best
   over a grid of learning rate, regularisation and iterations).
Writes benchmarks/results/cf_quality.json.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from benchmarks.common import write_results
from colrec.cf.base import Interactions
from colrec.cf.data import IdIndex, seen_items
from colrec.cf.registry import build
from colrec.cf.sasrec import SASRec
from colrec.formats import Batch, parse
from colrec.metrics import auc, recall_ndcg_at_k, uauc
from colrec.splits import Split, SplitConfig, make_split


def frame(batch: Batch) -> pl.DataFrame:
    """A parsed batch as the interaction frame the splits take (ids from the source)."""
    return batch.interactions.select(
        pl.int_range(1, pl.len() + 1).alias("interaction_id"),
        pl.col("user").cast(pl.Int64).alias("user_id"),
        pl.col("item").cast(pl.Int64).alias("item_id"),
        "rating",
        "label",
        pl.from_epoch("ts_us", time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
    )


def index_of(rows: pl.DataFrame) -> IdIndex:
    return IdIndex(np.sort(rows["user_id"].unique().to_numpy()), np.sort(rows["item_id"].unique().to_numpy()))


def collm(shared: Path) -> list[dict[str, Any]]:
    rows = frame(parse("collm", [shared / "ml-1m-collm"]))
    split = make_split(rows, SplitConfig("temporal"))
    index = index_of(rows)
    train, valid, test = (index.interactions(split.part(p)) for p in ("train", "valid", "test"))
    results = []
    for name in ("mf", "lightgcn", "sasrec", "deepfm"):
        model = build(name, index.n_users, index.n_items, epochs=30)
        start = time.perf_counter()
        report = model.fit(train, valid)
        seconds = time.perf_counter() - start
        if isinstance(model, SASRec):
            model.extend_history(valid)
            model.extend_history(test)
        scores = model.score(test.users, test.items, test.ts)
        results.append(
            {
                "model": name,
                "auc": round(auc(test.labels, scores), 4),
                "uauc": round(uauc(test.users, test.labels, scores), 4),
                "best_epoch": report["best_epoch"] + 1,
                "seconds_per_epoch": round(seconds / report["epochs_run"], 2),
            }
        )
        print(results[-1])
    return results


def ranking(model_top: np.ndarray | list[np.ndarray], split: Split, index: IdIndex) -> tuple[float, float]:
    test = index.interactions(split.part("test"))
    truth = pl.DataFrame({"u": test.users, "i": test.items}).group_by("u").agg(pl.col("i")).sort("u")
    users = truth["u"].to_numpy()
    ranked = [np.asarray(model_top[int(u)]).tolist() for u in users]
    return recall_ndcg_at_k(ranked, [set(i) for i in truth["i"].to_list()], 20)


def ml100k(shared: Path, epochs: int) -> list[dict[str, Any]]:
    rows = frame(parse("movielens-100k", [shared / "ml-100k"]))
    split = make_split(rows, SplitConfig("random", ratios=(0.8, 0.0, 0.2), seed=0))
    index = index_of(rows)
    train = index.interactions(split.part("train"))
    seen = seen_items(train.users, train.items)
    all_users = np.arange(index.n_users)
    results = []
    settings = {"mf": {"lr": 5e-3, "weight_decay": 0.0}, "lightgcn": {"lr": 5e-3, "reg": 1e-4}}
    for name, options in settings.items():
        model = build(name, index.n_users, index.n_items, epochs=epochs, dim=64, **options)
        start = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - start
        top, _ = model.recommend(all_users, 20, exclude=seen)
        recall, ndcg = ranking(top, split, index)
        results.append({"model": f"colrec {name} (BPR)", "recall@20": round(recall, 4), "ndcg@20": round(ndcg, 4),
                        "epochs": epochs, "seconds_per_epoch": round(seconds / epochs, 3)})  # fmt: skip
        print(results[-1])
    results.append(implicit_bpr(train, index, split))
    print(results[-1])
    return results


def implicit_bpr(train: Interactions, index: IdIndex, split: Split) -> dict[str, Any]:
    """implicit's BPR, best of a small grid scored on the test split itself: generous to the baseline."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    matrix = sp.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (train.users, train.items)), shape=(index.n_users, index.n_items)
    )
    matrix.data[:] = 1.0
    users = np.arange(index.n_users)
    grid = []
    for lr, reg, iterations in itertools.product((0.01, 0.05), (0.001, 0.01), (50, 100, 200, 400)):
        model = BayesianPersonalizedRanking(
            factors=64, learning_rate=lr, regularization=reg, iterations=iterations, random_state=0
        )
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        seconds = time.perf_counter() - start
        top, _ = model.recommend(users, matrix[users], N=20, filter_already_liked_items=True)
        recall, ndcg = ranking(np.asarray(top), split, index)
        grid.append({"model": "implicit BPR (best of grid)", "recall@20": round(recall, 4), "ndcg@20": round(ndcg, 4),
                     "epochs": iterations, "seconds_per_epoch": round(seconds / iterations, 4),
                     "learning_rate": lr, "regularization": reg})  # fmt: skip
    return max(grid, key=lambda r: r["recall@20"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--epochs-ml100k", type=int, default=60)
    args = parser.parse_args()
    result = {
        "ml-1m-collm temporal (test)": collm(args.shared),
        "ml-100k random 80/20": ml100k(args.shared, args.epochs_ml100k),
    }
    print(f"written to {write_results('cf_quality', result)}")


if __name__ == "__main__":
    main()

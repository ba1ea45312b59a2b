"""CoRAL on long-tail pairs, side by side in one run: DeepFM, the LLM with no evidence, with
randomly retrieved evidence, and with the trained retrieval policy's evidence.

    python -m benchmarks.coral_longtail [--dataset gift|ml100k] [--steps 480] [--envs 8] [--limit N]
        [--retrieval pairs|entities] [--backend transformers]

On `amazon-Gift_Cards` (a CoRAL dataset; ML-100K as well, whose labels are balanced) with the long-tail split (5-core, bottom 80% of items by
popularity; labels rating > 3): DeepFM trains on the split's training part (every head row and 70%
of the tail), the policy trains on the long-tail training pairs with the configured LLM (SmolLM2
offline) as the judge, and every method scores the same valid + test pairs. AUC and UAUC are on the
test pairs; F1 uses the threshold that maximises F1 on the valid pairs. Also reported: LLM calls
per pair (scoring and policy training) and the policy's early/late episode returns.
Writes benchmarks/results/coral_longtail-<dataset>-<retrieval>.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec import metrics
from colrec.cf import registry
from colrec.coral.policy import PolicyConfig
from colrec_store.config import Settings
from colrec_store.repositories.models import latest_model
from colrec_store.repositories.outputs import read_predictions
from jobs import coral, ingest, score, train
from jobs.common.context import JobContext
from jobs.common.windows import load_window

DATASETS = {
    "gift": (Path("../shared/data/amazon-Gift_Cards"), "amazon-2018"),
    "ml100k": (Path("../shared/data/ml-100k"), "movielens-100k"),
}
METHODS = ("coral-none", "coral-random", "coral")


def pair_metrics(frame: pl.DataFrame) -> dict[str, Any]:
    """frame: user_id, label, score, part (valid/test)."""
    test, valid = frame.filter(pl.col("part") == "test"), frame.filter(pl.col("part") == "valid")
    labels, scores = test["label"].to_numpy(), test["score"].to_numpy()
    threshold = metrics.best_threshold(valid["label"].to_numpy(), valid["score"].to_numpy())
    return {"auc": round(metrics.auc(labels, scores), 4),
            "uauc": round(metrics.uauc(test["user_id"].to_numpy(), labels, scores), 4),
            "f1": round(metrics.f1_at(labels, scores, threshold), 4), "test_pairs": test.height,
            "test_positives": int(labels.sum())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="gift")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--retrieval", default="pairs", help="pairs or entities (see colrec.coral.env).")
    parser.add_argument("--steps", type=int, default=480, help="Policy training steps over all parallel episodes.")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="Score a seeded sample of valid+test pairs.")
    parser.add_argument("--backend", default=None, help="LLM back end (default: settings).")
    parser.add_argument("--epochs", type=int, default=20, help="DeepFM epochs (early stopping on valid AUC).")
    args = parser.parse_args()
    with scratch_server() as admin, tempfile.TemporaryDirectory() as tmp:
        engine = fresh_database(admin, "bench_coral")
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        update: dict[str, Any] = {"database_url": url, "data_dir": Path(tmp), "model_dir": Settings().models_path}
        if args.backend:
            update["llm_backend"] = args.backend
        ctx = JobContext(Settings(**update))
        data, fmt = DATASETS[args.dataset]
        ingest.run(ctx, [args.data or data], dataset=args.dataset, fmt=fmt)
        trained = train.run(ctx, args.dataset, "deepfm", "long-tail", epochs=args.epochs)
        config = PolicyConfig(total_steps=args.steps, n_envs=args.envs)
        start = time.perf_counter()
        policy = coral.train(ctx, args.dataset, config=config, retrieval=args.retrieval)
        policy["seconds"] = round(time.perf_counter() - start, 1)
        rows: dict[str, dict[str, Any]] = {}
        scored_pairs = None
        for method in METHODS:
            start = time.perf_counter()
            done = score.run(ctx, args.dataset, "long-tail", method=method, parts=("valid", "test"), limit=args.limit)
            with ctx.transaction() as session:
                scored_pairs = read_predictions(session, done["run_id"], method)
            rows[method] = {"seconds": round(time.perf_counter() - start, 1), "llm_calls": done.get("llm_calls", 0),
                            "prompts_per_pair": 1, "frame": scored_pairs}  # fmt: skip
        window = load_window(ctx, args.dataset, "long-tail")
        parts = window.split.rows.select("user_id", "item_id", "part", "label").unique(
            ["user_id", "item_id"], keep="last"
        )
        with ctx.transaction() as session:
            artifact, _ = latest_model(session, window.dataset_id, "deepfm", "long-tail")
        model = registry.load(Path(artifact.path or ""))
        assert scored_pairs is not None
        users = np.searchsorted(window.index.users, scored_pairs["user_id"].to_numpy())
        items = np.searchsorted(window.index.items, scored_pairs["item_id"].to_numpy())
        deepfm = scored_pairs.with_columns(pl.Series("score", model.score(users, items)))
        table = [{"method": "deepfm", **pair_metrics(deepfm.join(parts, on=["user_id", "item_id"]))}]
        for method, row in rows.items():
            frame = row.pop("frame").join(parts, on=["user_id", "item_id"])
            table.append({"method": method, **pair_metrics(frame), **row})
    for row in table:
        print(row)
    payload = {"dataset": args.dataset, "limit": args.limit, "retrieval": args.retrieval, "split": "long-tail", "llm": ctx.settings.llm_model,
               "backend": ctx.settings.llm_backend, "deepfm_run": trained.get("run_id"), "policy": policy,
               "table": table}  # fmt: skip
    print(write_results(f"coral_longtail-{args.dataset}-{args.retrieval}", payload))


if __name__ == "__main__":
    main()

"""RecLM's profile fusion, base against augmented, full-shot and zero-shot, side by side in one run.

    python -m benchmarks.profile_fusion --dataset ml100k [--profiles 200] [--models mf,lightgcn]
    python -m benchmarks.profile_fusion --dataset gift --profiles 0
    python -m benchmarks.profile_fusion --dataset ml100k --profiles 2000 --keep /tmp/fusion-store

For each split (random = full-shot; zero-shot = 20% of items held out of training entirely, ranked
among themselves) and each model: Recall@20/NDCG@20 over all (held-out) items and the median
seconds per epoch of
- `none`: IDs only (zero-shot items have nothing but an untrained ID embedding),
- `text`: item text embeddings fused (RecLM's Base),
- `profiles` and `text+profiles`: LLM profile embeddings fused (RecLM's Augment), when --profiles
  is above 0: the profile job (the configured LLM, SmolLM2 offline) profiles at most that many
  users and that many items, from the split's training part only.
Writes benchmarks/results/profile_fusion-<dataset>[-profiles][-<split>].json; the split is named only
when one alone was run, so a one-split run does not overwrite a run of both.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, scratch_server, write_results
from colrec_store.config import Settings
from jobs import ingest, profile, train
from jobs.common.context import JobContext

DATASETS = {
    "ml100k": (Path("../shared/data/ml-100k"), "movielens-100k"),
    "gift": (Path("../shared/data/amazon-Gift_Cards"), "amazon-2018"),
}
SPLITS = "random,zero-shot"
KEYS = ("recall@20", "ndcg@20", "seconds_per_epoch", "epochs_run", "ranked_users")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ml100k")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--models", default="mf,lightgcn")
    parser.add_argument("--profiles", type=int, default=0, help="Profile at most this many users and items (0: none).")
    parser.add_argument("--splits", default=SPLITS)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--backend", default=None, help="LLM back end of the profile job (default: settings).")
    parser.add_argument("--keep", type=Path, default=None,
                        help="Keep the store under this folder; a rerun reuses it and its LLM cache.")  # fmt: skip
    args = parser.parse_args()
    data, fmt = DATASETS[args.dataset]
    sides = ["none", "text"] + (["profiles", "text+profiles"] if args.profiles else [])
    rows: list[dict[str, Any]] = []
    profiled: dict[str, Any] = {}
    with scratch_server(args.keep) as admin, tempfile.TemporaryDirectory() as tmp:
        engine = fresh_database(admin, f"bench_fusion_{args.dataset}", reuse=args.keep is not None)
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        update = {"database_url": url, "data_dir": Path(tmp), "model_dir": Settings().models_path}
        if args.backend:
            update["llm_backend"] = args.backend
        ctx = JobContext(Settings(**update))  # type: ignore[arg-type]
        ingest.run(ctx, [args.data or data], dataset=args.dataset, fmt=fmt)
        for split in args.splits.split(","):
            if args.profiles:
                start = time.perf_counter()
                made = profile.run(ctx, args.dataset, limit=args.profiles, split=split)
                profiled[split] = {k: made.get(k) for k in ("users", "items", "failed", "cold_items", "llm_calls")}
                profiled[split]["seconds"] = round(time.perf_counter() - start, 1)
            for model in args.models.split(","):
                for side in sides:
                    result = train.run(ctx, args.dataset, model, split, side=side, epochs=args.epochs)
                    row = {"split": split, "model": model, "side": side, **{k: result.get(k) for k in KEYS}}
                    print(row)
                    rows.append(row)
    _overheads(rows)
    out = {"dataset": args.dataset, "profiles_limit": args.profiles, "splits": args.splits, "profile_runs": profiled,
           "rows": rows, "llm_model": Settings().llm_model, "text_encoder": Settings().text_encoder}  # fmt: skip
    name = f"profile_fusion-{args.dataset}" + ("-profiles" if args.profiles else "")
    name += "" if args.splits == SPLITS else "-" + args.splits.replace(",", "-")
    print(f"written to {write_results(name, out)}")


def _overheads(rows: list[dict[str, Any]]) -> None:
    """Seconds per epoch with a side path over the same model and split without it."""
    base = {(r["split"], r["model"]): r["seconds_per_epoch"] for r in rows if r["side"] == "none"}
    for r in rows:
        reference = base.get((r["split"], r["model"]))
        if reference and r["seconds_per_epoch"]:
            r["epoch_time_ratio"] = round(r["seconds_per_epoch"] / reference, 3)


if __name__ == "__main__":
    main()

"""What the profile path costs per training epoch (RecLM reports +2-25%), side by side in one run.

    python -m benchmarks.side_overhead [--data ../shared/data/ml-100k] [--epochs 3] [--rounds 3]

ML-100K, all interactions, MF (BPR) and LightGCN at their defaults. Side vectors are real: each
item's text (`jobs.common.side.item_text`) through the configured sentence encoder, and for users the mean
of their items' vectors (the shape of a profile embedding; the timing does not depend on what the
vectors say). For each model, seconds per epoch of
- `none`: IDs only;
- `items`: a 384-d item path (text, or profiles alone);
- `users+items`: a user path and a 384-d item path (profiles);
- `users+items-768`: a user path and a 768-d item path (text+profiles side by side);
each under the current side path and, for MF, under `before`: the path as it was before the MLP ran
once per distinct entity and BPR scored positive and negative in one pass (rebuilt here, as the
baseline). Configurations alternate round by round, so drift on a shared machine hits them alike.
Writes benchmarks/results/side_overhead.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.results_io import write_results
from colrec.cf.base import Interactions
from colrec.cf.registry import build
from colrec.cf.side import SideFeatures, SidePath
from colrec.formats.registry import parse
from colrec.llm.catalog import encoder_path
from colrec.llm.encoder import TextEncoder
from colrec_store.config import Settings
from jobs.common.side import item_text

SIDES = ("none", "items", "users+items", "users+items-768")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ml-100k"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="mf,lightgcn")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, items, users = _load(args.data)
    cases = [(m, s, "current") for m in args.models.split(",") for s in SIDES]
    cases += [("mf", s, "before") for s in SIDES[1:] if "mf" in args.models]
    times: dict[tuple[str, str, str], list[float]] = {c: [] for c in cases}
    for round_no in range(args.rounds):
        for case in cases:
            times[case] += _epoch_seconds(case, train, items, users, args.epochs)
            print(round_no, case, round(statistics.median(times[case]), 4))
    rows = _rows(times)
    for row in rows:
        print(row)
    out = {"data": str(args.data), "interactions": len(train), "epochs_per_round": args.epochs,
           "rounds": args.rounds, "rows": rows}  # fmt: skip
    print(f"written to {write_results('side_overhead', out)}")


def _load(data: Path) -> tuple[Interactions, np.ndarray, np.ndarray]:
    batch = parse("movielens-100k", [data])
    frame = batch.interactions
    user_ids, users = np.unique(frame["user"].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(frame["item"].to_numpy(), return_inverse=True)
    train = Interactions(users, items, np.ones(len(users), np.float32), np.arange(len(users)))
    assert batch.items is not None
    catalogue = {r["external_id"]: r for r in batch.items.iter_rows(named=True)}
    texts = [item_text(catalogue[i]["title"] or "", catalogue[i]["attributes"], "") for i in item_ids]
    settings = Settings()
    item_vectors = TextEncoder(encoder_path(settings.models_path, settings.text_encoder)).encode(texts)
    user_vectors = np.zeros((user_ids.size, item_vectors.shape[1]), np.float32)
    np.add.at(user_vectors, users, item_vectors[items])
    user_vectors /= np.linalg.norm(user_vectors, axis=1, keepdims=True)
    return train, item_vectors, user_vectors


def _epoch_seconds(case: tuple[str, str, str], train: Interactions, items: np.ndarray, users: np.ndarray,
                   epochs: int) -> list[float]:  # fmt: skip
    name, side, path = case
    model = build(name, int(train.users.max()) + 1, int(train.items.max()) + 1, epochs=epochs, patience=0)
    if side != "none":
        wide = np.hstack([items, items]) if side.endswith("768") else items
        model.set_side_features(SideFeatures(users if side.startswith("users") else None, wide))
    if path == "before":
        _as_before(model.module)  # type: ignore[attr-defined]
    stamps = [time.perf_counter()]
    model.fit(train, on_epoch=lambda *_: stamps.append(time.perf_counter()))
    return [float(s) for s in np.diff(stamps)]


def _as_before(module: Any) -> None:
    """The baseline: the side MLP over every row of the batch, and BPR as two forward passes."""

    def per_row(self: SidePath, ids: torch.Tensor, id_vectors: torch.Tensor) -> torch.Tensor:
        return self._fuse(id_vectors, self.mlp(self.features[ids]), self.has_id[ids], self.has_side[ids])

    for path in (module.side.users, module.side.items):
        if path is not None:
            path.forward = types.MethodType(per_row, path)
    module.bpr_margin = lambda u, pos, neg: module(u, pos) - module(u, neg)


def _rows(times: dict[tuple[str, str, str], list[float]]) -> list[dict[str, Any]]:
    rows = []
    for (name, side, path), seconds in times.items():
        base = float(statistics.median(times[(name, "none", "current")]))
        median = float(statistics.median(seconds))
        rows.append({"model": name, "side": side, "path": path, "seconds_per_epoch": round(median, 4),
                     "vs_ids_only": round(median / base, 3)})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()

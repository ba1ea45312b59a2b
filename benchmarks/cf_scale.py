"""How big a window one machine trains: MF (BPR, dim 64, batch 1024) on synthetic interaction
windows of growing size, each size in a fresh process.

    python -m benchmarks.cf_scale [--sizes 20000:1000000 100000:5000000 200000:10000000] [--steps 60]

For each users:interactions size (5,000 items... 50,000 items, 50 interactions per user on average)
the process holds the whole window (the arrays the train job builds) and the model, then times
`--steps` optimizer steps on it, with dense Adam (the default) and with sparse updates
(`train --sparse`: SparseAdam on the rows a batch touches); an epoch is interactions / 1024 steps. Reports seconds per step,
the projected epoch, and the process's peak memory. Writes benchmarks/results/cf_scale.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from typing import Any

import numpy as np


def measure(users: int, interactions: int, steps: int, sparse: bool, queue: Any) -> None:
    import torch

    from colrec.cf.base import Interactions
    from colrec.cf.mf import MF, MFConfig

    torch.set_num_threads(2)
    items = max(5_000, users // 4)
    rng = np.random.default_rng(0)
    window = Interactions(rng.integers(0, users, interactions), rng.zipf(1.3, interactions) % items,
                          np.ones(interactions, np.float32), np.arange(interactions))  # fmt: skip
    batch = 1024
    sample = Interactions(window.users[: steps * batch], window.items[: steps * batch],
                          window.labels[: steps * batch], window.ts[: steps * batch])  # fmt: skip
    model = MF(MFConfig(dim=64, epochs=1, batch_size=batch, patience=0, sparse=sparse), users, items)
    start = time.perf_counter()
    model.fit(sample)
    per_step = (time.perf_counter() - start) / steps
    queue.put({"sparse": sparse, "users": users, "items": items, "interactions": interactions, "seconds_per_step": round(per_step, 4),
               "epoch_s": round(per_step * interactions / batch, 1),
               "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)})  # fmt: skip


def main() -> None:
    from benchmarks.results_io import write_results

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["20000:1000000", "100000:5000000", "200000:10000000"])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for size in args.sizes:
        users, interactions = (int(x) for x in size.split(":"))
        for sparse in (False, True):
            queue = context.Queue()
            process = context.Process(target=measure, args=(users, interactions, args.steps, sparse, queue))
            process.start()
            rows.append(queue.get())
            process.join()
            print(rows[-1], flush=True)
    print(f"wrote {write_results('cf_scale', {'model': 'mf', 'dim': 64, 'batch': 1024, 'sizes': rows})}")


if __name__ == "__main__":
    main()

"""The `yesno` recipe's packed training step with the LM head at the answer positions only
(`packed.answer_loss`, the default) against the head over every position (transformers' own loss),
side by side on the same packed rows of ml-1m-collm's temporal train part.

    python -m benchmarks.yesno_head --model DIR [--steps 6] [--rounds 2] [--pairs 240]

Both variants run the recipe as the job does on this machine (full fine-tune of a model below 1B
parameters, bf16 autocast where the CPU computes it), the same seed and the same rows, `--steps`
optimiser steps each, alternated A, B, A, B for `--rounds` so that a busy machine slows both alike.
Reports seconds a step (the trainer's own train time, without loading and saving), the ratio, and
each round's first and last loss (the same loss: they must agree to bf16's precision). Writes
benchmarks/results/yesno_head.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.results_io import write_results


def sample(shared: Path, pairs: int) -> list[tuple[list[dict[str, str]], int]]:
    """The first `pairs` train pairs in user then time order (users' pairs share prefixes, as in the job)."""
    from benchmarks.yesno_training import train_examples

    examples, _ = train_examples(shared)
    return examples[:pairs]


def measure(model: Path, examples: list[tuple[list[dict[str, str]], int]], steps: int, rounds: int) -> dict[str, Any]:
    from colrec.finetune.yesno import YesNoConfig, resolved, train_yesno

    base = resolved(YesNoConfig(tuning=None, bf16=None, lr=None, max_steps=steps, save_steps=10**6), model)
    variants = {"head at every position": False, "head at the answers only": True}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, answers_only in variants.items():
            config = dataclasses.replace(base, answer_logits=answers_only)
            with tempfile.TemporaryDirectory() as folder:
                out = train_yesno(model, examples, config, Path(folder) / "model", Path(folder) / "ckpt")
            runs[name].append({"seconds_a_step": round(out["train_seconds"] / out["steps"], 2),
                               "loss_first": out["loss_first"], "loss_last": out["loss_last"],
                               "tokens_per_epoch": out["tokens_per_epoch"], "rows_per_step": out["rows_per_step"]})  # fmt: skip
            print(name, runs[name][-1], flush=True)
    median = {name: statistics.median(r["seconds_a_step"] for r in found) for name, found in runs.items()}
    every, answers = median.values()
    return {"config": {"tuning": base.tuning, "bf16": base.bf16, "lr": base.lr, "row_tokens": base.row_tokens,
                       "batch_size": base.batch_size, "steps": steps, "rounds": rounds, "pairs": len(examples)},
            "runs": runs, "median_seconds_a_step": median, "speedup": round(every / answers, 2)}  # fmt: skip


def cpu() -> str:
    found = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    name = next((line.split(":", 1)[1].strip() for line in found.splitlines() if line.startswith("Model name")), "")
    flags = next((line for line in found.splitlines() if line.startswith("Flags")), "")
    return name + ("; AMX" if "amx_bf16" in flags else "") + ("; AVX512-BF16" if "avx512_bf16" in flags else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A prepared model folder (models prepare).")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=240)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = {"cpu": cpu(), **measure(args.model, sample(args.shared, args.pairs), args.steps, args.rounds)}
    print("speed-up of the answer-only head:", result["speedup"])
    print(f"wrote {write_results('yesno_head', result)}")


if __name__ == "__main__":
    main()

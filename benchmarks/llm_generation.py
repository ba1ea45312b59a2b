"""Generation speed of the LLM back ends on the real profile and rationale prompts of ML-100K, side
by side, with the share of the machine's limits each reaches.

    # 1. the prompts: 200 user profiles, 200 item profiles (quoting user profiles this makes
    #    first), 200 TWiCE rationales, rendered as the jobs render them
    python -m benchmarks.llm_generation prompts --model DIR --out .bench-cache/generation-prompts.jsonl
    # 2. every variant on the same prompts (fp32 variants and the baseline, transformers' own
    #    `generate` as colrec used it before, on the first --fp32-limit prompts of each kind)
    python -m benchmarks.llm_generation run --model DIR --prompts .bench-cache/generation-prompts.jsonl --tag cpu
    # the baseline side by side on identical prompts (40 of each kind): ours against `generate`
    python -m benchmarks.llm_generation run --model DIR --variants stock-bf16,transformers-bf16 --limit-all \
        --tag cpu-baseline
    # what a plain dense prefill forward of the model reaches, beside the limits (the ceiling of
    # any variant built on the same kernels)
    python -m benchmarks.llm_generation ceiling --model DIR --tag cpu
    # 3. record the seconds of a whole `colrec-jobs profile` run over all of ML-100K
    python -m benchmarks.llm_generation record-profile-all --tag cpu --seconds S --run-json FILE

The machine's limits are measured in the same run: the best bf16 (or fp32) matrix product rate on
square and on the model's own shapes (FLOP/s), and the rate of summing a 1 GB tensor (bytes/s).
A variant's work is counted from its tokens: 2 x parameters FLOPs per token (the output head only
where a next token is read) plus attention, and the bytes a decode step cannot avoid reading (the
weights once per step for the batch, and every cached key and value of every row). The share of
limit is the larger of (FLOPs / peak) and (bytes / bandwidth) over the variant's seconds: 1.0 would
be a machine doing nothing but that work at its measured best; the larger term is the binding limit.
Writes benchmarks/results/llm_generation-TAG.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from benchmarks.results_io import RESULTS, write_results

KINDS = ("user", "item", "rationale")


# --- prompts ---------------------------------------------------------------------------------
def make_prompts(model: Path, out: Path, n: int, shared: Path) -> None:
    import numpy as np
    import polars as pl

    from benchmarks.cf_quality import frame
    from colrec.formats import parse
    from colrec.llm.hf_backend import TransformersEngine
    from colrec.llm.parsing import ParseError, profile_text
    from colrec.llm.prompts import ItemText, reclm_item_profile, twice_rationale
    from jobs.profile import PROFILE, Catalogue, user_messages, users_of_items
    from jobs.rationale import EXAMPLES

    batch = parse("movielens-100k", [shared / "ml-100k"])
    rows = frame(batch).sort("ts", "interaction_id")
    items = {int(i): ItemText(t or "") for i, t in zip(batch.items["external_id"], batch.items["title"], strict=True)}
    users = sorted(set(rows["user_id"].to_list()))
    data = Catalogue(0, rows, items, {u: str(u) for u in users}, _neighbours(rows, users, 3))
    engine = TransformersEngine(model, dtype="bfloat16")
    chosen = users[:: max(1, len(users) // n)][:n]
    user_prompts = [engine.render(m) for m in user_messages(data, chosen, 10)]
    print(f"making the {len(chosen)} user profiles the item prompts quote ...", flush=True)
    texts = {}
    for u, raw in zip(chosen, engine.generate(user_prompts, PROFILE), strict=True):
        try:
            texts[u] = profile_text(raw)
        except ParseError:
            continue
    by_item = {i: p for i, p in users_of_items(data, texts).items() if p}
    warm = sorted(by_item)[:: max(1, len(by_item) // n)][:n]
    item_prompts = [engine.render(reclm_item_profile(items[i], by_item[i])) for i in warm]
    sequences = rows.group_by("user_id", maintain_order=True).agg(pl.col("item_id")).sort("user_id")
    seqs = [list(s) for s in sequences["item_id"] if len(s) >= 3]
    picked = [seqs[int(k)] for k in np.linspace(0, len(seqs) - 1, n)]
    rationale_prompts = [
        engine.render(twice_rationale([items[i].title for i in s[:-1][-10:]], items[s[-1]], EXAMPLES)) for s in picked
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for kind, prompts in zip(KINDS, (user_prompts, item_prompts, rationale_prompts), strict=True):
            f.writelines(json.dumps({"kind": kind, "prompt": p}) + "\n" for p in prompts)
    print(f"wrote {out}: {len(user_prompts)} user, {len(item_prompts)} item, {len(rationale_prompts)} rationale")


def _neighbours(rows: Any, users: list[int], k: int) -> dict[int, list[int]]:
    """Each user's k most similar users by cosine of their item sets: a stand-in for the CF
    neighbours run the refresh makes before profiling (same shape of prompt)."""
    import numpy as np

    items = sorted(set(rows["item_id"].to_list()))
    u_index, i_index = {u: n for n, u in enumerate(users)}, {i: n for n, i in enumerate(items)}
    matrix = np.zeros((len(users), len(items)), dtype=np.float32)
    matrix[[u_index[u] for u in rows["user_id"]], [i_index[i] for i in rows["item_id"]]] = 1
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    similar = matrix @ matrix.T
    np.fill_diagonal(similar, -1)
    return {u: [users[j] for j in np.argsort(-similar[n])[:k]] for n, u in enumerate(users)}


# --- the machine -----------------------------------------------------------------------------
def machine_limits(hidden: int, intermediate: int) -> dict[str, Any]:
    import torch

    def gemm(m: int, k: int, n: int, dtype: torch.dtype, reps: int) -> float:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(2):
            a @ b
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        return 2 * m * k * n * reps / (time.perf_counter() - start)

    peak = {}
    for name, dtype in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
        rates = [gemm(2048, 2048, 2048, dtype, 5), gemm(8192, hidden, intermediate, dtype, 10),
                 gemm(8192, intermediate, hidden, dtype, 10)]  # fmt: skip
        peak[name] = max(rates)
    block = torch.ones(256 * 1024 * 1024, dtype=torch.float32)  # 1 GiB
    block.sum()
    start = time.perf_counter()
    for _ in range(5):
        block.sum()
    bandwidth = 5 * block.numel() * 4 / (time.perf_counter() - start)
    return {"peak_flops": peak, "read_bytes_per_s": bandwidth}


def model_shape(model: Path) -> dict[str, Any]:
    config = json.loads((model / "config.json").read_text())
    hidden, layers, inter = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim") or hidden // heads
    per_layer = hidden * head_dim * (heads * 2 + kv_heads * 2) + 3 * hidden * inter
    return {
        "layers": layers, "hidden": hidden, "intermediate": inter, "attention_width": heads * head_dim,
        "decoder_params": layers * per_layer, "head_params": config["vocab_size"] * hidden,
        "kv_values_per_token": 2 * layers * kv_heads * head_dim,
    }  # fmt: skip


def work(shape: dict[str, Any], prompt_lengths: list[int], output_lengths: list[int], batch: int,
         dtype_bytes: int) -> dict[str, float]:  # fmt: skip
    """FLOPs and unavoidable bytes of generating these outputs after these prompts, `batch` rows a step."""
    tokens = sum(prompt_lengths) + sum(output_lengths)
    flops = 2 * shape["decoder_params"] * tokens + 2 * shape["head_params"] * (
        len(prompt_lengths) + sum(output_lengths)
    )
    attention = 4 * shape["layers"] * shape["attention_width"]  # FLOPs per (query, key) pair
    kv_read = 0.0
    for p, o in zip(prompt_lengths, output_lengths, strict=True):
        flops += attention * (p * (p + 1) / 2 + o * p + o * (o - 1) / 2)  # causal prefill, then each decode step
        kv_read += o * p + o * (o - 1) / 2
    steps = math.ceil(sum(output_lengths) / max(1, min(batch, len(prompt_lengths))))
    weights = (shape["decoder_params"] + shape["head_params"]) * dtype_bytes
    return {"flops": flops, "bytes": steps * weights + kv_read * shape["kv_values_per_token"] * dtype_bytes}


# --- variants --------------------------------------------------------------------------------
class StockGenerate:
    """The baseline: transformers' own `generate` in left-padded batches of 16 with its stock
    attention, as the transformers back end generated before colrec.llm.decode."""

    def __init__(self, model: Path, dtype: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        self.tokenizer.padding_side = "left"
        self.tokenizer.pad_token = self.tokenizer.pad_token or self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(str(model), dtype=getattr(torch, dtype),
                                                          attn_implementation="sdpa").eval()  # fmt: skip

    def generate(self, prompts: list[str], params: Any) -> list[str]:
        import torch

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out = [""] * len(prompts)
        for start in range(0, len(order), 16):
            group = order[start : start + 16]
            batch = self.tokenizer([prompts[i] for i in group], return_tensors="pt", padding=True,
                                   add_special_tokens=False)  # fmt: skip
            with torch.no_grad():
                made = self.model.generate(**batch, max_new_tokens=params.max_tokens, do_sample=False,
                                           repetition_penalty=params.repetition_penalty,
                                           pad_token_id=self.tokenizer.pad_token_id)  # fmt: skip
            texts = self.tokenizer.batch_decode(made[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(group, texts, strict=True):
                out[i] = text
        return out

    def close(self) -> None:
        pass


def open_variant(name: str, model: Path, batch: int) -> Any:
    from colrec.llm.backends import open_engine

    backend, dtype = name.split("-")
    dtype = {"bf16": "bfloat16", "fp32": "float32"}[dtype]
    if backend == "stock":
        return StockGenerate(model, dtype)
    if backend == "vllm":
        return open_engine("vllm", model, dtype=dtype, memory_share=0.3)
    return open_engine("transformers", model, dtype=dtype, generate_batch=batch)


def run_variant(name: str, model: Path, prompts: dict[str, list[str]], limits: dict[str, Any],
                shape: dict[str, Any], batch: int) -> dict[str, Any]:  # fmt: skip
    from colrec.llm.parsing import ParseError, profile_text, repeats_itself
    from jobs.profile import PROFILE
    from jobs.rationale import RATIONALE

    start = time.perf_counter()
    engine = open_variant(name, model, batch)
    startup = time.perf_counter() - start
    dtype = "bfloat16" if name.endswith("bf16") else "float32"
    row: dict[str, Any] = {"variant": name, "startup_s": round(startup, 1), "kinds": {}}
    totals = {"prompts": 0, "prompt_tokens": 0, "output_tokens": 0, "seconds": 0.0, "flops": 0.0, "bytes": 0.0}
    try:
        for kind, texts in prompts.items():
            params = RATIONALE if kind == "rationale" else PROFILE
            begun = time.perf_counter()
            outputs = engine.generate(texts, params)
            seconds = time.perf_counter() - begun
            lengths = [len(ids) for ids in engine.tokenizer(texts, add_special_tokens=False)["input_ids"]]
            # Output tokens: the text's own, plus the end of turn where it ended before the limit.
            encoded = engine.tokenizer(outputs, add_special_tokens=False)["input_ids"]
            made = [min(len(ids) + 1, params.max_tokens) for ids in encoded]
            rows = {"vllm": 256, "stock": 16}.get(name.split("-")[0], batch)  # rows a decode step can carry
            done = work(shape, lengths, made, rows, 2 if dtype == "bfloat16" else 4)
            parsed = 0
            for text in outputs:
                try:
                    profile_text(text)
                    parsed += 1
                except ParseError:
                    pass
            row["kinds"][kind] = {
                "prompts": len(texts), "prompt_tokens": sum(lengths), "output_tokens": sum(made),
                "seconds": round(seconds, 1), "prompts_per_s": round(len(texts) / seconds, 3),
                "output_tokens_per_s": round(sum(made) / seconds, 1),
                "parsed_share": round(parsed / len(texts), 3),
                "repetitive_share": round(sum(repeats_itself(t) for t in outputs) / len(texts), 3),
                "ended_share": round(sum(m < params.max_tokens for m in made) / len(texts), 3),
                "sample": outputs[0][:300],
            }  # fmt: skip
            for key, value in (("prompts", len(texts)), ("prompt_tokens", sum(lengths)), ("output_tokens", sum(made)),
                               ("seconds", seconds), ("flops", done["flops"]), ("bytes", done["bytes"])):  # fmt: skip
                totals[key] += value
            print(f"  {name} {kind}: {row['kinds'][kind]['prompts_per_s']} prompts/s, "
                  f"{row['kinds'][kind]['output_tokens_per_s']} output tokens/s", flush=True)  # fmt: skip
        stats = getattr(engine, "decode_stats", None)
        if stats is not None and stats.steps:
            row["prefill_s"], row["decode_s"] = round(stats.prefill_s, 1), round(stats.decode_s, 1)
            row["mean_rows_per_step"] = round(stats.row_steps / stats.steps, 1)
    finally:
        engine.close()
    flops_s = totals["flops"] / limits["peak_flops"][dtype]
    bytes_s = totals["bytes"] / limits["read_bytes_per_s"]
    row.update(
        prompts=totals["prompts"], prompt_tokens=totals["prompt_tokens"], output_tokens=totals["output_tokens"],
        seconds=round(totals["seconds"], 1), prompts_per_s=round(totals["prompts"] / totals["seconds"], 3),
        output_tokens_per_s=round(totals["output_tokens"] / totals["seconds"], 1),
        achieved_flops_per_s=round(totals["flops"] / totals["seconds"] / 1e9, 1),
        achieved_bytes_per_s=round(totals["bytes"] / totals["seconds"] / 1e9, 2),
        flops_share=round(flops_s / totals["seconds"], 3), bytes_share=round(bytes_s / totals["seconds"], 3),
        binding_limit="flops" if flops_s >= bytes_s else "bytes",
        share_of_limit=round(max(flops_s, bytes_s) / totals["seconds"], 3),
    )  # fmt: skip
    return row


def run(model: Path, prompts_file: Path, variants: list[str], fp32_limit: int, tag: str, batch: int,
        limit_all: bool = False) -> Path:  # fmt: skip
    records = [json.loads(line) for line in prompts_file.read_text().splitlines()]
    by_kind = {k: [r["prompt"] for r in records if r["kind"] == k] for k in KINDS}
    shape = model_shape(model)
    limits = machine_limits(shape["hidden"], shape["intermediate"])
    print(f"limits: bf16 {limits['peak_flops']['bfloat16'] / 1e9:.0f} GFLOP/s, fp32 "
          f"{limits['peak_flops']['float32'] / 1e9:.0f} GFLOP/s, read {limits['read_bytes_per_s'] / 1e9:.1f} GB/s")  # fmt: skip
    rows = []
    for name in variants:
        small = limit_all or name.endswith("fp32") or name.startswith("stock")
        subset = {k: v[:fp32_limit] if small else v for k, v in by_kind.items()}
        rows.append(run_variant(name, model, subset, limits, shape, batch))
        print(f"{name}: {rows[-1]['output_tokens_per_s']} output tokens/s, {rows[-1]['share_of_limit']:.0%} of the "
              f"{rows[-1]['binding_limit']} limit (start-up {rows[-1]['startup_s']} s)", flush=True)  # fmt: skip
    path = RESULTS / f"llm_generation-{tag}.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    # Variants not run this time keep their rows (one file per machine, filled in several runs).
    rows += [r for r in earlier.get("variants", []) if r["variant"] not in variants]
    best = max(rows, key=lambda r: r["output_tokens_per_s"])
    base = next((r for r in rows if r["variant"].startswith("stock")), rows[0])
    payload = {
        "model": model.name, "cpu": _cpu(), "limits": limits, "shape": shape, "generate_batch": batch,
        "fp32_limit_per_kind": fp32_limit, "limit_applies_to_all": limit_all, "variants": rows,
        "ratios_against": base["variant"],
        "ratios": {r["variant"]: round(r["output_tokens_per_s"] / base["output_tokens_per_s"], 2) for r in rows},
        "best": {k: best[k] for k in ("variant", "output_tokens_per_s", "share_of_limit", "binding_limit")},
    }  # fmt: skip
    # the whole-run figures (record-profile-all) are measured apart: a rerun of the variants keeps them
    payload.update({k: v for k, v in earlier.items() if k.startswith("ml100k_profile_all")})
    return write_results(f"llm_generation-{tag}", payload)


def layer_gemm_rate(shape: dict[str, Any], rows: int, dtype: Any, reps: int = 5) -> float:
    """FLOP/s of one decoder layer's matrix products (q, k, v, o, gate, up, down) on `rows` tokens."""
    import torch

    hidden, inter, width = shape["hidden"], shape["intermediate"], shape["attention_width"]
    kv = shape["kv_values_per_token"] // (2 * shape["layers"])  # one of k or v, all heads
    shapes = [(hidden, width), (hidden, kv), (hidden, kv), (width, hidden), (hidden, inter), (hidden, inter),
              (inter, hidden)]  # fmt: skip
    x = {k: torch.randn(rows, k, dtype=dtype) for k in {k for k, _ in shapes}}
    w = [torch.randn(k, n, dtype=dtype) for k, n in shapes]
    for _ in range(2):
        [x[k] @ m for (k, _), m in zip(shapes, w, strict=True)]
    start = time.perf_counter()
    for _ in range(reps):
        [x[k] @ m for (k, _), m in zip(shapes, w, strict=True)]
    return reps * sum(2 * rows * k * n for k, n in shapes) / (time.perf_counter() - start)


def ceiling(model: Path, tag: str, length: int = 512, rows: int = 8, reps: int = 3) -> Path:
    """What the framework itself reaches on this model: one dense prefill forward of `rows` x
    `length` tokens (about a profile prompt each), transformers with sdpa attention, logits of the
    last token only: no decode, no scheduler, no cache writes. Measured beside the machine's limits
    in the same run. Generation adds decode steps, which use the machine less, so no variant built
    on these kernels can reach a larger share than this."""
    import torch
    from transformers import AutoModelForCausalLM

    shape = model_shape(model)
    limits = machine_limits(shape["hidden"], shape["intermediate"])
    found: dict[str, Any] = {"tokens_per_pass": rows * length, "limits": limits}
    for dtype in ("bfloat16", "float32"):
        llm = AutoModelForCausalLM.from_pretrained(str(model), dtype=getattr(torch, dtype),
                                                   attn_implementation="sdpa").eval()  # fmt: skip
        ids = torch.randint(0, llm.config.vocab_size, (rows, length), generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            llm(input_ids=ids, logits_to_keep=1, use_cache=False)
            start = time.perf_counter()
            for _ in range(reps):
                llm(input_ids=ids, logits_to_keep=1, use_cache=False)
            seconds = (time.perf_counter() - start) / reps
        flops = work(shape, [length] * rows, [0] * rows, rows, 2 if dtype == "bfloat16" else 4)["flops"]
        gemm_rate = layer_gemm_rate(shape, rows * length, getattr(torch, dtype))
        gemm_s = 2 * shape["decoder_params"] * rows * length / gemm_rate  # the pass's matrix products alone
        found[dtype] = {"seconds_per_pass": round(seconds, 3), "prompt_tokens_per_s": round(rows * length / seconds),
                        "achieved_flops_per_s": round(flops / seconds / 1e9, 1),
                        "share_of_flops_limit": round(flops / seconds / limits["peak_flops"][dtype], 3),
                        "layer_gemm_share_of_limit": round(gemm_rate / limits["peak_flops"][dtype], 3),
                        "gemm_share_of_pass_time": round(gemm_s / seconds, 3)}  # fmt: skip
        print(f"prefill ceiling {dtype}: {found[dtype]}", flush=True)
    path = RESULTS / f"llm_generation-{tag}.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    payload.pop("machine", None)
    payload["prefill_ceiling"] = {"cpu": _cpu(), **found}
    return write_results(f"llm_generation-{tag}", payload)


def record_profile_all(tag: str, seconds: float, run_json: Path | None) -> Path:
    path = RESULTS / f"llm_generation-{tag}.json"
    payload = json.loads(path.read_text())
    payload.pop("machine", None)
    if "ml100k_profile_all_s" in payload:  # the run it replaces stays beside it, for the ratio
        payload["ml100k_profile_all_before_s"] = payload["ml100k_profile_all_s"]
        payload["ml100k_profile_all_before"] = payload.get("ml100k_profile_all")
    payload["ml100k_profile_all_s"] = round(seconds, 1)
    if run_json is not None:
        payload["ml100k_profile_all"] = json.loads(run_json.read_text())
    return write_results(f"llm_generation-{tag}", payload)


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return f"{name} ({', '.join(f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16') if f in flags)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("prompts")
    make.add_argument("--model", type=Path, required=True)
    make.add_argument("--out", type=Path, default=Path(".bench-cache/generation-prompts.jsonl"))
    make.add_argument("--n", type=int, default=200)
    make.add_argument("--shared", type=Path, default=Path("../shared/data"))
    measure = sub.add_parser("run")
    measure.add_argument("--model", type=Path, required=True)
    measure.add_argument("--prompts", type=Path, default=Path(".bench-cache/generation-prompts.jsonl"))
    measure.add_argument("--variants", default="stock-bf16,transformers-bf16,vllm-bf16,transformers-fp32,vllm-fp32")
    measure.add_argument("--fp32-limit", type=int, default=40)
    measure.add_argument("--batch", type=int, default=64)
    measure.add_argument("--limit-all", action="store_true", help="every variant on the first --fp32-limit prompts")
    measure.add_argument("--tag", default="cpu")
    record = sub.add_parser("record-profile-all")
    record.add_argument("--tag", default="cpu")
    record.add_argument("--seconds", type=float, required=True)
    record.add_argument("--run-json", type=Path)
    top = sub.add_parser("ceiling")
    top.add_argument("--model", type=Path, required=True)
    top.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    if args.command == "ceiling":
        print(ceiling(args.model, args.tag))
    elif args.command == "prompts":
        make_prompts(args.model, args.out, args.n, args.shared)
    elif args.command == "run":
        print(
            run(
                args.model,
                args.prompts,
                args.variants.split(","),
                args.fp32_limit,
                args.tag,
                args.batch,
                args.limit_all,
            )
        )
    else:
        print(record_profile_all(args.tag, args.seconds, args.run_json))


if __name__ == "__main__":
    main()

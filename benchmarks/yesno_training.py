"""The `yesno` recipe's training speed, packed against unpacked (trl, a padded sequence per pair), on
ml-1m-collm's temporal train part: used by benchmarks.llm_scoring (its `training` section).

Both train one epoch over the same sample: every train pair of the first users (by id) until
`pairs` are reached, each with its liked/disliked history strictly before it (the recipe's prompt).
Seconds per epoch of the whole train part are projected from the sample by its share of the
pairs; the whole part's token counts, unpacked and packed, are counted exactly, so a reader can see
whether the sample shares prefixes as the whole part does.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl


def train_examples(shared: Path) -> tuple[list[tuple[list[dict[str, str]], int]], list[int]]:
    """Every temporal train pair of ml-1m-collm as (messages, label), in user then time order, with its user."""
    from benchmarks.cf_quality import frame
    from colrec.formats import parse
    from colrec.llm.prompts import History, tallrec_yes_no
    from colrec.splits import SplitConfig, make_split

    batch = parse("collm", [shared / "ml-1m-collm"])
    titles = dict(zip(batch.items["external_id"].cast(pl.Int64), batch.items["title"], strict=True))
    train = make_split(frame(batch), SplitConfig("temporal")).part("train").sort("user_id", "ts")
    examples, users = [], []
    for (user,), group in train.group_by("user_id", maintain_order=True):
        items, labels = group["item_id"].to_list(), group["label"].to_list()
        for k, (item, label) in enumerate(zip(items, labels, strict=True)):
            liked = [titles[i] for i, y in zip(items[:k], labels[:k], strict=True) if y == 1][-10:]
            disliked = [titles[i] for i, y in zip(items[:k], labels[:k], strict=True) if y == 0][-10:]
            examples.append((tallrec_yes_no(History(liked, disliked), titles[item]), int(label)))
            users.append(int(user))
    return examples, users


def measure(model: Path, shared: Path, pairs: int) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from colrec.finetune import packed
    from colrec.finetune.yesno import YesNoConfig, answer, packed_rows, train_yesno

    examples, users = train_examples(shared)
    counts = Counter(users)
    chosen: set[int] = set()
    for user in sorted(counts):  # whole users, so the sample shares prefixes as the whole part does
        if sum(counts[u] for u in chosen) >= pairs:
            break
        chosen.add(user)
    sample = [e for e, u in zip(examples, users, strict=True) if u in chosen]

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    config = YesNoConfig(epochs=1, batch_size=8, save_steps=10**6, max_length=1024)
    tokenised = packed.tokenise(tokenizer, [(m, answer(y)) for m, y in examples])
    whole = {"train_pairs": len(examples), "tokens_unpacked": sum(len(t.prompt) + len(t.completion) for t in tokenised),
             "tokens_packed": sum(len(r["input_ids"]) for r in packed_rows(tokenizer, examples, config)[0])}  # fmt: skip
    runs = []
    for variant, is_packed in (("unpacked (trl SFTTrainer)", False), ("packed", True)):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            result = train_yesno(model, sample, dataclasses.replace(config, packed=is_packed),
                                 Path(folder) / "adapter", Path(folder) / "ckpt")  # fmt: skip
            seconds = time.perf_counter() - start
        sample_tokens = sum(len(t.prompt) + len(t.completion) for t in packed.tokenise(tokenizer, [
            (m, answer(y)) for m, y in sample]))  # fmt: skip
        computed = result.get("tokens_per_epoch", sample_tokens)
        runs.append({"variant": variant, "pairs": len(sample), "steps": result["steps"], "seconds": round(seconds, 1),
                     "pairs_per_s": round(len(sample) / seconds, 3), "tokens_per_epoch": computed,
                     "prompt_tokens_per_s": round(sample_tokens / seconds, 1),
                     "epoch_s_projected": round(seconds * len(examples) / len(sample)),
                     "loss_first": result.get("loss_first"), "loss_last": result.get("loss_last")})  # fmt: skip
        print("training", variant, runs[-1], flush=True)
    runs[1]["speedup_vs_unpacked"] = round(runs[0]["seconds"] / runs[1]["seconds"], 2)
    return {**whole, "sample_users": len(chosen), "runs": runs}

"""The `yesno` recipe (SCORE, TALLRec): LoRA SFT of a chat model to answer "Yes" or "No" to a
recommendation prompt, with the loss on the answer only (trl's prompt-completion format).
LoRA r=8, alpha=32, dropout 0.1 on all projection modules: SCORE's settings.

Packed by default (colrec.finetune.packed): the pairs' shared prompt prefixes are computed once, so
an epoch costs the distinct tokens; `packed=False` trains through trl's SFTTrainer, one padded
sequence per pair (the reference the packed loss is tested against)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from colrec import training
from colrec.finetune import packed
from colrec.finetune.sft import LoraSettings, SftSettings, run_trainer, train_sft, trainer_arguments
from colrec.llm.engine import Messages

__all__ = ["LoraSettings", "YesNoConfig", "resolved", "train_yesno", "yesno_dataset"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YesNoConfig(SftSettings):
    """`tuning`, `bf16` and `lr` may be left to `resolved()`, which picks them for the base model and
    the machine: full fine-tuning below FULL_BELOW parameters (on the 2-core CPU a full step of the
    135M model took 10.1 s against LoRA's 15.1 s, and its loss fell faster: benchmarks.yesno_training),
    bf16 autocast where the hardware computes bf16."""

    packed: bool = True
    row_tokens: int = 1024  # tokens per packed row; with packing, batch_size counts pairs approximately
    tuning: str | None = "lora"  # "lora": an adapter on the frozen base; "full": every weight (packed only)
    bf16: bool | None = False  # bf16 autocast over fp32 master weights
    lr: float | None = 1e-4  # type: ignore[assignment]  # None: by tuning (LORA_LR, FULL_LR)
    answer_logits: bool = True  # the LM head at the answer positions only (packed.answer_loss); False: everywhere


TUNINGS = ("lora", "full")
FULL_BELOW = 1_000_000_000  # parameters
LORA_LR, FULL_LR = 1e-4, 3e-5


def resolved(config: YesNoConfig, base: Path) -> YesNoConfig:
    """The config with `tuning` ("auto" or None), `bf16` and `lr` (None) made concrete."""
    from colrec.llm.engine import resolve_dtype

    tuning = config.tuning
    if tuning in (None, "auto"):
        tuning = "full" if parameter_count(base) < FULL_BELOW else "lora"
    if tuning not in TUNINGS:
        raise ValueError(f"unknown tuning {tuning!r}; known: auto, {', '.join(TUNINGS)}")
    if tuning == "full" and not config.packed:
        raise ValueError("full fine-tuning runs packed only (--no-packed trains a LoRA adapter through trl)")
    bf16 = resolve_dtype("auto") == "bfloat16" if config.bf16 is None else config.bf16
    lr = config.lr if config.lr is not None else (FULL_LR if tuning == "full" else LORA_LR)
    return dataclasses.replace(config, tuning=tuning, bf16=bf16, lr=lr)


def parameter_count(base: Path) -> int:
    """From the weights' header (safetensors) without loading them: what the model folder holds."""
    import json
    import math
    import struct

    total = 0
    for file in sorted(base.glob("*.safetensors")):
        with file.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    if not total:
        raise ValueError(f"{base}: no *.safetensors weights to count the parameters of")
    return total


def answer(label: int) -> str:
    return "Yes" if label else "No"


def yesno_dataset(examples: Sequence[tuple[Messages, int]]) -> Any:
    """trl's conversational prompt-completion rows: the prompt's messages, then "Yes"/"No"."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [list(messages) for messages, _ in examples],
        "completion": [[{"role": "assistant", "content": answer(label)}] for _, label in examples],
    })  # fmt: skip


def train_yesno(base: Path, examples: Sequence[tuple[Messages, int]], config: SftSettings, out: Path,
                checkpoints: Path) -> dict[str, Any]:  # fmt: skip
    if not examples:
        raise ValueError("no training examples")
    if isinstance(config, YesNoConfig) and config.packed:
        return train_packed(base, examples, config, out, checkpoints)
    return train_sft(base, yesno_dataset(examples), config, out, checkpoints, "yesno")


def packed_rows(tokenizer: Any, examples: Sequence[tuple[Messages, int]], config: YesNoConfig) -> tuple[list, int]:
    """The packed dataset records, and how many pairs were left out for being longer than
    max_length (trl would cut their answer off, so they would add nothing to its loss either)."""
    tokenised = packed.tokenise(tokenizer, [(messages, answer(label)) for messages, label in examples])
    kept = [t for t in tokenised if len(t.prompt) + len(t.completion) <= config.max_length]
    return packed.pack(kept, config.row_tokens), len(tokenised) - len(kept)


def train_packed(base: Path, examples: Sequence[tuple[Messages, int]], config: YesNoConfig, out: Path,
                 checkpoints: Path) -> dict[str, Any]:  # fmt: skip
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    checkpoints.mkdir(parents=True, exist_ok=True)
    training.quiet_loading()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    records, too_long = packed_rows(tokenizer, examples, config)
    if not records:
        raise ValueError(f"every training example is longer than max_length={config.max_length} tokens")
    pairs = sum(r["pairs"][0] for r in records)
    # A step covers about batch_size pairs: whole packed rows, as many as hold that many on average.
    rows_per_step = max(1, round(config.batch_size * len(records) / pairs))
    torch.manual_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if config.tuning == "lora":
        model = get_peft_model(model, config.lora.peft_config())
    elif config.tuning != "full":
        raise ValueError(f"tuning {config.tuning!r}: resolve the config first (yesno.resolved)")
    arguments = {**trainer_arguments(config, checkpoints), "per_device_train_batch_size": rows_per_step,
                 "remove_unused_columns": False, "bf16": config.bf16 or torch.cuda.is_available()}  # fmt: skip
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer_class = _answer_loss_trainer() if config.answer_logits else Trainer
    trainer = trainer_class(model=model, args=TrainingArguments(**arguments), train_dataset=Dataset.from_list(records),
                            data_collator=packed.PackedCollator(pad, torch.float32))  # fmt: skip
    log.info("yesno: %d pairs in %d packed rows (%d rows a step)", pairs, len(records), rows_per_step)
    shape = {"examples": len(examples), "packed_rows": len(records), "rows_per_step": rows_per_step,
             "tokens_per_epoch": sum(len(r["input_ids"]) for r in records), "too_long": too_long}  # fmt: skip
    result = run_trainer(trainer, "yesno", checkpoints, out)
    if config.tuning == "full":  # a whole model folder: the engines load it as they load the base
        tokenizer.save_pretrained(str(out))
    return {**shape, **result}


def _answer_loss_trainer() -> type:
    """transformers' Trainer with the loss of packed.answer_loss (the LM head at the answers only)."""
    from transformers import Trainer

    class AnswerLossTrainer(Trainer):
        def compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:  # fmt: skip
            loss = packed.answer_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

    return AnswerLossTrainer

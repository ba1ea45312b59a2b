"""The `yesno` recipe (SCORE, TALLRec): LoRA SFT of a chat model to answer "Yes" or "No" to a
recommendation prompt, with the loss on the answer only (trl's prompt-completion format)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from colrec import training
from colrec.llm.engine import Messages

log = logging.getLogger(__name__)

# Every projection of a Llama/Qwen/Gemma block: "all projection modules", as SCORE tunes them.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = PROJECTIONS

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), task_type="CAUSAL_LM")  # fmt: skip


@dataclass(frozen=True)
class YesNoConfig:
    lora: LoraSettings = field(default_factory=LoraSettings)
    lr: float = 1e-4
    epochs: int = 1
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    max_steps: int = -1  # > 0: stop after this many optimiser steps (short runs)
    save_steps: int = 50  # checkpoints to resume from
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lora"]["target_modules"] = list(self.lora.target_modules)
        return out


def yesno_dataset(examples: Sequence[tuple[Messages, int]]) -> Any:
    """trl's conversational prompt-completion rows: the prompt's messages, then "Yes"/"No"."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [list(messages) for messages, _ in examples],
        "completion": [[{"role": "assistant", "content": "Yes" if label else "No"}] for _, label in examples],
    })  # fmt: skip


def train_yesno(base: Path, examples: Sequence[tuple[Messages, int]], config: YesNoConfig, out: Path,
                checkpoints: Path) -> dict[str, Any]:  # fmt: skip
    """Train a LoRA adapter into `out`, resuming from the newest checkpoint under `checkpoints`."""
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    if not examples:
        raise ValueError("no training examples")
    checkpoints.mkdir(parents=True, exist_ok=True)
    args = SFTConfig(
        output_dir=str(checkpoints), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr, seed=config.seed, data_seed=config.seed, max_length=config.max_length,
        completion_only_loss=True, save_strategy="steps", save_steps=config.save_steps, save_total_limit=2,
        logging_steps=1, report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available(),
    )  # fmt: skip
    torch.manual_seed(config.seed)
    trainer = SFTTrainer(model=str(base), args=args, train_dataset=yesno_dataset(examples),
                         peft_config=config.lora.peft_config())  # fmt: skip
    training.quiet(trainer, "yesno")
    resume = get_last_checkpoint(str(checkpoints))
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"steps": trainer.state.global_step, "examples": len(examples), "resumed_from": resume,
            "loss_first": round(losses[0], 4) if losses else None,
            "loss_last": round(losses[-1], 4) if losses else None}  # fmt: skip

"""Supervised fine-tuning with LoRA through trl's SFTTrainer, shared by the recipes; resumes from
the newest checkpoint under its checkpoint folder."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from colrec import training

log = logging.getLogger(__name__)

# Every projection of a Llama/Qwen/Gemma block: "all projection modules", as SCORE tunes them.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = PROJECTIONS

    def peft_config(self, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, task_type=task_type,
                          target_modules=list(self.target_modules), modules_to_save=modules_to_save)  # fmt: skip


@dataclass(frozen=True)
class SftSettings:
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


def trainer_arguments(settings: SftSettings, checkpoints: Path) -> dict[str, Any]:
    """What every recipe's trl config shares: schedule, checkpoints to resume from, logging."""
    return {
        "output_dir": str(checkpoints), "num_train_epochs": settings.epochs, "max_steps": settings.max_steps,
        "per_device_train_batch_size": settings.batch_size, "gradient_accumulation_steps": settings.grad_accum,
        "learning_rate": settings.lr, "seed": settings.seed, "data_seed": settings.seed,
        "save_strategy": "steps", "save_steps": settings.save_steps, "save_total_limit": 2, "logging_steps": 1,
        "report_to": [], "disable_tqdm": True, "use_cpu": not torch.cuda.is_available(),
        "bf16": torch.cuda.is_available(),
    }  # fmt: skip


def run_trainer(trainer: Any, name: str, checkpoints: Path, out: Path) -> dict[str, Any]:
    """Train (from the newest checkpoint if there is one), save to `out`, report the losses."""
    from transformers.trainer_utils import get_last_checkpoint

    training.quiet(trainer, name)
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    if resume:
        log.info("%s: resuming from %s", name, resume)
    output = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"steps": trainer.state.global_step, "resumed_from": resume, **loss_summary(losses),
            "train_seconds": round(float(output.metrics.get("train_runtime", 0.0)), 1)}  # fmt: skip


def loss_summary(losses: list[float]) -> dict[str, float | None]:
    """First and last step's loss, and the means of the first and last quarter of the steps (at
    most 10 each): one step's loss on a small batch is too noisy to say whether training helped."""
    k = max(1, min(10, len(losses) // 4))
    return {
        "loss_first": round(losses[0], 4) if losses else None,
        "loss_last": round(losses[-1], 4) if losses else None,
        "loss_start_mean": round(sum(losses[:k]) / k, 4) if losses else None,
        "loss_end_mean": round(sum(losses[-k:]) / k, 4) if losses else None,
    }


def train_sft(model: Any, dataset: Any, settings: SftSettings, out: Path, checkpoints: Path, name: str,
              **config: Any) -> dict[str, Any]:  # fmt: skip
    """`model`: a folder (a new LoRA adapter is added) or a PeftModel whose adapter keeps training.
    `dataset`: trl prompt-completion rows, or pre-tokenised input_ids + completion_mask."""
    from trl import SFTConfig, SFTTrainer

    checkpoints.mkdir(parents=True, exist_ok=True)
    training.quiet_loading()
    args = SFTConfig(**trainer_arguments(settings, checkpoints), max_length=settings.max_length,
                     completion_only_loss=True, **config)  # fmt: skip
    torch.manual_seed(settings.seed)
    peft_config = settings.lora.peft_config() if isinstance(model, str | Path) else None
    trainer = SFTTrainer(model=str(model) if isinstance(model, Path) else model, args=args, train_dataset=dataset,
                         peft_config=peft_config)  # fmt: skip
    return {"examples": len(dataset), **run_trainer(trainer, name, checkpoints, out)}

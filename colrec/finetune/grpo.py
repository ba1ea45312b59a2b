"""Online RL with trl's GRPOTrainer on the recipe's LoRA adapter (TWiCE's GRPO; RecLM's RL step,
for which trl 1.16 has no PPOTrainer any more)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from colrec import training
from colrec.finetune.sft import SftSettings, run_trainer, trainer_arguments


@dataclass(frozen=True)
class GrpoSettings:
    lr: float = 1e-5
    max_steps: int = 50
    prompts_per_step: int = 2
    num_generations: int = 4  # completions per prompt: the group whose rewards are normalised
    max_completion_length: int = 128
    beta: float = 0.04  # KL penalty against the reference (the model without this adapter); > 0
    temperature: float = 1.0
    save_steps: int = 10
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_policy(base: Path, adapter: Path) -> Any:
    """The base model with the SFT adapter, trainable: RL refines the same adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)


def train_grpo(policy: Any, dataset: Any, reward_funcs: Sequence[Callable[..., list[float | None]] | Any],
               settings: GrpoSettings, out: Path, checkpoints: Path, name: str,
               reward_processing_classes: Any = None) -> dict[str, Any]:  # fmt: skip
    """`dataset`: rows with a conversational `prompt` plus the columns the reward functions read."""
    from trl import GRPOConfig, GRPOTrainer

    per_step = settings.prompts_per_step * settings.num_generations
    schedule = SftSettings(lr=settings.lr, max_steps=settings.max_steps, save_steps=settings.save_steps,
                           batch_size=per_step, seed=settings.seed)  # fmt: skip
    checkpoints.mkdir(parents=True, exist_ok=True)
    training.quiet_loading()
    args = GRPOConfig(**trainer_arguments(schedule, checkpoints), num_generations=settings.num_generations,
                      max_completion_length=settings.max_completion_length, beta=settings.beta,
                      temperature=settings.temperature)  # fmt: skip
    torch.manual_seed(settings.seed)
    trainer = GRPOTrainer(model=policy, reward_funcs=list(reward_funcs), args=args, train_dataset=dataset,
                          reward_processing_classes=reward_processing_classes)  # fmt: skip
    result = run_trainer(trainer, name, checkpoints, out)
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    result.update(reward_first=round(rewards[0], 4) if rewards else None,
                  reward_last=round(rewards[-1], 4) if rewards else None)  # fmt: skip
    return result

"""The `reclm` recipe (RecLM, section 3.2-3.3): two-turn collaborative instruction tuning (turn 1
writes the profiles of a user and its CF neighbours; turn 2 answers Yes/No on an item, half of them
positives), with the loss on the assistant turns only; then a reward model (trl's RewardTrainer,
pairwise loss) that prefers the user's own profile to a neighbour's and to a truncated one; then
RL against that reward model with a KL penalty.

RecLM used PPO. trl 1.16 no longer ships PPOTrainer, so the RL step is trl's GRPOTrainer with the
reward model as its reward function and beta > 0 (the KL penalty against the SFT model's base).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from colrec import training
from colrec.finetune.grpo import GrpoSettings
from colrec.finetune.sft import SftSettings, run_trainer, trainer_arguments
from colrec.llm.engine import Messages


@dataclass(frozen=True)
class ReclmConfig:
    sft: SftSettings = field(default_factory=SftSettings)
    reward: SftSettings = field(default_factory=lambda: SftSettings(lr=5e-5))
    grpo: GrpoSettings = field(default_factory=GrpoSettings)

    def as_dict(self) -> dict[str, Any]:
        return {"sft": self.sft.as_dict(), "reward": self.reward.as_dict(), "grpo": self.grpo.as_dict()}


def assistant_labels(tokenizer: Any, messages: Messages) -> tuple[list[int], list[int]]:
    """input_ids of the rendered dialogue, and labels that are -100 on every token outside an
    assistant turn (the turn's content and its end-of-turn marker are learned)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True))
            end = len(tokenizer.apply_chat_template(messages[: k + 1], tokenize=False).rstrip())
            spans.append((start, end))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    labels = [
        token if any(a <= lo and hi <= b for a, b in spans) and hi > lo else -100
        for token, (lo, hi) in zip(ids, encoded["offset_mapping"], strict=True)
    ]
    return ids, labels


def sft_dataset(tokenizer: Any, dialogues: Sequence[Messages], max_length: int) -> Any:
    from datasets import Dataset

    rows = [assistant_labels(tokenizer, d) for d in dialogues]
    return Dataset.from_dict({"input_ids": [ids[:max_length] for ids, _ in rows],
                              "labels": [labels[:max_length] for _, labels in rows]})  # fmt: skip


def preference_dataset(prompts: Sequence[Messages], chosen: Sequence[str], rejected: Sequence[str]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [list(p) for p in prompts],
        "chosen": [[{"role": "assistant", "content": c}] for c in chosen],
        "rejected": [[{"role": "assistant", "content": r}] for r in rejected],
    })  # fmt: skip


def prompt_dataset(prompts: Sequence[Messages]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [list(p) for p in prompts]})


def train_reward_model(base: Path, dataset: Any, settings: SftSettings, out: Path, checkpoints: Path) -> dict[str, Any]:
    """A LoRA reward model on the base, merged and saved whole into `out` (GRPO loads it by path)."""
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    checkpoints.mkdir(parents=True, exist_ok=True)
    args = RewardConfig(**trainer_arguments(settings, checkpoints), max_length=settings.max_length)
    torch.manual_seed(settings.seed)
    training.quiet_loading()
    trainer = RewardTrainer(model=str(base), args=args, train_dataset=dataset,
                            peft_config=settings.lora.peft_config("SEQ_CLS", modules_to_save=["score"]))  # fmt: skip
    kept = trainer.train_dataset
    if not isinstance(kept, Dataset) or len(kept) == 0:  # the trainer drops pairs longer than max_length
        raise ValueError(f"every preference pair is longer than max_length={settings.max_length} tokens")
    adapter = out.with_name(out.name + "-adapter")
    result = run_trainer(trainer, "reclm-reward", checkpoints, adapter)
    if not isinstance(trainer.model, PeftModel):
        raise TypeError(f"the reward trainer should hold a peft model, got {type(trainer.model).__name__}")
    merged = trainer.model.merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(base))  # the trainer's processing class is this one
    merged.config.pad_token_id = tokenizer.pad_token_id
    merged.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return result

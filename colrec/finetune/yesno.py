"""The `yesno` recipe (SCORE, TALLRec): LoRA SFT of a chat model to answer "Yes" or "No" to a
recommendation prompt, with the loss on the answer only (trl's prompt-completion format).
LoRA r=8, alpha=32, dropout 0.1 on all projection modules: SCORE's settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from colrec.finetune.sft import LoraSettings, SftSettings, train_sft
from colrec.llm.engine import Messages

__all__ = ["LoraSettings", "YesNoConfig", "train_yesno", "yesno_dataset"]

YesNoConfig = SftSettings


def yesno_dataset(examples: Sequence[tuple[Messages, int]]) -> Any:
    """trl's conversational prompt-completion rows: the prompt's messages, then "Yes"/"No"."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [list(messages) for messages, _ in examples],
        "completion": [[{"role": "assistant", "content": "Yes" if label else "No"}] for _, label in examples],
    })  # fmt: skip


def train_yesno(base: Path, examples: Sequence[tuple[Messages, int]], config: SftSettings, out: Path,
                checkpoints: Path) -> dict[str, Any]:  # fmt: skip
    if not examples:
        raise ValueError("no training examples")
    return train_sft(base, yesno_dataset(examples), config, out, checkpoints, "yesno")

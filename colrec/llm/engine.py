"""One interface for LLM work: `generate` text and `score_yes_no` (P(Yes) against No for the next
token, from logits), with optional LoRA adapters per call. Back ends: vllm_backend (production)
and hf_backend (transformers: CPU or GPU, and the parity reference).

Prompts are chat messages rendered with the model's own chat template; the answer token ids are
resolved from the model's own tokenizer, never hard-coded.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from colrec.errors import ColrecError
from colrec.llm.defuse import Defuser

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0  # transformers' meaning: prompt and output tokens so far; 1 is off

    def key(self) -> str:
        fields = asdict(self)
        if fields["repetition_penalty"] == 1.0:
            del fields["repetition_penalty"]  # added later: cache rows made before keep their key
        return sha256(json.dumps(fields, sort_keys=True))


YES_NO = GenerationParams(max_tokens=1)  # the cache key of Yes/No scoring


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Engine(ABC):
    """An LLM loaded from a local folder. `name` is what the cache and the tables record."""

    backend: str

    def __init__(self, path: Path, name: str | None = None) -> None:
        from transformers import AutoTokenizer

        self.path = Path(path)
        self.name = name or self.path.name
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.yes_id, self.no_id = answer_token_ids(self.tokenizer)
        self.defuse = Defuser(self.tokenizer)

    def render(self, messages: Messages) -> str:
        """Chat messages as the model's prompt text, ending where the assistant's answer starts; no
        text inside them can become one of this tokenizer's special tokens."""
        return rendered(self.tokenizer, self.defuse.messages(messages))

    @abstractmethod
    def generate(self, prompts: list[str], params: GenerationParams, adapter: Path | None = None) -> list[str]:
        """One completion per prompt, in order."""

    @abstractmethod
    def score_yes_no(self, prompts: list[str], adapter: Path | None = None) -> np.ndarray:
        """P(Yes) / (P(Yes) + P(No)) of the next token of each prompt, in order."""

    def close(self) -> None:  # noqa: B027 - optional for back ends that hold processes
        """Release processes or memory the back end holds."""


def answer_token_ids(tokenizer: Any) -> tuple[int, int]:
    """The single-token ids of "Yes" and "No" as the first token of an answer (the chat template
    ends the prompt with the assistant header, so the answer starts without a space)."""
    ids = []
    for word in ("Yes", "No"):
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if len(encoded) != 1:
            raise ColrecError(f"the tokenizer splits {word!r} into {len(encoded)} tokens: Yes/No scoring needs one")
        ids.append(encoded[0])
    if ids[0] == ids[1]:
        raise ColrecError("the tokenizer maps 'Yes' and 'No' to the same token")
    return ids[0], ids[1]


def rendered(tokenizer: Any, messages: Messages) -> str:
    """The chat template's text (not tokens) ending where the assistant's answer starts."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):
        raise TypeError(f"the chat template gave {type(text).__name__}, not text")
    return text


def yes_probability(yes_logit: np.ndarray | float, no_logit: np.ndarray | float) -> np.ndarray:
    """Two-way softmax, computed stably."""
    top = np.maximum(yes_logit, no_logit)
    yes, no = np.exp(yes_logit - top), np.exp(no_logit - top)
    return yes / (yes + no)


DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(setting: str, cpu_flags: str | None = None) -> str:
    """The dtype to load a model in: `auto` is bfloat16 where the hardware computes it natively (a
    CUDA GPU, or a CPU with AVX512-BF16 or AMX: half the weight bytes, about twice the speed
    measured here) and float32 elsewhere (an AVX2-only CPU emulates bf16, slower than fp32)."""
    if setting not in DTYPES:
        raise ColrecError(f"COLREC_LLM_DTYPE must be one of {', '.join(DTYPES)}, not {setting!r}")
    if setting != "auto":
        return setting
    import torch

    if torch.cuda.is_available():
        return "bfloat16"
    flags = cpu_flags if cpu_flags is not None else _cpu_flags()
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags.split()) else "float32"


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "")

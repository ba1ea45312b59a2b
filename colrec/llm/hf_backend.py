"""The transformers back end: batched forward passes on CPU or GPU, LoRA adapters through peft.

Yes/No scoring walks the prompts' token prefix tree with the key/value cache (colrec.llm.tree_pass):
each distinct token position is computed once, and every prompt's answer logits are read at its own
last token under a mask that makes the result the same as scoring the prompt alone
(`shared_prefix=False` scores each prompt alone, the reference)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colrec.llm import attention
from colrec.llm.decode import BatchDecoder, DecodeStats
from colrec.llm.engine import Engine, GenerationParams, yes_probability
from colrec.llm.tree_pass import TreePass


class TransformersEngine(Engine):
    backend = "transformers"

    def __init__(self, path: Path, name: str | None = None, *, dtype: str = "float32", device: str | None = None,
                 batch_size: int = 16, shared_prefix: bool = True, row_tokens: int = 256,
                 generate_batch: int = 64) -> None:  # fmt: skip
        super().__init__(path, name)
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        if not sys.stderr.isatty():
            hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in cron logs

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.shared_prefix = shared_prefix
        self.row_tokens = row_tokens  # small subtrees of the prefix tree packed per row (colrec.llm.tree_pass)
        self.tokens_computed = 0  # token positions the forward passes ran (padding included): for benchmarks
        self.generate_batch = generate_batch  # rows per generation batch (colrec.llm.decode)
        self.decode_stats = DecodeStats()  # what generation did, for benchmarks
        self.base = (
            AutoModelForCausalLM.from_pretrained(str(self.path), dtype=getattr(torch, dtype),
                                                 attn_implementation=attention.register())
            .to(self.device).eval()  # type: ignore[arg-type]  # transformers types `.to` as taking a model
        )  # fmt: skip
        self.model: Any = self.base
        self.adapters: dict[str, str] = {}  # path -> adapter name inside the peft model
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # --- adapters ---------------------------------------------------------------------------
    def _use(self, adapter: Path | None) -> Any:
        """The model with `adapter` active (None: the base weights)."""
        if adapter is None:
            return self.model.disable_adapter() if self.adapters else nullcontext()
        key = str(Path(adapter).resolve())
        if key not in self.adapters:
            from peft import PeftModel

            name = f"a{len(self.adapters)}"
            if not self.adapters:
                self.model = PeftModel.from_pretrained(self.base, key, adapter_name=name).eval()
            else:
                self.model.load_adapter(key, adapter_name=name)
            self.adapters[key] = name
        self.model.set_adapter(self.adapters[key])
        return nullcontext()

    # --- batches ----------------------------------------------------------------------------
    def _batches(self, prompts: list[str]) -> list[list[int]]:
        """Prompt indices grouped by similar length (less padding), each group at most batch_size."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        # The chat template already wrote the special tokens: add none.
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in batch.items()}

    @torch.no_grad()
    def score_yes_no(self, prompts: list[str], adapter: Path | None = None) -> np.ndarray:
        if not self.shared_prefix:
            return self.score_each(prompts, adapter)
        if not prompts:
            return np.zeros(0, dtype=np.float64)
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        with self._use(adapter):
            walk = TreePass(self.base.get_decoder(), self.device, self.base.dtype, self.row_tokens)
            logits = self._answer_logits(walk.last_hidden(ids))
        self.tokens_computed += walk.tokens_computed
        return yes_probability(logits[:, 0], logits[:, 1]).astype(np.float64)

    def _answer_logits(self, hidden: torch.Tensor) -> np.ndarray:
        """The Yes and No logits from final hidden states, in float32: in bf16 a logit near 15 is
        rounded to a step of 0.06, which alone moves P(Yes) by about 0.015."""
        head = self.base.get_output_embeddings()
        rows = head.weight[[self.yes_id, self.no_id]].float()
        logits = hidden.float() @ rows.T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[[self.yes_id, self.no_id]].float()
        cap = getattr(self.base.config, "final_logit_softcapping", None)
        if cap:  # Gemma-2 style models squash their logits: the answer must see the same values
            logits = torch.tanh(logits / cap) * cap
        return logits.cpu().numpy()

    @torch.no_grad()
    def score_each(self, prompts: list[str], adapter: Path | None = None) -> np.ndarray:
        """Each prompt alone in padded batches: the reference the packed pass must reproduce."""
        out = np.zeros(len(prompts), dtype=np.float64)
        with self._use(adapter):
            for group in self._batches(prompts):
                batch = self._encode([prompts[i] for i in group])
                mask = batch["attention_mask"]
                # Left padding: positions must count real tokens only, as an unpadded pass would.
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                # Only the last position's logits matter; computing the LM head for every position
                # costs a vocabulary-sized matmul per token.
                logits = self.model(
                    input_ids=batch["input_ids"], attention_mask=mask, position_ids=positions, logits_to_keep=1
                ).logits[:, -1, :]
                self.tokens_computed += int(mask.numel())
                logits = logits.float().cpu().numpy()
                out[group] = yes_probability(logits[:, self.yes_id], logits[:, self.no_id])
        return out

    def generate(self, prompts: list[str], params: GenerationParams, adapter: Path | None = None) -> list[str]:
        if not prompts:
            return []
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        with self._use(adapter):
            decoder = BatchDecoder(self.model, self.tokenizer, batch_size=self.generate_batch, device=self.device)
            decoder.stats = self.decode_stats
            made = decoder.generate(ids, params)
        texts = self.tokenizer.batch_decode(made, skip_special_tokens=True)
        return [_cut_at_stop(text, params.stop) for text in texts]


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    cuts = [text.index(s) for s in stops if s in text]
    return text[: min(cuts)] if cuts else text

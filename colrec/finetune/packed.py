"""Packed Yes/No fine-tuning: the training pairs' prompts that share a token prefix (a user's
history before several candidates, or consecutive pairs of one user) are laid out once per shared
prefix in packed rows (colrec.llm.prefix), each pair's suffix and answer after it under a mask that
lets the suffix see its prefix and itself only. The loss is read on each answer's tokens, so a
step computes the same loss as the pairs alone (tested to 1e-4) at the cost of the distinct tokens.

Tokenised as trl does a conversational prompt-completion row (the chat template of the prompt with
a generation prompt, and of prompt + completion; the completion starts where they diverge), and
trained by transformers' Trainer: checkpoints, resume and logging are the unpacked recipe's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from colrec.llm.defuse import Defuser
from colrec.llm.prefix import PackedRow, allowed, common_prefix, group_by_prefix, pack_rows

IGNORE = -100  # the label transformers' loss skips


@dataclass(frozen=True)
class Tokenised:
    prompt: list[int]
    completion: list[int]


def tokenise(tokenizer: Any, examples: Sequence[tuple[Sequence[dict[str, str]], str]]) -> list[Tokenised]:
    """(messages, answer text) -> prompt and completion token ids, split where trl splits them."""
    out = []
    defuse = Defuser(tokenizer)  # as the engine does at inference: data never becomes a special token
    for raw, answer in examples:
        messages = defuse.messages(raw)
        prompt = _ids(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))
        turn = [*messages, {"role": "assistant", "content": answer}]
        full = _ids(tokenizer.apply_chat_template(turn, tokenize=True))
        cut = common_prefix(prompt, full)
        out.append(Tokenised(prompt=full[:cut], completion=full[cut:]))
    return out


def _ids(encoded: Any) -> list[int]:
    ids = encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded
    return list(ids)


def pack(examples: Sequence[Tokenised], row_tokens: int = 1024) -> list[dict[str, list[int]]]:
    """Packed rows as dataset records: input_ids, position_ids, labels (the answer tokens, IGNORE
    elsewhere), and each token's reach (colrec.llm.prefix.PackedRow), from which the collator builds
    the mask.
    Prompts are grouped on their own tokens (every suffix keeps its prompt's last token, whose
    logits predict the answer's first), then each suffix is followed by its answer."""
    prompts = [e.prompt for e in examples]
    groups = group_by_prefix(prompts, row_tokens)
    for group in groups:
        group.suffixes = [s + examples[m].completion for m, s in zip(group.members, group.suffixes, strict=True)]
    return [_record(row, examples) for row in pack_rows(groups, row_tokens)]


def _record(row: PackedRow, examples: Sequence[Tokenised]) -> dict[str, list[int]]:
    labels = [IGNORE] * len(row)
    for member, _, end in row.spans:
        answer = examples[member].completion
        labels[end - len(answer) : end] = answer  # the model shifts: the token before predicts each
    return {"input_ids": row.ids, "position_ids": row.positions, "labels": labels, "reach": row.reach,
            "pairs": [len(row.spans)]}  # fmt: skip


class PackedCollator:
    """Rows padded to the longest, with the additive 4D mask (in the model's dtype) that lets each
    token see what its prompt alone would."""

    def __init__(self, pad_id: int, dtype: torch.dtype) -> None:
        self.pad_id, self.dtype = pad_id, dtype

    def __call__(self, records: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(r["input_ids"]) for r in records)
        rows = [PackedRow(ids=r["input_ids"], positions=r["position_ids"], reach=r["reach"]) for r in records]
        blocked = torch.from_numpy(~allowed(rows, length)).unsqueeze(1)
        mask = torch.zeros(blocked.shape, dtype=self.dtype).masked_fill(blocked, torch.finfo(self.dtype).min)

        def padded(key: str, fill: int) -> torch.Tensor:
            return torch.tensor([r[key] + [fill] * (length - len(r[key])) for r in records])

        return {"input_ids": padded("input_ids", self.pad_id), "position_ids": padded("position_ids", 0),
                "labels": padded("labels", IGNORE), "attention_mask": mask}  # fmt: skip


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """The sequence positions whose logits predict an answer token in any row of the batch (the
    logits at p predict the token at p + 1)."""
    return (labels[:, 1:] != IGNORE).any(dim=0).nonzero().squeeze(1)


def answer_loss(model: Any, batch: dict[str, torch.Tensor], num_items_in_batch: Any = None) -> torch.Tensor:
    """The packed batch's loss as the model computes it from `labels` (the answer tokens' summed
    cross-entropy over their count, or over `num_items_in_batch` where the Trainer counts them), with
    the LM head applied at the answer positions only. Why: a packed row has a few answer tokens among
    a thousand prompt tokens, and the head over every position (49,152 logits a token for SmolLM2)
    is a fifth of the step's matrix work and its largest tensor."""
    labels = batch["labels"]
    keep = answer_positions(labels)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=keep).logits
    targets = labels[:, keep + 1]
    total = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                              reduction="sum")  # fmt: skip
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE).sum()
    if isinstance(count, torch.Tensor):
        count = count.to(total.device)
    return total / count


def answer_tokens(records: Sequence[dict[str, list[int]]]) -> int:
    return sum(sum(1 for t in r["labels"] if t != IGNORE) for r in records)

"""The two InfoNCE losses of SCORE, as sentence-transformers losses so that its trainers run them.

- CAR (eq. 6): each target user against its Kc collaborative neighbours, with the other users of
  the batch as negatives; cosine similarity over a temperature.
- SARE (eq. 12): a cross-encoder's score of (query, top-1 collaborator) against the sampled
  lower-ranked collaborators only (no in-batch negatives, as in the paper).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss as CrossEncoderMNRL
from torch import Tensor, nn


def collaborative_info_nce(anchors: Tensor, positives: Tensor, ids: Tensor, temperature: float) -> Tensor:
    """Eq. 6 averaged over the batch. anchors (B, d); positives (B, K, d); ids (B, 1+K): the
    anchor's user id then its positives' ids. Another anchor of the batch is a negative unless it
    is this anchor or one of its positives (the same user must not be pushed away from itself)."""
    a = F.normalize(anchors, dim=-1)
    p = F.normalize(positives, dim=-1)
    positive_logits = torch.einsum("bd,bkd->bk", a, p) / temperature
    negative_logits = a @ a.T / temperature
    excluded = (ids[None, :, 0, None] == ids[:, None, :]).any(-1)  # [b, j]: anchor j is b or b's positive
    negative_logits = negative_logits.masked_fill(excluded, float("-inf"))
    negatives = torch.logsumexp(negative_logits, dim=1, keepdim=True)  # (B, 1); -inf when none
    per_positive = torch.logaddexp(positive_logits, negatives) - positive_logits
    return per_positive.sum(dim=1).mean()


class CollaborativeInfoNCE(nn.Module):
    """Columns: anchor, positive_1 .. positive_K (texts), label = [anchor id, positive ids]."""

    def __init__(self, model: nn.Module, temperature: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = embed_columns(self.model, sentence_features)
        return collaborative_info_nce(embeddings[0], torch.stack(embeddings[1:], dim=1), labels, self.temperature)

    def get_config_dict(self) -> dict[str, float]:
        return {"temperature": self.temperature}


class SelfAssessedInfoNCE(CrossEncoderMNRL):
    """Columns: query, positive, negative_1 .. negative_K. The sigmoid of the cross-encoder's logit
    plays the part of the paper's similarity, divided by the temperature."""

    def __init__(self, model: nn.Module, temperature: float = 0.02) -> None:
        # sentence-transformers types `model` as its CrossEncoder and `scale` as int; any module and float work.
        scale: Any = 1.0 / temperature
        super().__init__(model, num_negatives=None, scale=scale, activation_fn=nn.Sigmoid())  # type: ignore[arg-type]
        self.temperature = temperature

    def get_in_batch_negatives(
        self, anchors: list[str], candidates: list[list[str]]
    ) -> Generator[list[str], None, None]:
        yield from ()

"""DeepFM (Guo et al. 2017): a CTR model over fields (user id, item id, item attribute tokens).

logit = w0 + sum of first-order weights + FM second-order term over field embeddings + MLP over the
concatenated field embeddings. Item attributes (genres, categories, ...) enter as a bag of tokens
whose embeddings are averaged into one field. CoRAL warm-starts its policy from models like this.
Trained with BCE on labels (`auto` adds one sampled unseen item per positive when the data has no
negatives).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from colrec.cf.base import (
    EpochHook,
    Interactions,
    ModelConfig,
    Recommender,
    SeenIndex,
    batches,
    seed_everything,
    validation_auc,
)
from colrec.cf.data import item_tokens


@dataclass
class DeepFMConfig(ModelConfig):
    dim: int = 16
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.2
    weight_decay: float = 1e-6


class DeepFMModule(nn.Module):
    def __init__(self, n_users: int, n_items: int, n_tokens: int, cfg: DeepFMConfig) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, cfg.dim)
        self.item = nn.Embedding(n_items, cfg.dim)
        self.token = nn.EmbeddingBag(n_tokens + 1, cfg.dim, mode="mean", padding_idx=0)
        self.user_w = nn.Embedding(n_users, 1)
        self.item_w = nn.Embedding(n_items, 1)
        self.token_w = nn.EmbeddingBag(n_tokens + 1, 1, mode="mean", padding_idx=0)
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.user, self.item, self.token):
            nn.init.normal_(table.weight, std=0.01)
        for table in (self.user_w, self.item_w, self.token_w):
            nn.init.zeros_(table.weight)
        layers: list[nn.Module] = []
        width = 3 * cfg.dim
        for size in cfg.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = size
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, users: torch.Tensor, items: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        fields = torch.stack([self.user(users), self.item(items), self.token(tokens)], dim=1)  # [B, 3, d]
        first = self.user_w(users) + self.item_w(items) + self.token_w(tokens)
        second = 0.5 * (fields.sum(1).pow(2) - fields.pow(2).sum(1)).sum(-1, keepdim=True)
        deep = self.mlp(fields.flatten(1))
        return (self.bias + first + second + deep).squeeze(-1)


class DeepFM(Recommender):
    name = "deepfm"
    config_class = DeepFMConfig
    config: DeepFMConfig
    module: DeepFMModule

    def __init__(self, config: DeepFMConfig, n_users: int, n_items: int, item_tokens: np.ndarray | None = None) -> None:
        super().__init__(config, n_users, n_items)
        # item_tokens: [n_items, T] attribute token ids (1-based, 0 = pad); none given -> no attributes
        self.set_item_tokens(item_tokens if item_tokens is not None else np.zeros((n_items, 1)))

    def prepare(self, item_attributes: Sequence[str | None]) -> None:
        """The items' attribute tokens (before fit): rebuilds the network with their vocabulary."""
        self.set_item_tokens(item_tokens(list(item_attributes)))

    def set_item_tokens(self, tokens: np.ndarray) -> None:
        """Build the network for these tokens' vocabulary, seeded as a fresh model is."""
        seed_everything(self.config.seed)
        self.item_tokens = torch.as_tensor(tokens, dtype=torch.long)
        self.module = DeepFMModule(self.n_users, self.n_items, int(self.item_tokens.max()), self.config)

    def _forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.module(users, items, self.item_tokens[items])

    def fit(
        self, train: Interactions, valid: Interactions | None = None, on_epoch: EpochHook | None = None
    ) -> dict[str, Any]:
        cfg = self.config
        generator = seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        implicit = not train.has_negatives
        seen = SeenIndex(train.users, train.items, self.n_items)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def one_epoch() -> float:
            total = 0.0
            for idx in batches(len(train), cfg.batch_size, generator):
                rows = idx.numpy()
                users, items = torch.from_numpy(train.users[rows]), torch.from_numpy(train.items[rows])
                labels = torch.from_numpy(train.labels[rows])
                if implicit:
                    negatives = torch.from_numpy(seen.sample_negatives(train.users[rows], rng))
                    users, items = torch.cat([users, users]), torch.cat([items, negatives])
                    labels = torch.cat([labels, torch.zeros(len(rows))])
                loss = nn.functional.binary_cross_entropy_with_logits(self._forward(users, items), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            return total / max(len(train), 1)

        report = self._epochs(cfg.epochs, cfg.patience, one_epoch, validation_auc(self, valid), on_epoch)
        return {"loss": "bce", **report}

    @torch.no_grad()
    def score(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        self.module.eval()
        u, i = torch.as_tensor(users, dtype=torch.long), torch.as_tensor(items, dtype=torch.long)
        return torch.cat([self._forward(a, b) for a, b in zip(u.split(65536), i.split(65536), strict=True)]).numpy()

    def user_embeddings(self) -> np.ndarray:
        return self.module.user.weight.detach().numpy().copy()

    def item_embeddings(self) -> np.ndarray:
        with torch.no_grad():
            return (self.module.item.weight + self.module.token(self.item_tokens)).numpy()

    def _state(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "item_tokens": self.item_tokens}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.item_tokens = state["item_tokens"]
        self.module = DeepFMModule(self.n_users, self.n_items, int(self.item_tokens.max()), self.config)
        self.module.load_state_dict(state["module"])

"""Matrix factorisation: score(u, i) = p_u . q_i + b_u + b_i + b.

Two losses: `bpr` (Rendle et al. 2009) on positives with one uniformly sampled unseen item each,
for implicit feedback; `bce` on the given 0/1 labels, for CTR data such as the CoLLM split (the MF
baseline of CoLLM/SCORE). `auto` picks bce when the training data has negatives.
"""

from __future__ import annotations

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
from colrec.cf.side import SidePaths
from colrec.errors import ColrecError


@dataclass
class MFConfig(ModelConfig):
    loss: str = "auto"  # bpr | bce | auto
    init_std: float = 0.01
    # Lazy Adam on only the embedding rows a batch touches: a step then costs O(batch) instead of
    # O(users + items), which is what lets one machine train millions of users (benchmarks/cf_scale.py).
    sparse: bool = False


class MFModule(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, init_std: float, sparse: bool = False) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim, sparse=sparse)
        self.item = nn.Embedding(n_items, dim, sparse=sparse)
        self.user_bias = nn.Embedding(n_users, 1, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.user, self.item):
            nn.init.normal_(table.weight, std=init_std)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)
        self.side: SidePaths | None = None

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.side.user(users, self.user(users)) if self.side is not None else self.user(users)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.side.item(items, self.item(items)) if self.side is not None else self.item(items)

    def item_matrix(self) -> torch.Tensor:
        return self.side.all_items(self.item.weight) if self.side is not None else self.item.weight

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (self.user_vectors(users) * self.item_vectors(items)).sum(-1)
        return dot + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1) + self.bias

    def bpr_margin(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """score(u, pos) - score(u, neg) with one pass of each side path over the batch: the user
        vector is shared by both terms, and positives and negatives go through the item path together."""
        items = torch.cat([positives, negatives])
        both, item_bias = self.item_vectors(items), self.item_bias(items).squeeze(-1)
        n = len(users)
        return (self.user_vectors(users) * (both[:n] - both[n:])).sum(-1) + item_bias[:n] - item_bias[n:]


class MF(Recommender):
    name = "mf"
    config_class = MFConfig
    takes_side_features = True
    config: MFConfig
    module: MFModule

    def __init__(self, config: MFConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        seed_everything(config.seed)
        if config.sparse and config.weight_decay:
            raise ColrecError("mf: sparse updates take no weight decay (set one or the other)")
        self.module = MFModule(n_users, n_items, config.dim, config.init_std, config.sparse)
        self.loss = config.loss

    def fit(
        self, train: Interactions, valid: Interactions | None = None, on_epoch: EpochHook | None = None
    ) -> dict[str, Any]:
        cfg = self.config
        generator = seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.loss = ("bce" if train.has_negatives else "bpr") if cfg.loss == "auto" else cfg.loss
        data = train if self.loss == "bce" else train.positives()
        seen = SeenIndex(train.users, train.items, self.n_items)
        if self.module.side is not None:
            self.module.side.mark_trained(train.users, train.items)
        optimizer = _Optimizers(self.module, cfg)

        def one_epoch() -> float:
            total = 0.0
            for idx in batches(len(data), cfg.batch_size, generator):
                users = torch.from_numpy(data.users[idx.numpy()])
                items = torch.from_numpy(data.items[idx.numpy()])
                if self.loss == "bpr":
                    negatives = torch.from_numpy(seen.sample_negatives(users.numpy(), rng))
                    loss = -nn.functional.logsigmoid(self.module.bpr_margin(users, items, negatives)).mean()
                else:
                    labels = torch.from_numpy(data.labels[idx.numpy()])
                    loss = nn.functional.binary_cross_entropy_with_logits(self.module(users, items), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            return total / max(len(data), 1)

        report = self._epochs(cfg.epochs, cfg.patience, one_epoch, validation_auc(self, valid), on_epoch)
        return {"loss": self.loss, **report}

    @torch.no_grad()
    def score(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        self.module.eval()
        return self.module(torch.as_tensor(users, dtype=torch.long), torch.as_tensor(items, dtype=torch.long)).numpy()

    @torch.no_grad()
    def score_all(self, users: np.ndarray) -> np.ndarray:
        m = self.module
        u = torch.as_tensor(users, dtype=torch.long)
        scores = m.user_vectors(u) @ m.item_matrix().T + m.user_bias(u) + m.item_bias.weight.T + m.bias
        return scores.numpy()

    @torch.no_grad()
    def user_embeddings(self) -> np.ndarray:
        return self.module.user_vectors(torch.arange(self.n_users)).numpy().copy()

    @torch.no_grad()
    def item_embeddings(self) -> np.ndarray:
        return self.module.item_matrix().numpy().copy()

    def _entity_rows(self, previous: Recommender, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        return {"user.weight": users, "user_bias.weight": users, "item.weight": items, "item_bias.weight": items}

    def _state(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "loss": self.loss, **self._side_state()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._restore_side(state)
        self.module.load_state_dict(state["module"])
        self.loss = state["loss"]


class _Optimizers:
    """Adam, or with sparse embeddings SparseAdam on them and Adam on the dense rest (bias, side MLP)."""

    def __init__(self, module: MFModule, cfg: MFConfig) -> None:
        tables = [module.user, module.item, module.user_bias, module.item_bias]
        self.steps: list[torch.optim.Optimizer]
        if not cfg.sparse:
            self.steps = [torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)]
            return
        sparse = {id(t.weight) for t in tables}
        dense = [p for p in module.parameters() if id(p) not in sparse]
        self.steps = [torch.optim.SparseAdam([t.weight for t in tables], lr=cfg.lr), torch.optim.Adam(dense, lr=cfg.lr)]

    def zero_grad(self) -> None:
        for optimizer in self.steps:
            optimizer.zero_grad()

    def step(self) -> None:
        for optimizer in self.steps:
            optimizer.step()

"""LightGCN (He et al. 2020): ID embeddings propagated over the normalised user-item graph,
E^{k+1} = D^-1/2 A D^-1/2 E^k, final embedding = mean of layers 0..K, score = dot product.
Trained with BPR (implicit) or BCE on labels, as MF.
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


@dataclass
class LightGCNConfig(ModelConfig):
    layers: int = 3
    reg: float = 1e-4  # L2 on the layer-0 embeddings of each batch
    loss: str = "auto"  # bpr | bce | auto
    batch_size: int = 2048
    lr: float = 2e-3


def normalised_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """Symmetric D^-1/2 A D^-1/2 of the bipartite graph, as a sparse (n_users+n_items)^2 tensor."""
    pairs = np.unique(np.stack([users, items], axis=1), axis=0)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1] + n_users])
    cols = np.concatenate([pairs[:, 1] + n_users, pairs[:, 0]])
    n = n_users + n_items
    degree = np.bincount(rows, minlength=n).astype(np.float32)
    inv_sqrt = np.zeros(n, dtype=np.float32)
    np.power(degree, -0.5, out=inv_sqrt, where=degree > 0)
    values = inv_sqrt[rows] * inv_sqrt[cols]
    index = torch.from_numpy(np.stack([rows, cols]))
    return torch.sparse_coo_tensor(index, torch.from_numpy(values), (n, n), check_invariants=True).coalesce()


class LightGCNModule(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, layers: int) -> None:
        super().__init__()
        self.n_users = n_users
        self.layers = layers
        self.embedding = nn.Embedding(n_users + n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.adjacency: torch.Tensor | None = None
        self.side: SidePaths | None = None

    def layer0(self) -> torch.Tensor:
        """The ID embeddings, fused with the side vectors where the model has them."""
        if self.side is None:
            return self.embedding.weight
        table = self.embedding.weight
        return torch.cat([self.side.all_users(table[: self.n_users]), self.side.all_items(table[self.n_users :])])

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.adjacency is not None, "fit() builds the graph first"
        layer = self.layer0()
        total = layer
        for _ in range(self.layers):
            layer = torch.sparse.mm(self.adjacency, layer)
            total = total + layer
        final = total / (self.layers + 1)
        return final[: self.n_users], final[self.n_users :]


class LightGCN(Recommender):
    name = "lightgcn"
    config_class = LightGCNConfig
    takes_side_features = True
    config: LightGCNConfig
    module: LightGCNModule

    def __init__(self, config: LightGCNConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        seed_everything(config.seed)
        self.module = LightGCNModule(n_users, n_items, config.dim, config.layers)
        self.loss = config.loss
        self._final: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(
        self, train: Interactions, valid: Interactions | None = None, on_epoch: EpochHook | None = None
    ) -> dict[str, Any]:
        cfg = self.config
        generator = seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.loss = ("bce" if train.has_negatives else "bpr") if cfg.loss == "auto" else cfg.loss
        positives = train.positives()
        self.module.adjacency = normalised_adjacency(positives.users, positives.items, self.n_users, self.n_items)
        data = train if self.loss == "bce" else positives
        seen = SeenIndex(train.users, train.items, self.n_items)
        if self.module.side is not None:
            self.module.side.mark_trained(train.users, train.items)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def one_epoch() -> float:
            self._final = None
            total = 0.0
            for idx in batches(len(data), cfg.batch_size, generator):
                users = torch.from_numpy(data.users[idx.numpy()])
                items = torch.from_numpy(data.items[idx.numpy()])
                user_emb, item_emb = self.module.propagate()
                pos = (user_emb[users] * item_emb[items]).sum(-1)
                base = self.module.embedding.weight
                if self.loss == "bpr":
                    negatives = torch.from_numpy(seen.sample_negatives(users.numpy(), rng))
                    neg = (user_emb[users] * item_emb[negatives]).sum(-1)
                    loss = -nn.functional.logsigmoid(pos - neg).mean()
                    reg_rows = torch.cat([users, items + self.n_users, negatives + self.n_users])
                else:
                    labels = torch.from_numpy(data.labels[idx.numpy()])
                    loss = nn.functional.binary_cross_entropy_with_logits(pos, labels)
                    reg_rows = torch.cat([users, items + self.n_users])
                loss = loss + cfg.reg * base[reg_rows].pow(2).sum() / (2 * len(idx))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            self._final = None  # the weights moved: propagate again before scoring
            return total / max(len(data), 1)

        report = self._epochs(cfg.epochs, cfg.patience, one_epoch, validation_auc(self, valid), on_epoch)
        self._final = None  # the best epoch's weights are back
        return {"loss": self.loss, **report}

    @torch.no_grad()
    def _embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._final is None:
            self.module.eval()
            self._final = self.module.propagate()
        return self._final

    def score(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        user_emb, item_emb = self._embeddings()
        u = torch.as_tensor(users, dtype=torch.long)
        i = torch.as_tensor(items, dtype=torch.long)
        return (user_emb[u] * item_emb[i]).sum(-1).numpy()

    def score_all(self, users: np.ndarray) -> np.ndarray:
        user_emb, item_emb = self._embeddings()
        return (user_emb[torch.as_tensor(users, dtype=torch.long)] @ item_emb.T).numpy()

    def user_embeddings(self) -> np.ndarray:
        return self._embeddings()[0].numpy().copy()

    def item_embeddings(self) -> np.ndarray:
        return self._embeddings()[1].numpy().copy()

    def _entity_rows(self, previous: Recommender, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        # one table: users first, then items
        return {"embedding.weight": np.concatenate([users, np.where(items >= 0, items + previous.n_users, -1)])}

    def _state(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "adjacency": self.module.adjacency, "loss": self.loss,
                **self._side_state()}  # fmt: skip

    def _load_state(self, state: dict[str, Any]) -> None:
        self._restore_side(state)
        self.module.load_state_dict(state["module"])
        self.module.adjacency = state["adjacency"]
        self.loss = state["loss"]
        self._final = None

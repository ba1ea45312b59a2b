"""SASRec (Kang & McAuley 2018) for scoring a target item after a user's history.

Each event (u, i, t) is scored from u's last `max_len` positive items strictly before t: the
history plus a query token go through a transformer encoder, and the query token's output h gives
score = h . e_i + b_i. Trained with BCE on labels (CTR data: the SASRec baseline of CoLLM/SCORE) or,
for implicit data, on positives with one sampled unseen item each (`auto` picks). The history of
later events (valid/test) comes from `extend_history`: a past event's label is known by the time
of the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
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
)
from colrec.metrics import auc

_TIME_SPAN = 1 << 33  # > any unix-second timestamp: user * span + ts is a sortable key


@dataclass
class SASRecConfig(ModelConfig):
    max_len: int = 20
    layers: int = 2
    heads: int = 1
    dropout: float = 0.2
    loss: str = "auto"  # bce | bpr-sampled (implicit data) | auto
    batch_size: int = 256
    weight_decay: float = 1e-6


class SASRecModule(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.query_token = n_items + 1
        self.item = nn.Embedding(n_items + 2, cfg.dim, padding_idx=0)  # 0 pad, 1..n items, n+1 query
        self.position = nn.Embedding(cfg.max_len + 1, cfg.dim)
        self.item_bias = nn.Embedding(n_items + 2, 1)
        nn.init.normal_(self.item.weight, std=0.02)
        nn.init.zeros_(self.item_bias.weight)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, dim_feedforward=cfg.dim * 2, dropout=cfg.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.scale = math.sqrt(cfg.dim)

    def encode(self, history: torch.Tensor) -> torch.Tensor:
        """history [B, L] of item ids + 1, left-padded with 0 -> h [B, dim]."""
        query = torch.full((history.size(0), 1), self.query_token, dtype=torch.long)
        tokens = torch.cat([history, query], dim=1)
        x = self.item(tokens) * self.scale + self.position.weight[: tokens.size(1)]
        x = self.encoder(self.dropout(x), src_key_padding_mask=tokens == 0)
        return self.norm(x[:, -1])

    def forward(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = self.encode(history)
        return (h * self.item(target + 1)).sum(-1) + self.item_bias(target + 1).squeeze(-1)


class SASRec(Recommender):
    name = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig
    module: SASRecModule

    def __init__(self, config: SASRecConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        seed_everything(config.seed)
        self.module = SASRecModule(n_items, config)
        self.loss = config.loss
        self._set_history(Interactions(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)))

    # --- history ------------------------------------------------------------------------------
    def _set_history(self, events: Interactions) -> None:
        pos = events.positives()
        keys = pos.users * _TIME_SPAN + pos.ts
        # One entry per (user, time, item): an event given twice (a history extended with rows it
        # already holds) must not count twice in what the model looks back on.
        order = np.argsort(keys, kind="stable")
        keys, items = keys[order], pos.items[order]
        _, first = np.unique(np.stack([keys, items], axis=1), axis=0, return_index=True)
        keep = np.sort(first)  # the first of each, in time order (ties as given)
        self._keys, self._items = keys[keep], items[keep]
        self._user_start = np.searchsorted(self._keys, np.arange(self.n_users + 1) * _TIME_SPAN)

    def history(self) -> Interactions:
        """The positive events scoring looks back on (what `set_history` restores)."""
        return Interactions(self._keys // _TIME_SPAN, self._items, np.ones(self._items.size), self._keys % _TIME_SPAN)

    def set_history(self, events: Interactions) -> None:
        self._set_history(events)

    def extend_history(self, events: Interactions) -> None:
        """Add later events (e.g. valid and test) to the history that scoring looks back on."""
        self._set_history(self.history().concat(events))

    def observe(self, events: Interactions) -> None:
        self.extend_history(events)

    @contextmanager
    def observing(self) -> Iterator[None]:
        trained_on = self.history()
        try:
            yield
        finally:
            self.set_history(trained_on)

    def histories(self, users: np.ndarray, ts: np.ndarray | None) -> torch.Tensor:
        """[N, max_len] item ids + 1 of each user's last positives strictly before ts (0 = pad)."""
        users = np.asarray(users, dtype=np.int64)
        ts = np.full(users.size, _TIME_SPAN - 1) if ts is None else np.asarray(ts, dtype=np.int64)
        end = np.searchsorted(self._keys, users * _TIME_SPAN + ts, side="left")
        start = self._user_start[users]
        positions = end[:, None] - 1 - np.arange(self.config.max_len)[None, :]  # newest first
        valid = positions >= start[:, None]
        newest_first = np.where(
            valid, self._items[np.clip(positions, 0, max(self._items.size - 1, 0))] + 1 if self._items.size else 0, 0
        )
        return torch.from_numpy(np.ascontiguousarray(newest_first[:, ::-1]))

    # --- training -----------------------------------------------------------------------------
    def fit(
        self, train: Interactions, valid: Interactions | None = None, on_epoch: EpochHook | None = None
    ) -> dict[str, Any]:
        cfg = self.config
        generator = seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.loss = ("bce" if train.has_negatives else "bpr-sampled") if cfg.loss == "auto" else cfg.loss
        self._set_history(train)
        data = train if self.loss == "bce" else train.positives()
        seen = SeenIndex(train.users, train.items, self.n_items)
        train_histories = self.histories(data.users, data.ts)
        valid_histories = None
        if valid is not None and len(valid):
            self.extend_history(valid)  # valid events see earlier valid events, never later ones
            valid_histories = self.histories(valid.users, valid.ts)
            self._set_history(train)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def one_epoch() -> float:
            total = 0.0
            for idx in batches(len(data), cfg.batch_size, generator):
                rows = idx.numpy()
                hist, targets = train_histories[idx], torch.from_numpy(data.items[rows])
                labels = torch.from_numpy(data.labels[rows])
                if self.loss != "bce":  # implicit: each positive against one sampled unseen item
                    negatives = torch.from_numpy(seen.sample_negatives(data.users[rows], rng))
                    hist = torch.cat([hist, hist])
                    targets = torch.cat([targets, negatives])
                    labels = torch.cat([labels, torch.zeros(len(rows))])
                loss = nn.functional.binary_cross_entropy_with_logits(self.module(hist, targets), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            return total / max(len(data), 1)

        valid_auc = None
        if valid_histories is not None and valid is not None:
            held, seen_later = valid_histories, valid

            def valid_auc() -> float:
                return auc(seen_later.labels, self._score_histories(held, seen_later.items))

        report = self._epochs(cfg.epochs, cfg.patience, one_epoch, valid_auc, on_epoch)
        return {"loss": self.loss, **report}

    # --- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def _score_histories(self, histories: torch.Tensor, items: np.ndarray) -> np.ndarray:
        self.module.eval()
        targets = torch.as_tensor(items, dtype=torch.long)
        return torch.cat(
            [self.module(h, t) for h, t in zip(histories.split(4096), targets.split(4096), strict=True)]
        ).numpy()

    def score(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        return self._score_histories(self.histories(users, ts), items)

    @torch.no_grad()
    def _user_states(self, users: np.ndarray) -> torch.Tensor:
        self.module.eval()
        return torch.cat([self.module.encode(h) for h in self.histories(users, None).split(4096)])

    @torch.no_grad()
    def score_all(self, users: np.ndarray) -> np.ndarray:
        h = self._user_states(np.asarray(users))
        items = self.module.item.weight[1 : self.n_items + 1]
        return (h @ items.T + self.module.item_bias.weight[1 : self.n_items + 1].T).numpy()

    def user_embeddings(self) -> np.ndarray:
        return self._user_states(np.arange(self.n_users)).numpy()

    def item_embeddings(self) -> np.ndarray:
        return self.module.item.weight[1 : self.n_items + 1].detach().numpy().copy()

    def _entity_rows(self, previous: Recommender, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        # rows: 0 the padding, 1..n the items, n+1 the query token
        table = np.concatenate([[0], np.where(items >= 0, items + 1, -1), [previous.n_items + 1]])
        return {"item.weight": table, "item_bias.weight": table}

    def _state(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "keys": self._keys, "items": self._items, "loss": self.loss}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self._keys, self._items, self.loss = state["keys"], state["items"], state["loss"]
        self._user_start = np.searchsorted(self._keys, np.arange(self.n_users + 1) * _TIME_SPAN)

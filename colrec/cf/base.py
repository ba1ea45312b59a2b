"""The interface every collaborative model implements, and the data it trains on.

Users and items are contiguous indices 0..n-1 (the store's ids are mapped by the caller). A model
trains on `Interactions` (users, items, 0/1 labels, unix-second timestamps), scores pairs, ranks all
items for a user with seen items excluded, exposes user/item embeddings, and round-trips through
save/load with its config inside the file (as nanoGPT's checkpoints do).
"""

from __future__ import annotations

import dataclasses
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from colrec.cf.side import ENTITY_BUFFERS, SideFeatures, SidePaths
from colrec.metrics import auc

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class Interactions:
    users: np.ndarray  # int64 user index
    items: np.ndarray  # int64 item index
    labels: np.ndarray  # float32 0/1
    ts: np.ndarray  # int64 unix seconds (order of events)

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.float32)
        self.ts = np.asarray(self.ts, dtype=np.int64) if len(self.ts) else np.zeros(len(self.users), np.int64)

    def __len__(self) -> int:
        return int(self.users.size)

    def positives(self) -> Interactions:
        keep = self.labels > 0.5
        return Interactions(self.users[keep], self.items[keep], self.labels[keep], self.ts[keep])

    def concat(self, other: Interactions) -> Interactions:
        return Interactions(*(np.concatenate([a, b]) for a, b in zip(self._arrays(), other._arrays(), strict=True)))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.users, self.items, self.labels, self.ts

    @property
    def has_negatives(self) -> bool:
        return bool((self.labels < 0.5).any())


@dataclass
class ModelConfig:
    """Fields every model shares; each model's config extends it."""

    dim: int = 64
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    patience: int = 3  # epochs without a better validation AUC before stopping (0: never stop early)
    side_hidden: int = 128  # hidden width of the side-feature MLP (models that take side features)
    side_id_dropout: float = 0.3  # share of entities trained on their side vector alone each step


class Recommender(ABC):
    name: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]
    takes_side_features: ClassVar[bool] = False  # RecLM's profile fusion (colrec.cf.side)
    module: nn.Module  # the network; each model builds its own in __init__

    def __init__(self, config: ModelConfig, n_users: int, n_items: int) -> None:
        self.config = config
        self.n_users = n_users
        self.n_items = n_items
        # the store ids of rows 0..n-1, saved with the model so a later model can warm-start from it
        self.user_ids: np.ndarray | None = None
        self.item_ids: np.ndarray | None = None

    # --- what a model takes from the window besides interactions ---------------------------
    def prepare(self, item_attributes: Sequence[str | None]) -> None:
        """Before fit: the items' attributes (JSON text per item index), for a model that uses them
        (DeepFM's attribute tokens); the others ignore them."""
        return None

    def observe(self, events: Interactions) -> None:
        """Events a later score or list may look back on (valid and test after training, everything
        before a night's lists): a sequential model (SASRec) adds them to its history, others ignore them."""
        return None

    @contextmanager
    def observing(self) -> Iterator[None]:
        """A block whose `observe` calls are forgotten at its end: the model is left as it came."""
        yield

    # --- training -------------------------------------------------------------------------
    @abstractmethod
    def fit(
        self, train: Interactions, valid: Interactions | None = None, on_epoch: EpochHook | None = None
    ) -> dict[str, Any]:
        """Train; with `valid`, keep the epoch with the best validation AUC. Returns a report."""

    def _epochs(self, epochs: int, patience: int, one_epoch: Callable[[], float],
                valid_auc: Callable[[], float] | None, on_epoch: EpochHook | None) -> dict[str, Any]:  # fmt: skip
        """The loop every model shares: `one_epoch` (returns its mean loss), the validation AUC, the
        hook, early stopping on that AUC, and the best epoch's weights restored at the end."""
        stopper, history = EarlyStopping(patience), []
        for epoch in range(epochs):
            self.module.train()
            stats = {"loss": one_epoch()}
            if valid_auc is not None:
                stats["valid_auc"] = valid_auc()
            history.append(stats)
            if on_epoch:
                on_epoch(epoch, stats)
            if "valid_auc" in stats and stopper.update(epoch, stats["valid_auc"], self.module):
                break
        stopper.restore(self.module)
        return {"epochs_run": len(history), "best_epoch": stopper.best_epoch, "history": history}

    # --- inference ------------------------------------------------------------------------
    @abstractmethod
    def score(self, users: np.ndarray, items: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        """Scores (higher = more likely positive) for pairs; `ts` lets sequential models use only
        the history before each event."""

    @abstractmethod
    def user_embeddings(self) -> np.ndarray: ...

    @abstractmethod
    def item_embeddings(self) -> np.ndarray: ...

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """[len(users), n_items] scores; models with a dot-product form override it."""
        users = np.asarray(users, dtype=np.int64)
        grid_u = np.repeat(users, self.n_items)
        grid_i = np.tile(np.arange(self.n_items), users.size)
        return self.score(grid_u, grid_i).reshape(users.size, self.n_items)

    def recommend(
        self, users: np.ndarray, k: int, exclude: dict[int, np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per user, the top-k item indices and their scores, best first, items in `exclude[user]`
        left out: a user with fewer than k items left gets a shorter list, never an excluded item."""
        k = min(k, self.n_items)
        items_out: list[np.ndarray] = []
        scores_out: list[np.ndarray] = []
        for start in range(0, len(users), 256):
            chunk = np.array(users[start : start + 256], dtype=np.int64)  # writable: torch wants that
            scores = self.score_all(chunk).astype(np.float32)
            for row, user in enumerate(chunk):
                if exclude is not None and int(user) in exclude:
                    scores[row, exclude[int(user)]] = -np.inf
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            ranked = np.take_along_axis(top, order, axis=1)
            ranked_scores = np.take_along_axis(scores, ranked, axis=1)
            for row_items, row_scores in zip(ranked, ranked_scores, strict=True):
                left = np.isfinite(row_scores)  # -inf: excluded, filling a list longer than what remains
                items_out.append(row_items[left])
                scores_out.append(row_scores[left])
        return items_out, scores_out

    # --- side features (profile fusion) -----------------------------------------------------
    @classmethod
    def side_features_refusal(cls) -> str | None:
        """Why this model cannot fuse side vectors, or None when it can."""
        return None if cls.takes_side_features else f"{cls.name} models take no side features (mf and lightgcn do)"

    def set_side_features(self, side: SideFeatures) -> None:
        """Fuse user/item side vectors (profile or text embeddings) into the ID embeddings; before fit."""
        if why := self.side_features_refusal():
            raise ValueError(why)
        for kind, matrix, rows in (("user", side.users, self.n_users), ("item", side.items, self.n_items)):
            if matrix is not None and matrix.shape[0] != rows:
                raise ValueError(f"{kind} side vectors: {matrix.shape[0]} rows for {rows} {kind}s")
        seed_everything(self.config.seed)
        cfg = self.config
        self.module.side = SidePaths(side, cfg.dim, cfg.side_hidden, cfg.side_id_dropout)

    def _side_state(self) -> dict[str, Any]:
        side = getattr(self.module, "side", None)
        return {"side": side.shapes() if side is not None else None}

    def _restore_side(self, state: dict[str, Any]) -> None:
        if state.get("side"):
            cfg = self.config
            self.module.side = SidePaths.from_shapes(state["side"], cfg.dim, cfg.side_hidden, cfg.side_id_dropout)

    # --- warm start -----------------------------------------------------------------------
    def _entity_rows(self, previous: Recommender, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray] | None:
        """For each parameter whose rows are users or items: the row of `previous` for each of this
        model's rows (-1: new, keeps its initialisation). None: the model cannot warm-start."""
        return None

    @classmethod
    def can_warm_start(cls) -> bool:
        return cls._entity_rows is not Recommender._entity_rows

    def warm_start(self, previous: Recommender, users: np.ndarray, items: np.ndarray) -> None:
        """Start training from `previous` (the same kind of model, e.g. last night's): `users[i]` is
        the previous index of this model's user i, or -1 for a user it did not know; same for items.
        A nightly refresh then needs a few epochs instead of a full training."""
        if type(previous) is not type(self):
            raise ValueError(f"a {self.name} model cannot warm-start from a {previous.name} model")
        rows = self._entity_rows(previous, np.asarray(users, np.int64), np.asarray(items, np.int64))
        if rows is None:
            raise ValueError(f"{self.name} models do not warm-start")
        old, new = previous.module.state_dict(), self.module.state_dict()
        if old.keys() != new.keys():
            raise ValueError("the previous model has other parts (side features on one side only?)")
        for name, tensor in new.items():
            if name.rsplit(".", 1)[-1] in ENTITY_BUFFERS:
                continue  # tonight's own side vectors and masks
            if name in rows:
                source = torch.as_tensor(rows[name])
                known = torch.nonzero(source >= 0).squeeze(1)
                tensor[known] = old[name][source[known]]
            elif old[name].shape == tensor.shape:
                tensor.copy_(old[name])
            else:
                raise ValueError(f"cannot warm-start {name}: shape {tuple(old[name].shape)} -> {tuple(tensor.shape)}")
        self.module.load_state_dict(new)

    # --- persistence ----------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Tensors and arrays needed to rebuild the trained model."""

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None: ...

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "state": self._state(),
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)  # a crash never leaves a half-written artifact under the real name

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Recommender:
        """The model `save` wrote (registry.load picks the class by the payload's name)."""
        config = cls.config_class(**_tuples(payload["config"]))
        model = cls(config, payload["n_users"], payload["n_items"])
        model._load_state(payload["state"])
        model.user_ids, model.item_ids = payload.get("user_ids"), payload.get("item_ids")
        return model


def _tuples(config: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


class SeenIndex:
    """Which items each user has interacted with, for sampling negatives fast."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int) -> None:
        self.n_items = n_items
        self.keys = np.unique(users.astype(np.int64) * n_items + items.astype(np.int64))

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items.astype(np.int64)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, self.keys.size - 1)
        return self.keys[pos] == keys

    def sample_negatives(self, users: np.ndarray, rng: np.random.Generator, tries: int = 10) -> np.ndarray:
        items = rng.integers(0, self.n_items, size=users.size)
        for _ in range(tries):
            clash = self.contains(users, items)
            if not clash.any():
                break
            items[clash] = rng.integers(0, self.n_items, size=int(clash.sum()))
        return items


def validation_auc(model: Recommender, valid: Interactions | None) -> Callable[[], float] | None:
    """The validation AUC a model's epochs stop on (None without valid pairs): its pair scores."""
    if valid is None or not len(valid):
        return None
    return lambda: auc(valid.labels, model.score(valid.users, valid.items))


class EarlyStopping:
    """Keeps the state of the epoch with the best validation metric."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, metric: float, module: torch.nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if metric > self.best:
            self.best, self.best_epoch = metric, epoch
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return self.patience > 0 and epoch - self.best_epoch >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

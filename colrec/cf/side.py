"""RecLM's profile fusion: side vectors (LLM profile embeddings, item text embeddings, or both side
by side) mapped into the CF space by a small MLP and added to the ID embeddings.

An entity with no training interaction has an ID embedding that never learned anything, so its ID
part is dropped and it is represented by its side vector alone: that is what gives a zero-shot item
a meaningful score. An entity without a side vector (a row of zeros, `has_side` false) keeps its ID
part only. MF and LightGCN take this path as an option (`set_side_features`), with the same training
code as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Buffers that describe tonight's entities, never carried over by a warm start.
ENTITY_BUFFERS = ("features", "has_side", "has_id")


@dataclass(frozen=True)
class SideFeatures:
    """Row i is the side vector of user/item index i; None: that side has none."""

    users: np.ndarray | None = None
    items: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.users is None and self.items is None:
            raise ValueError("side features need user or item vectors")


class SidePath(nn.Module):
    # Buffers (saved with the weights, never trained), declared so their type is known.
    features: torch.Tensor
    has_side: torch.Tensor
    has_id: torch.Tensor

    def __init__(self, features: np.ndarray, dim: int, hidden: int, id_dropout: float = 0.0) -> None:
        super().__init__()
        # While training, drop the ID part of this share of entities (DropoutNet's trick): the MLP
        # must then carry them alone, as it will for cold entities; otherwise it learns little.
        self.id_dropout = id_dropout
        matrix = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.register_buffer("features", matrix)
        self.register_buffer("has_side", (matrix.abs().sum(1) > 0).float().unsqueeze(1))
        self.register_buffer("has_id", torch.ones(matrix.shape[0], 1))
        self.mlp = nn.Sequential(nn.Linear(matrix.shape[1], hidden), nn.GELU(), nn.Linear(hidden, dim))

    def mark_trained(self, indices: np.ndarray) -> None:
        """Only entities with training interactions keep their ID part."""
        seen = np.zeros(self.has_id.shape[0], dtype=np.float32)
        seen[np.asarray(indices, dtype=np.int64)] = 1.0
        self.has_id.copy_(torch.from_numpy(seen).unsqueeze(1))

    def forward(self, ids: torch.Tensor, id_vectors: torch.Tensor) -> torch.Tensor:
        # A batch names popular entities many times over; the MLP runs once per distinct one.
        distinct, rows = torch.unique(ids, return_inverse=True)
        mapped = self.mlp(self.features[distinct])[rows]
        return self._fuse(id_vectors, mapped, self.has_id[ids], self.has_side[ids])

    def fuse_all(self, table: torch.Tensor) -> torch.Tensor:
        return self._fuse(table, self.mlp(self.features), self.has_id, self.has_side)

    def _fuse(self, id_vectors: torch.Tensor, mapped: torch.Tensor, has_id: torch.Tensor,
              has_side: torch.Tensor) -> torch.Tensor:  # fmt: skip
        keep = has_id
        if self.training and self.id_dropout > 0:  # only entities with a side vector can lose their ID part
            keep = has_id - (torch.rand_like(has_id) < self.id_dropout).float() * has_id * has_side
        return id_vectors * keep + mapped * has_side


class SidePaths(nn.Module):
    """The user and item paths of one model (either may be absent)."""

    def __init__(self, side: SideFeatures, dim: int, hidden: int, id_dropout: float = 0.0) -> None:
        super().__init__()
        self.users = SidePath(side.users, dim, hidden, id_dropout) if side.users is not None else None
        self.items = SidePath(side.items, dim, hidden, id_dropout) if side.items is not None else None

    def mark_trained(self, users: np.ndarray, items: np.ndarray) -> None:
        if self.users is not None:
            self.users.mark_trained(users)
        if self.items is not None:
            self.items.mark_trained(items)

    def user(self, ids: torch.Tensor, id_vectors: torch.Tensor) -> torch.Tensor:
        return self.users(ids, id_vectors) if self.users is not None else id_vectors

    def item(self, ids: torch.Tensor, id_vectors: torch.Tensor) -> torch.Tensor:
        return self.items(ids, id_vectors) if self.items is not None else id_vectors

    def all_users(self, table: torch.Tensor) -> torch.Tensor:
        return self.users.fuse_all(table) if self.users is not None else table

    def all_items(self, table: torch.Tensor) -> torch.Tensor:
        return self.items.fuse_all(table) if self.items is not None else table

    def shapes(self) -> dict[str, tuple[int, int] | None]:
        """What `from_shapes` needs to rebuild the paths before loading their weights."""
        return {
            "users": _shape(self.users.features) if self.users is not None else None,
            "items": _shape(self.items.features) if self.items is not None else None,
        }

    @classmethod
    def from_shapes(
        cls, shapes: dict[str, tuple[int, int] | None], dim: int, hidden: int, id_dropout: float = 0.0
    ) -> SidePaths:
        def zeros(shape: tuple[int, int] | None) -> np.ndarray | None:
            return np.zeros(shape, dtype=np.float32) if shape is not None else None

        return cls(SideFeatures(zeros(shapes["users"]), zeros(shapes["items"])), dim, hidden, id_dropout)


def _shape(matrix: torch.Tensor) -> tuple[int, int]:
    rows, columns = matrix.shape
    return int(rows), int(columns)

"""CAR: a sentence encoder fine-tuned so that a user's behaviour text lands near those of its
collaborative (SASRec) neighbours (SCORE eq. 3-6), trained by sentence-transformers' trainer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colrec import training
from colrec.retrieval.losses import CollaborativeInfoNCE, collaborative_info_nce


@dataclass(frozen=True)
class CarConfig:
    kc: int = 5  # collaborative neighbours per user used as positives
    temperature: float = 0.1
    batch_size: int = 16
    epochs: int = 1
    lr: float = 2e-5
    max_seq_length: int = 256
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CarExamples:
    users: list[int]
    anchors: list[str]
    positives: list[list[str]]  # kc texts per user
    ids: list[list[int]]  # [user, its kc neighbours]

    def to_dataset(self) -> Any:
        from datasets import Dataset

        columns: dict[str, Any] = {"anchor": self.anchors}
        for k in range(len(self.positives[0]) if self.positives else 0):
            columns[f"positive_{k + 1}"] = [p[k] for p in self.positives]
        columns["label"] = self.ids
        return Dataset.from_dict(columns)


def car_examples(texts: Mapping[int, str], neighbours: Mapping[int, Sequence[int]], users: Sequence[int],
                 kc: int) -> CarExamples:  # fmt: skip
    """One example per user that has a text and at least kc neighbours with texts."""
    out = CarExamples([], [], [], [])
    for user in users:
        near = [n for n in neighbours.get(user, ()) if n in texts and n != user][:kc]
        if user not in texts or len(near) < kc:
            continue
        out.users.append(user)
        out.anchors.append(texts[user])
        out.positives.append([texts[n] for n in near])
        out.ids.append([user, *near])
    return out


def load_encoder(path: Path, max_seq_length: int | None = None) -> Any:
    from sentence_transformers import SentenceTransformer

    training.quiet_loading()
    model = SentenceTransformer(str(path), device="cpu" if not torch.cuda.is_available() else None,
                                local_files_only=True)  # fmt: skip
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def encode(model: Any, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    vectors = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def mean_loss(model: Any, examples: CarExamples, config: CarConfig) -> float:
    """Eq. 6 over the examples in the training batch size, without gradients: the before/after figure."""
    losses = []
    for start in range(0, len(examples.anchors), config.batch_size):
        end = start + config.batch_size
        anchors = torch.from_numpy(encode(model, examples.anchors[start:end]))
        flat = [t for row in examples.positives[start:end] for t in row]
        positives = torch.from_numpy(encode(model, flat)).reshape(anchors.shape[0], config.kc, -1)
        ids = torch.tensor(examples.ids[start:end])
        losses.append(float(collaborative_info_nce(anchors, positives, ids, config.temperature)))
    return float(np.mean(losses)) if losses else float("nan")


def train_car(base: Path, examples: CarExamples, config: CarConfig, out: Path) -> dict[str, float]:
    """Fine-tune the encoder at `base` into `out`; returns the loss before and after."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    if len(examples.anchors) < 2:
        raise ValueError("CAR needs at least two users with neighbours to train on")
    torch.manual_seed(config.seed)  # a new head starts from the seed, not from whatever ran before
    model = load_encoder(base, config.max_seq_length)
    before = mean_loss(model, examples, config)
    args = SentenceTransformerTrainingArguments(
        **training.arguments(out, config.epochs, config.batch_size, config.lr, config.seed)
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=examples.to_dataset(),
        loss=CollaborativeInfoNCE(model, config.temperature),
    )
    training.quiet(trainer, "CAR").train()
    after = mean_loss(model, examples, config)
    model.save(str(out))
    return {"car_loss_before": round(before, 4), "car_loss_after": round(after, 4)}


def neighbour_overlap(retrieved: Mapping[int, Sequence[int]], reference: Mapping[int, Sequence[int]],
                      k: int) -> dict[str, float]:  # fmt: skip
    """How well a retriever's top-k agrees with the collaborative neighbours, over users in both:
    overlap = mean |top-k ∩ reference top-k| / k; hit = share of users with any reference neighbour in top-k."""
    users = [u for u in reference if u in retrieved and reference[u]]
    if not users:
        return {"overlap": float("nan"), "hit": float("nan")}
    overlap = [len(set(retrieved[u][:k]) & set(reference[u][:k])) / k for u in users]
    hit = [bool(set(retrieved[u][:k]) & set(reference[u])) for u in users]
    return {"overlap": float(np.mean(overlap)), "hit": float(np.mean(hit))}

"""SARE: the self-assessment ranking (SCORE eq. 7-9) and the cross-encoder reranker fine-tuned on
it (eq. 10-12) with sentence-transformers' CrossEncoderTrainer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colrec import training
from colrec.retrieval.losses import SelfAssessedInfoNCE


@dataclass(frozen=True)
class SareConfig:
    threshold: int = 5  # negatives come from ranks after this one (K2 of eq. 11)
    negatives: int = 3  # how many are sampled (K1)
    temperature: float = 0.02
    batch_size: int = 16
    epochs: int = 1
    lr: float = 2e-5
    max_length: int = 384
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assessment_order(assessment: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Eq. 9: candidate indices by cosine with the assessment, best first (normalised vectors;
    ties broken by the retriever's order)."""
    return np.argsort(-(candidates @ assessment), kind="stable")


@dataclass(frozen=True)
class SareExamples:
    queries: list[str]
    positives: list[str]
    negatives: list[list[str]]

    def to_dataset(self) -> Any:
        from datasets import Dataset

        columns: dict[str, Any] = {"query": self.queries, "positive": self.positives}
        for k in range(len(self.negatives[0]) if self.negatives else 0):
            columns[f"negative_{k + 1}"] = [n[k] for n in self.negatives]
        return Dataset.from_dict(columns)


def sare_examples(queries: Sequence[str], ranked: Sequence[Sequence[str]], config: SareConfig) -> SareExamples:
    """Eq. 11: top-1 of each ranking is the positive; `negatives` are sampled without replacement
    from the ranks after `threshold`. Rankings too short to sample from are skipped."""
    rng = np.random.default_rng(config.seed)
    out = SareExamples([], [], [])
    for query, ranking in zip(queries, ranked, strict=True):
        tail = list(ranking[config.threshold :])
        if len(tail) < config.negatives:
            continue
        picked = rng.choice(len(tail), size=config.negatives, replace=False)
        out.queries.append(query)
        out.positives.append(ranking[0])
        out.negatives.append([tail[i] for i in sorted(picked)])
    return out


def load_reranker(path: Path, max_length: int | None = None) -> Any:
    """A cross-encoder with one output. From a plain encoder (no head saved) the head starts random."""
    from sentence_transformers import CrossEncoder

    training.quiet_loading()
    device = None if torch.cuda.is_available() else "cpu"
    return CrossEncoder(str(path), num_labels=1, max_length=max_length, device=device, local_files_only=True)


def rerank_scores(model: Any, query: str, candidates: Sequence[str]) -> np.ndarray:
    if not candidates:
        return np.zeros(0, dtype=np.float32)
    scores = model.predict([(query, c) for c in candidates], show_progress_bar=False, convert_to_numpy=True)
    return np.asarray(scores, dtype=np.float32).reshape(-1)


@contextlib.contextmanager
def inference_dtype(dtype: str) -> Iterator[None]:
    """Run the reranker's forward passes in `dtype` (bfloat16 or float32, as `engine.resolve_dtype`
    gives it). Reranking every pair's candidates is most of a retrieve run: on a CPU with AMX,
    bfloat16 autocast reranked 2.0x faster than float32 (benchmarks/sare_rerank.py), scores within
    1e-4 (the weights stay float32; only the matrix products drop precision)."""
    if dtype != "bfloat16":
        yield
        return
    with torch.autocast("cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16):
        yield


def mean_loss(model: Any, examples: SareExamples, config: SareConfig) -> float:
    """Eq. 12 over the examples without gradients: the before/after figure."""
    losses = []
    for query, positive, negatives in zip(examples.queries, examples.positives, examples.negatives, strict=True):
        scores = torch.from_numpy(rerank_scores(model, query, [positive, *negatives])) / config.temperature
        losses.append(float(torch.logsumexp(scores, 0) - scores[0]))
    return float(np.mean(losses)) if losses else float("nan")


def train_sare(base: Path, examples: SareExamples, config: SareConfig, out: Path) -> dict[str, float]:
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments

    if not examples.queries:
        raise ValueError("SARE has no training examples (rankings shorter than threshold + negatives?)")
    torch.manual_seed(config.seed)  # a new head starts from the seed, not from whatever ran before
    model = load_reranker(base, config.max_length)
    before = mean_loss(model, examples, config)
    args = CrossEncoderTrainingArguments(
        **training.arguments(out, config.epochs, config.batch_size, config.lr, config.seed)
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=examples.to_dataset(), loss=SelfAssessedInfoNCE(model, config.temperature)
    )
    training.quiet(trainer, "SARE").train()
    after = mean_loss(model, examples, config)
    model.save(str(out))
    return {"sare_loss_before": round(before, 4), "sare_loss_after": round(after, 4)}

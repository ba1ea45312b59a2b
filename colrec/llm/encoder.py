"""Sentence embeddings (sentence-transformers) for profiles and item text."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class TextEncoder:
    def __init__(self, path: Path, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device=device or "cpu")

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised vectors, one per text."""
        return np.asarray(
            self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )


def most_similar(queries: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """Indices into `pool` of the k most cosine-similar rows for each query (normalised vectors)."""
    similarity = queries @ pool.T
    k = min(k, pool.shape[0])
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)

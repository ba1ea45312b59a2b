"""SARE: the assessment ranking, the shifted negative sampling, and a training run on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colrec.retrieval import sare


def test_assessment_order_is_by_cosine_with_stable_ties() -> None:
    assessment = np.array([1.0, 0.0])
    candidates = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [1.0, 0.0]])
    assert sare.assessment_order(assessment, candidates).tolist() == [1, 3, 2, 0]


def test_examples_take_top1_and_sample_after_the_threshold() -> None:
    ranking = [f"u{k}" for k in range(10)]
    config = sare.SareConfig(threshold=5, negatives=3, seed=7)
    first = sare.sare_examples(["q", "short"], [ranking, ranking[:7]], config)
    assert first.queries == ["q"]  # 2 candidates after rank 5 cannot give 3 negatives
    assert first.positives == ["u0"]
    assert len(set(first.negatives[0])) == 3 and set(first.negatives[0]) <= set(ranking[5:])
    assert sare.sare_examples(["q"], [ranking], config) == first  # same seed, same negatives


def test_training_lowers_the_loss(tiny_encoder: Path, tmp_path: Path) -> None:
    queries = [f"The user has highly rated movie {k}" for k in range(16)]
    rankings = [[f"Highly rated: movie {k}"] + [f"Highly rated: cooking show {j}" for j in range(9)] for k in range(16)]
    config = sare.SareConfig(epochs=3, lr=5e-4, batch_size=8, max_length=64)
    examples = sare.sare_examples(queries, rankings, config)
    result = sare.train_sare(tiny_encoder, examples, config, tmp_path / "sare")
    assert result["sare_loss_after"] < result["sare_loss_before"]
    model = sare.load_reranker(tmp_path / "sare")
    scores = sare.rerank_scores(model, queries[0], rankings[0][:2])
    assert scores.shape == (2,) and scores[0] > scores[1]


def test_bfloat16_reranking_autocasts_and_keeps_the_float32_order(tiny_encoder: Path) -> None:
    model = sare.load_reranker(tiny_encoder, 64)
    query, candidates = "The user has highly rated movie 1", [f"Highly rated: movie {k}" for k in range(6)]
    full = sare.rerank_scores(model, query, candidates)
    with sare.inference_dtype("bfloat16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        low = sare.rerank_scores(model, query, candidates)
    with sare.inference_dtype("float32"):
        assert not torch.is_autocast_enabled("cpu")
    assert not torch.is_autocast_enabled("cpu")  # left as found
    np.testing.assert_allclose(low, full, atol=0.05)

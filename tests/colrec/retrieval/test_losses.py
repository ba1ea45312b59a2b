"""SCORE's two InfoNCE losses against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from colrec.retrieval.losses import collaborative_info_nce


def test_car_loss_matches_hand_computation() -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    positives = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]])
    ids = torch.tensor([[1, 2], [2, 3], [3, 9]])  # anchor 1's positive is user 2, which is also anchor 2
    tau, c = 0.5, 1 / math.sqrt(2)
    # Row 0: anchor 2 is its positive, so only anchor 3 (cosine c) is a negative.
    row0 = math.log(math.exp(1 / tau) + math.exp(c / tau)) - 1 / tau
    # Row 1: anchor 3 is its positive; anchor 1 (cosine 0) is the negative.
    row1 = math.log(math.exp(c / tau) + math.exp(0.0)) - c / tau
    # Row 2: both other anchors are negatives, each at cosine c, as is the positive.
    row2 = math.log(3.0)
    expected = (row0 + row1 + row2) / 3
    assert collaborative_info_nce(anchors, positives, ids, tau).item() == pytest.approx(expected, abs=1e-6)


def test_car_loss_sums_over_positives() -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    ids = torch.tensor([[1, 5, 6], [2, 7, 8]])
    tau = 0.1
    row0 = (math.log(math.exp(10) + 1) - 10) + (math.log(1 + 1) - 0)  # each positive against anchor 2 (cosine 0)
    row1 = 2 * (math.log(math.exp(10) + 1) - 10)
    assert collaborative_info_nce(anchors, positives, ids, tau).item() == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_sare_loss_matches_hand_computation(tiny_cross_encoder) -> None:
    from colrec.retrieval.losses import SelfAssessedInfoNCE

    loss = SelfAssessedInfoNCE(tiny_cross_encoder, temperature=0.02)
    positive = torch.tensor([2.0, 0.0])  # logits of (query, positive) for two queries
    negative = torch.tensor([0.0, 1.0])  # one negative each
    sig = [1 / (1 + math.exp(-x)) for x in (2.0, 0.0, 0.0, 1.0)]
    row0 = math.log(math.exp(sig[0] * 50) + math.exp(sig[2] * 50)) - sig[0] * 50
    row1 = math.log(math.exp(sig[1] * 50) + math.exp(sig[3] * 50)) - sig[1] * 50
    got = loss.calculate_loss([positive, negative], batch_size=2).item()
    assert got == pytest.approx((row0 + row1) / 2, rel=1e-5)
    assert list(loss.get_in_batch_negatives(["q1", "q2"], [["a", "b"]])) == []  # the paper's negatives only

"""Metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from colrec import metrics


def test_auc_by_hand_and_with_ties() -> None:
    assert metrics.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert metrics.auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # a tie counts half
    assert np.isnan(metrics.auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_auc_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + labels * 0.3, 2)  # rounding makes ties
    assert metrics.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_uauc_skips_one_class_users() -> None:
    users = np.array([1, 1, 1, 2, 2, 3, 3])
    labels = np.array([1, 0, 0, 1, 0, 1, 1])
    scores = np.array([0.9, 0.1, 0.95, 0.2, 0.8, 0.5, 0.6])
    # user 1: 0.5, user 2: 0.0, user 3: one class only (skipped)
    assert metrics.uauc(users, labels, scores) == pytest.approx(0.25)


def test_f1_and_threshold() -> None:
    labels = np.array([1, 1, 0, 0, 1])
    scores = np.array([0.9, 0.6, 0.55, 0.2, 0.1])
    assert metrics.f1_at(labels, scores, 0.5) == pytest.approx(f1_score(labels, scores >= 0.5))
    assert metrics.best_threshold(labels, scores) == pytest.approx(0.6)  # F1 0.8 there
    assert np.isnan(metrics.best_threshold(np.array([]), np.array([])))  # no validation part


def test_recall_and_ndcg_at_k_by_hand() -> None:
    ranked = [[5, 1, 7], [2, 3, 4]]
    relevant = [{1, 9}, {8}]
    recall, ndcg = metrics.recall_ndcg_at_k(ranked, relevant, 3)
    ideal = 1 + 1 / np.log2(3)
    assert recall == pytest.approx((1 / 2 + 0) / 2)
    assert ndcg == pytest.approx(((1 / np.log2(3)) / ideal + 0) / 2)


def test_sampled_hit_rate_counts_ties_against_the_positive() -> None:
    hr, ndcg = metrics.hr_ndcg_sampled(np.array([0.9, 0.5]), [np.array([0.1, 0.2]), np.array([0.5, 0.6])], 1)
    assert (hr, ndcg) == (0.5, 0.5)
    hr5, ndcg5 = metrics.hr_ndcg_sampled(np.array([0.5]), [np.array([0.5, 0.6])], 5)
    assert hr5 == 1.0 and ndcg5 == pytest.approx(1 / np.log2(4))


def test_recall_divides_by_all_relevant_items_even_beyond_k() -> None:
    recall, _ = metrics.recall_ndcg_at_k([[1, 2]], [{1, 2, 3, 4}], 2)
    assert recall == pytest.approx(2 / 4)  # not 2 / min(K, 4)

"""The hybrid stack: smoothed positive rates, and a stacker that finds the signal a feature carries."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from colrec import hybrid


def test_rate_features_smooth_towards_the_global_rate() -> None:
    train = pl.DataFrame({"user_id": [1, 1, 1, 1, 2], "item_id": [7, 7, 8, 8, 7], "label": [1, 1, 1, 1, 0]})
    pairs = pl.DataFrame({"user_id": [1, 2, 3], "item_id": [8, 7, 9]})
    f = hybrid.rate_features(train, pairs, prior=1.0)
    # global rate 0.8: user 1 (4 of 4) -> (4 + 0.8) / 5; user 2 (0 of 1) -> 0.8 / 2; user 3 unseen -> 0.8
    assert f["user_rate"].to_list() == pytest.approx([0.96, 0.4, 0.8])
    assert f["item_rate"].to_list() == pytest.approx([(2 + 0.8) / 3, (2 + 0.8) / 4, 0.8])
    assert f["user_events"].to_list() == pytest.approx(np.log1p([4, 1, 0]).tolist())
    assert hybrid.positive_rate_score(f).tolist() == pytest.approx([0.96 + 2.8 / 3, 0.4 + 0.7, 1.6])


def test_stack_uses_the_informative_feature_and_scores_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    frame = pl.DataFrame({"signal": labels + rng.normal(0, 1.0, 2000), "noise": rng.normal(0, 1, 2000)})
    stack = hybrid.fit_stack(frame, labels)
    assert set(stack.cv_auc) == {"logistic", "boosted"} and stack.cv_auc[stack.name] > 0.7
    assert len(stack.valid_scores) == 2000 and 0 < stack.valid_scores.min() < stack.valid_scores.max() < 1
    noise_only = hybrid.fit_stack(frame.select("noise"), labels)
    assert abs(noise_only.cv_auc[noise_only.name] - 0.5) < 0.06  # out of fold: no signal, none found
    if stack.name == "logistic":
        weights = stack.summary()["weights"]
        assert abs(weights["signal"]) > 5 * abs(weights["noise"])


def test_stack_refuses_a_valid_part_without_both_labels() -> None:
    with pytest.raises(ValueError, match="positive and"):
        hybrid.fit_stack(pl.DataFrame({"x": [0.1, 0.2, 0.3]}), np.array([1, 1, 1]))

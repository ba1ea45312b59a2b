"""The CF + LLM hybrid (CoLLM's finding: LLM and collaborative signals together beat either): a
stacking model over per-pair features, fit on the valid part only.

Features of a pair: the LLM's P(Yes) (as a logit), each collaborative model's score, and the smoothed
positive rates of its user and item in the training part with their event counts. Two stackers
compete, a standardised logistic regression and a small gradient-boosted model (scikit-learn); the
one with the better 5-fold cross-validated AUC on the valid pairs is refit on all of them. The valid
pairs' own scores are the out-of-fold ones, so a threshold chosen on them (F1) is chosen honestly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from colrec import metrics

PRIOR = 10.0  # pseudo-events at the global rate: a user with 2 events is mostly the global rate
FOLDS = 5


def rate_features(train: pl.DataFrame, pairs: pl.DataFrame, prior: float = PRIOR) -> pl.DataFrame:
    """For each pair (user_id, item_id): user_rate, item_rate (smoothed positive rates in `train`,
    which has user_id, item_id, label) and user_events, item_events (log1p of their counts)."""
    rate = float(train.select(pl.col("label").mean()).item() or 0.0) if train.height else 0.5
    out = pairs.select("user_id", "item_id")
    for key in ("user", "item"):
        column = f"{key}_id"
        stats = train.group_by(column).agg(pl.col("label").sum().alias("pos"), pl.len().alias("n"))
        out = out.join(stats, on=column, how="left").with_columns(pl.col("pos", "n").fill_null(0))
        out = out.with_columns(
            ((pl.col("pos") + prior * rate) / (pl.col("n") + prior)).alias(f"{key}_rate"),
            pl.col("n").cast(pl.Float64).log1p().alias(f"{key}_events"),
        ).drop("pos", "n")
    return out.drop("user_id", "item_id")


def positive_rate_score(features: pl.DataFrame) -> np.ndarray:
    """The non-learned baseline: the user's plus the item's smoothed positive rate."""
    return (features["user_rate"] + features["item_rate"]).to_numpy()


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _candidates(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
        "boosted": HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                                  min_samples_leaf=50, l2_regularization=1.0, random_state=seed),
    }  # fmt: skip


@dataclass
class Stack:
    """The chosen stacker refit on every valid pair, with what chose it."""

    name: str
    model: Any
    features: list[str]
    cv_auc: dict[str, float]
    valid_scores: np.ndarray  # out of fold

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame.select(self.features).to_numpy())[:, 1]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stacker": self.name, "features": self.features,
                               "cv_auc": {k: round(v, 6) for k, v in self.cv_auc.items()}}  # fmt: skip
        if self.name == "logistic":  # weights on standardised features: which signal carries it
            weights = self.model[-1].coef_[0]
            out["weights"] = {f: round(float(w), 4) for f, w in zip(self.features, weights, strict=True)}
        return out


def fit_stack(valid: pl.DataFrame, labels: np.ndarray, seed: int = 0) -> Stack:
    """`valid`: one feature column per signal (no nulls), `labels` 0/1 of the same rows."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2 or min(np.bincount(labels)) < FOLDS:
        raise ValueError(f"the valid part needs at least {FOLDS} positive and {FOLDS} negative pairs to fit a stack")
    x = valid.to_numpy()
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    cv_auc, out_of_fold = {}, {}
    for name, candidate in _candidates(seed).items():
        scores = np.zeros(len(labels))
        for fit_rows, held_rows in folds.split(x, labels):
            model = clone(candidate).fit(x[fit_rows], labels[fit_rows])
            scores[held_rows] = model.predict_proba(x[held_rows])[:, 1]
        cv_auc[name], out_of_fold[name] = float(metrics.auc(labels, scores)), scores
    best = max(cv_auc, key=lambda k: cv_auc[k])
    model = clone(_candidates(seed)[best]).fit(x, labels)
    return Stack(best, model, list(valid.columns), cv_auc, out_of_fold[best])

"""Predictions and recommendations: bulk writes (COPY) keyed by run."""

from __future__ import annotations

import numpy as np
import polars as pl
from sqlalchemy import text
from sqlalchemy.orm import Session


def write_recommendations(
    session: Session,
    *,
    run_id: int,
    dataset_id: int,
    method: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    scores: np.ndarray,
) -> int:
    """Top-N per user: item_ids/scores are [n_users, N], rank 1 first."""
    raw = session.connection().connection.driver_connection
    count = 0
    with raw.cursor() as cursor:
        sql = "copy recommendations (run_id, method, user_id, rank, item_id, dataset_id, score) from stdin"
        with cursor.copy(sql) as copy:
            for user, items, row_scores in zip(user_ids.tolist(), item_ids.tolist(), scores.tolist(), strict=True):
                for rank, (item, score) in enumerate(zip(items, row_scores, strict=True), start=1):
                    copy.write_row((run_id, method, user, rank, item, dataset_id, score))
                    count += 1
    return count


def write_predictions(session: Session, *, run_id: int, dataset_id: int, method: str, user_ids: np.ndarray,
                      item_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray | None = None) -> int:  # fmt: skip
    raw = session.connection().connection.driver_connection
    labels = labels if labels is not None else np.full(len(user_ids), -1)
    with raw.cursor() as cursor:
        sql = "copy predictions (run_id, method, user_id, item_id, dataset_id, score, label) from stdin"
        with cursor.copy(sql) as copy:
            for user, item, score, label in zip(
                user_ids.tolist(), item_ids.tolist(), scores.tolist(), labels.tolist(), strict=True
            ):
                copy.write_row((run_id, method, user, item, dataset_id, score, None if label < 0 else label))
    return len(user_ids)


def read_predictions(session: Session, run_id: int, method: str) -> pl.DataFrame:
    rows = session.execute(
        text("select user_id, item_id, score from predictions where run_id = :r and method = :m"),
        {"r": run_id, "m": method},
    ).all()
    return pl.DataFrame(rows, schema={"user_id": pl.Int64, "item_id": pl.Int64, "score": pl.Float64}, orient="row")

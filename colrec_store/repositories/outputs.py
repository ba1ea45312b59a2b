"""Predictions and recommendations: bulk writes (COPY) keyed by run."""

from __future__ import annotations

import numpy as np
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

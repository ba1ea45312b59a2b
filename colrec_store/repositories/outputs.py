"""Predictions and recommendations: bulk writes (COPY) into the run's partition."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from colrec_store.db import psycopg_connection
from colrec_store.repositories.partitions import ensure_run_partition


def write_recommendations(
    session: Session,
    *,
    run_id: int,
    dataset_id: int,
    method: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray | list[list[int]],
    scores: np.ndarray | list[list[float]],
) -> int:
    """Top-N per user, rank 1 first: item_ids/scores are [n_users, N] (or ragged lists). Entries with a
    non-finite score (a seen item filling a short list) are not recommendations and are skipped."""
    ensure_run_partition(session, "recommendations", dataset_id, run_id)
    raw = psycopg_connection(session)
    count = 0
    with raw.cursor() as cursor:
        sql = "copy recommendations (run_id, method, user_id, rank, item_id, dataset_id, score) from stdin"
        with cursor.copy(sql) as copy:
            for user, items, row_scores in zip(user_ids.tolist(), _lists(item_ids), _lists(scores), strict=True):
                rank = 0
                for item, score in zip(items, row_scores, strict=True):
                    if math.isfinite(score):
                        rank += 1
                        copy.write_row((run_id, method, user, rank, item, dataset_id, score))
                count += rank
    return count


def _lists(values: np.ndarray | list[list[Any]]) -> list[list[Any]]:
    return values.tolist() if isinstance(values, np.ndarray) else values


def write_predictions(session: Session, *, run_id: int, dataset_id: int, method: str, user_ids: np.ndarray,
                      item_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray | None = None) -> int:  # fmt: skip
    ensure_run_partition(session, "predictions", dataset_id, run_id)
    raw = psycopg_connection(session)
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


def read_recommendations(session: Session, run_id: int, method: str, top: int | None = None) -> pl.DataFrame:
    """One run's recommendations of a method: user_id, rank, item_id, score (rank order per user)."""
    from colrec_store.models import Recommendation as R

    query = select(R.user_id, R.rank, R.item_id, R.score).where(R.run_id == run_id, R.method == method)
    if top is not None:
        query = query.where(R.rank <= top)
    rows = session.execute(query.order_by(R.user_id, R.rank)).all()
    schema = {"user_id": pl.Int64, "rank": pl.Int64, "item_id": pl.Int64, "score": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")

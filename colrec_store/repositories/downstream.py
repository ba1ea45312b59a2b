"""What downstream readers run: queries on the latest_* views (sql/latest_views.sql), kept here so
that the demo and the README show the very SQL the code runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

LATEST_FOR_USERS = """\
select user_id, rank, item_id, title, score, method, as_of
from latest_recommendations
where dataset = :dataset and method = :method and user_id = any(:users)
order by user_id, rank"""


def latest_for_users(session: Session, dataset: str, method: str, users: list[str], top: int) -> list[dict[str, Any]]:
    found = session.execute(text(LATEST_FOR_USERS), {"dataset": dataset, "method": method, "users": users})
    return [dict(r) for r in found.mappings() if r["rank"] <= top]


def latest_refresh_metrics(session: Session, dataset: str) -> dict[str, Any]:
    """The metrics of the newest published refresh of a dataset (what it measured and served)."""
    found = session.execute(
        text("select r.metrics from runs r join datasets d on d.id = r.dataset_id where d.name = :d and "
             "r.job = 'refresh' and r.status = 'published' order by r.as_of desc nulls last, r.id desc limit 1"),
        {"d": dataset},
    ).scalar_one_or_none()  # fmt: skip
    return found or {}


def some_users(session: Session, dataset: str, method: str, count: int) -> list[str]:
    """A few users that have recommendations of a method (for the demo's sample)."""
    found = session.execute(
        text("select distinct user_id from latest_recommendations where dataset = :d and method = :m "
             "order by user_id limit :n"),
        {"d": dataset, "m": method, "n": count},
    )  # fmt: skip
    return list(found.scalars())

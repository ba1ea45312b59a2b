"""Datasets and their statistics (the dataset_stats view)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.models import Dataset, Item

# Names reach file names (reports), logs and SQL; this pattern keeps them one harmless word.
DATASET_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}")


def check_dataset_name(name: str) -> str:
    if not DATASET_NAME.fullmatch(name):
        raise ColrecError(
            f"dataset name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "at most 63 characters, not starting with '.'"
        )
    return name


def ensure_dataset(session: Session, name: str) -> int:
    check_dataset_name(name)
    session.execute(insert(Dataset).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    return session.execute(select(Dataset.id).where(Dataset.name == name)).scalar_one()


def dataset_id(session: Session, name: str) -> int:
    found = session.execute(select(Dataset.id).where(Dataset.name == name)).scalar_one_or_none()
    if found is None:
        known = session.execute(select(Dataset.name).order_by(Dataset.name)).scalars().all()
        raise ColrecError(f"unknown dataset {name!r}; known: {', '.join(known) or 'none (run colrec-jobs ingest)'}")
    return found


def dataset_stats(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    query = "select * from dataset_stats"
    params: dict[str, Any] = {}
    if name is not None:
        query += " where dataset = :name"
        params["name"] = name
    rows = session.execute(text(query + " order by dataset"), params).mappings().all()
    return [dict(r) for r in rows]


def item_text_coverage(session: Session, dataset_id: int) -> tuple[str, int, int]:
    """(dataset name, items with a title or a description, all items): what LLM prompts can show."""
    has_text = or_(
        func.coalesce(func.btrim(Item.title), "") != "", func.coalesce(func.btrim(Item.description), "") != ""
    )
    with_text, total = session.execute(
        select(func.count().filter(has_text), func.count()).where(Item.dataset_id == dataset_id)
    ).one()
    name = session.execute(select(Dataset.name).where(Dataset.id == dataset_id)).scalar_one()
    return name, int(with_text), int(total)

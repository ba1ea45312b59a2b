"""What the HTML report reads: published runs and the latest_* views of one dataset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from colrec_store.models import Interaction, Run


def published(session: Session, dataset_id: int, job: str) -> list[dict[str, Any]]:
    """Published runs of a job, oldest as-of first: as_of, method, metrics, timings."""
    found = session.execute(
        select(Run.as_of, Run.params["method"].astext, Run.metrics, Run.timings)
        .where(Run.dataset_id == dataset_id, Run.job == job, Run.status == "published")
        .order_by(Run.as_of.nulls_first(), Run.id)
    ).all()
    return [{"as_of": a, "method": m or job, "metrics": x or {}, "timings": t or {}} for a, m, x, t in found]


def latest_scores(session: Session, dataset: str, per_method: int = 20000) -> dict[str, list[float]]:
    found = session.execute(
        text("select method, score from (select method, score, row_number() over (partition by method "
             "order by user_id, rank) as n from latest_recommendations where dataset = :d) s where n <= :k"),
        {"d": dataset, "k": per_method},
    ).all()  # fmt: skip
    out: dict[str, list[float]] = {}
    for method, score in found:
        out.setdefault(method, []).append(float(score))
    return out


def latest_labelled(session: Session, dataset: str) -> dict[str, tuple[list[float], list[int]]]:
    found = session.execute(
        text("select method, score, label from latest_predictions "
             "where dataset = :d and label is not null and score is not null and not failed"),
        {"d": dataset},
    ).all()  # fmt: skip
    out: dict[str, tuple[list[float], list[int]]] = {}
    for method, score, label in found:
        scores, labels = out.setdefault(method, ([], []))
        scores.append(float(score))
        labels.append(int(label))
    return out


def long_tail_shares(session: Session, dataset_id: int, dataset: str, head_share: float = 0.2) -> dict[str, float]:
    """Per method, the share of latest recommendations from the long tail: items outside the top
    `head_share` of the catalogue by interaction count (items never interacted with are tail)."""
    counts = session.execute(
        select(Interaction.item_id, func.count())
        .where(Interaction.dataset_id == dataset_id)
        .group_by(Interaction.item_id)
    ).all()
    n_items = session.execute(text("select items from dataset_stats where dataset = :d"), {"d": dataset}).scalar()
    ranked = sorted(counts, key=lambda r: -r[1])
    head = {int(item) for item, _ in ranked[: round((n_items or len(ranked)) * head_share)]}
    found = session.execute(
        text("select r.method, r.item_id from latest_recommendations r where r.dataset = :d"), {"d": dataset}
    ).all()
    external: dict[str, int] = dict(session.execute(text("select external_id, id from items where dataset_id = :i"),
                                    {"i": dataset_id}).all())  # fmt: skip
    totals: dict[str, list[int]] = {}
    for method, item in found:
        tail = int(external[item] not in head)
        totals.setdefault(method, [0, 0])
        totals[method][0] += tail
        totals[method][1] += 1
    return {m: t / n for m, (t, n) in totals.items() if n}

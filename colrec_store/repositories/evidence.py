"""Retrieved collaborative evidence (SCORE, CoRAL) and SCORE's self-assessments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.models import Assessment, Evidence, Run

CHUNK = 5000


def write_evidence(session: Session, rows: list[dict[str, Any]]) -> int:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(Evidence), rows[start : start + CHUNK])
    return len(rows)


def write_assessments(session: Session, rows: list[dict[str, Any]]) -> int:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(Assessment), rows[start : start + CHUNK])
    return len(rows)


def latest_evidence_run(session: Session, dataset_id: int, method: str, split: str, run_id: int | None = None,
                        matching: dict[str, Any] | None = None) -> Run:  # fmt: skip
    """The given evidence run, else the newest published one of the method on the split: the newest
    whose params contain `matching` (the same parts, limit, seed, as-of: the same pairs) if any
    does, so evidence for the train part and for the test part can stand side by side."""
    query = select(Run).where(Run.dataset_id == dataset_id, Run.job == "evidence",
                              Run.params["method"].astext == method)  # fmt: skip
    if run_id is not None:
        query = query.where(Run.id == run_id)
    else:
        query = query.where(Run.status == "published", Run.params["split"].astext == split)
    newest = query.order_by(Run.id.desc()).limit(1)
    found = None
    if run_id is None and matching:
        found = session.execute(newest.where(Run.params.contains(matching))).scalar_one_or_none()
    found = found or session.execute(newest).scalar_one_or_none()
    if found is None:
        raise ColrecError(
            f"no {method!r} evidence on split {split!r}: run `colrec-jobs retrieve --method {method}` first"
        )
    return found


def selected_evidence(session: Session, run_id: int, method: str) -> dict[tuple[int, int], list[list[int]]]:
    """(user, item) -> the selected collaborators' behaviour items, best first."""
    found = session.execute(
        select(Evidence.user_id, Evidence.item_id, Evidence.payload)
        .where(Evidence.run_id == run_id, Evidence.method == method, Evidence.stage == "selected")
        .order_by(Evidence.user_id, Evidence.item_id, Evidence.rank)
    ).all()  # fmt: skip
    out: dict[tuple[int, int], list[list[int]]] = {}
    for user, item, payload in found:
        out.setdefault((int(user), int(item)), []).append([int(i) for i in payload.get("items", [])])
    return out

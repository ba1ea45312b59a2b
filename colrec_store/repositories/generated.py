"""LLM-made text (profiles, rationales) and the inputs its jobs read: latest neighbours, profiles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.models import Neighbour, Profile, Rationale, Run


def latest_neighbours(
    session: Session, dataset_id: int, space: str, k: int, run_id: int | None = None
) -> dict[int, list[int]]:
    """entity -> its k nearest (rank order) from the given neighbours run, else from the newest
    published one; {} if none."""
    run_id = run_id or session.execute(
        select(func.max(Neighbour.run_id)).join(Run, Run.id == Neighbour.run_id)
        .where(Neighbour.dataset_id == dataset_id, Neighbour.space == space, Run.status == "published")
    ).scalar_one_or_none()  # fmt: skip
    if run_id is None:
        return {}
    rows = session.execute(
        select(Neighbour.entity_id, Neighbour.neighbour_id)
        .where(Neighbour.run_id == run_id, Neighbour.space == space, Neighbour.rank <= k)
        .order_by(Neighbour.entity_id, Neighbour.rank)
    ).all()  # fmt: skip
    out: dict[int, list[int]] = {}
    for entity, neighbour in rows:
        out.setdefault(entity, []).append(neighbour)
    return out


def write_profiles(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Profile).values(rows))


def write_rationales(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Rationale).values(rows))


def read_profiles(session: Session, run_id: int) -> dict[tuple[str, int], tuple[str | None, bool]]:
    """(kind, entity) -> (text, failed) of one profile run."""
    found = session.execute(
        select(Profile.entity_kind, Profile.entity_id, Profile.text, Profile.failed).where(Profile.run_id == run_id)
    ).all()
    return {(kind, int(entity)): (text, bool(failed)) for kind, entity, text, failed in found}


def split_run(session: Session, dataset_id: int, job: str, split: str, seed: int, as_of: Any = None) -> int | None:
    """The newest finished `job` run made from exactly this split (name, seed and as-of date), so
    what it wrote saw that split's training part only; None when there is none."""
    as_of_param = Run.params["as_of"].astext
    query = select(func.max(Run.id)).where(
        Run.dataset_id == dataset_id, Run.job == job, Run.status.in_(("staged", "published")),
        Run.params["split"].astext == split, Run.params["seed"].astext == str(seed),
        as_of_param == as_of.isoformat() if as_of is not None else as_of_param.is_(None),
    )  # fmt: skip
    return session.execute(query).scalar_one_or_none()


def kept_rationales(session: Session, run_id: int | None) -> dict[tuple[int, int], str]:
    """(user, item) -> the rationale the LLM kept in this rationale run (empty for None)."""
    found = session.execute(
        select(Rationale.user_id, Rationale.item_id, Rationale.text)
        .where(Rationale.run_id == run_id, Rationale.kept.is_(True), Rationale.failed.is_(False))
    ).all()  # fmt: skip
    return {(int(u), int(i)): text for u, i, text in found if text}


def user_profiles(session: Session, run_id: int | None) -> dict[int, str]:
    """user -> profile text of this profile run (empty for None)."""
    found = session.execute(
        select(Profile.entity_id, Profile.text)
        .where(Profile.run_id == run_id, Profile.entity_kind == "user", Profile.failed.is_(False))
    ).all()  # fmt: skip
    return {int(u): text for u, text in found if text}


def profile_run_for_split(session: Session, dataset_id: int, split: str, run_id: int | None = None) -> int:
    """The given profile run, else the newest finished one made from `split`'s training part only
    (profiles made from every interaction would carry test data into a model trained on the split)."""
    query = select(Run.id, Run.params).where(Run.dataset_id == dataset_id, Run.job == "profile",
                                             Run.status.in_(("staged", "published")))  # fmt: skip
    if run_id is not None:
        query = query.where(Run.id == run_id)
    else:
        query = query.where(Run.params["split"].astext == split)
    found = session.execute(query.order_by(Run.id.desc()).limit(1)).first()
    if found is None:
        what = f"profile run {run_id}" if run_id is not None else f"profile run made from split {split!r}"
        raise ColrecError(f"no {what} for this dataset: run `colrec-jobs profile --split {split}` first")
    if found[1].get("split") != split:
        raise ColrecError(f"profile run {found[0]} was made from split {found[1].get('split')!r}, not {split!r}")
    return int(found[0])

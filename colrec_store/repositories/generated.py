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


def kept_rationales(session: Session, dataset_id: int) -> dict[tuple[int, int], str]:
    """(user, item) -> the rationale the LLM kept, from the newest finished (staged or published) rationale run."""
    run_id = session.execute(
        select(func.max(Run.id)).where(Run.dataset_id == dataset_id, Run.job == "rationale",
                                       Run.status.in_(("staged", "published")))
    ).scalar_one_or_none()  # fmt: skip
    if run_id is None:
        return {}
    found = session.execute(
        select(Rationale.user_id, Rationale.item_id, Rationale.text)
        .where(Rationale.run_id == run_id, Rationale.kept.is_(True), Rationale.failed.is_(False))
    ).all()  # fmt: skip
    return {(int(u), int(i)): text for u, i, text in found if text}


def latest_user_profiles(session: Session, dataset_id: int, as_of: Any = None) -> tuple[int | None, dict[int, str]]:
    """(run, user -> profile text) of the newest finished profile run, made as of `as_of` or before
    when given (so later data cannot reach training through the profiles)."""
    query = select(func.max(Run.id)).where(Run.dataset_id == dataset_id, Run.job == "profile",
                                          Run.status.in_(("staged", "published")))  # fmt: skip
    if as_of is not None:
        query = query.where(Run.as_of <= as_of)
    run_id = session.execute(query).scalar_one_or_none()
    if run_id is None:
        return None, {}
    found = session.execute(
        select(Profile.entity_id, Profile.text)
        .where(Profile.run_id == run_id, Profile.entity_kind == "user", Profile.failed.is_(False))
    ).all()  # fmt: skip
    return run_id, {int(u): text for u, text in found if text}


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

"""The life of a refresh run: finding one already published, reaping abandoned ones, publishing
all of its steps in one transaction, and carrying unchanged LLM outputs over from the last one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from colrec.splits import end_of_day
from colrec_store.db import rowcount
from colrec_store.models import Base, Embedding, Interaction, ModelArtifact, Profile, Recommendation, Run
from colrec_store.repositories.partitions import OUTPUTS, ensure_run_partition

ABANDONED = "abandoned: its process ended before it finished (killed, or the database went away)"


def published_refresh(session: Session, dataset: str, as_of: dt.date, config_key: str) -> int | None:
    """The published refresh of this dataset, date and configuration, if there is one."""
    return session.execute(
        select(Run.id)
        .where(Run.job == "refresh", Run.status == "published", Run.as_of == as_of,
               Run.params["dataset"].astext == dataset, Run.params["config_key"].astext == config_key)
        .order_by(Run.id.desc())
        .limit(1)
    ).scalar_one_or_none()  # fmt: skip


def previous_refresh(session: Session, dataset: str, as_of: dt.date, config_key: str) -> tuple[int, dt.date] | None:
    """The newest published refresh of the same configuration strictly before `as_of`."""
    row = session.execute(
        select(Run.id, Run.as_of)
        .where(Run.job == "refresh", Run.status == "published", Run.as_of < as_of,
               Run.params["dataset"].astext == dataset, Run.params["config_key"].astext == config_key)
        .order_by(Run.as_of.desc(), Run.id.desc())
        .limit(1)
    ).first()  # fmt: skip
    return (row[0], row[1]) if row and row[1] is not None else None


def recent_refreshes(
    session: Session, dataset: str, before: dt.date, config_key: str | None, count: int
) -> list[tuple[int, dt.date, dict[str, Any]]]:
    """The newest `count` published refreshes of the dataset strictly before `before` (of one
    configuration, or of any with `config_key` None), newest first: (run id, as-of, metrics)."""
    query = select(Run.id, Run.as_of, Run.metrics).where(
        Run.job == "refresh", Run.status == "published", Run.as_of < before, Run.params["dataset"].astext == dataset
    )
    if config_key is not None:
        query = query.where(Run.params["config_key"].astext == config_key)
    found = session.execute(query.order_by(Run.as_of.desc(), Run.id.desc()).limit(count)).all()
    return [(run_id, as_of, metrics or {}) for run_id, as_of, metrics in found]


def refresh_params(session: Session, run_id: int) -> dict[str, Any]:
    return session.execute(select(Run.params).where(Run.id == run_id)).scalar_one() or {}


def step_runs(session: Session, parent_run_id: int, job: str) -> dict[str, int]:
    """method -> run of a refresh's steps of one job (the newest where a method has several)."""
    found = session.execute(
        select(Run.params["method"].astext, Run.id)
        .where(Run.parent_run_id == parent_run_id, Run.job == job)
        .order_by(Run.id)
    ).all()
    return {method: run_id for method, run_id in found if method is not None}


def reap_abandoned(session: Session, dataset: str) -> list[int]:
    """Mark refreshes of the dataset still `running` as failed, with their unfinished steps. Only
    sound while holding the dataset's refresh lock: then no live process owns them."""
    parents = list(
        session.execute(
            select(Run.id).where(Run.job == "refresh", Run.status == "running", Run.params["dataset"].astext == dataset)
        ).scalars()
    )
    if parents:
        session.execute(
            update(Run)
            .where(or_(Run.id.in_(parents), Run.parent_run_id.in_(parents)), Run.status.in_(("running", "staged")))
            .values(status="failed", error=ABANDONED, finished_at=func.clock_timestamp())
        )
    return parents


def fail_steps(session: Session, parent_run_id: int, error: str) -> None:
    """A failed refresh: its staged steps will never be published."""
    session.execute(
        update(Run)
        .where(Run.parent_run_id == parent_run_id, Run.status.in_(("running", "staged")))
        .values(status="failed", error=error, finished_at=func.coalesce(Run.finished_at, func.clock_timestamp()))
    )


def publish_steps(session: Session, parent_run_id: int) -> int:
    """Publish every staged step of a refresh (the caller publishes the refresh in the same transaction)."""
    result = session.execute(
        update(Run).where(Run.parent_run_id == parent_run_id, Run.status == "staged").values(status="published")
    )
    return rowcount(result)


def users_with_new_interactions(session: Session, dataset_id: int, after: dt.date, until: dt.date) -> list[int]:
    """Users with an interaction in (after, until], by event time (the window a refresh sees)."""
    start, end = end_of_day(after), end_of_day(until)
    return list(
        session.execute(
            select(Interaction.user_id)
            .where(Interaction.dataset_id == dataset_id, Interaction.ts >= start, Interaction.ts < end)
            .distinct()
        ).scalars()
    )


def step_run(session: Session, parent_run_id: int, job: str, method: str | None = None) -> int | None:
    """The run of one step (job, and method where a job has several) of a refresh."""
    query = select(Run.id).where(Run.parent_run_id == parent_run_id, Run.job == job)
    if method is not None:
        query = query.where(Run.params["method"].astext == method)
    return session.execute(query.order_by(Run.id.desc()).limit(1)).scalar_one_or_none()


def step_model(session: Session, parent_run_id: int, kind: str, *, serve: bool = True) -> ModelArtifact | None:
    """The model of that kind a refresh trained: its serving fit, or the split's own fit."""
    is_serve = func.coalesce(Run.params["serve"].astext, "false") == ("true" if serve else "false")
    return session.execute(
        select(ModelArtifact)
        .join(Run, Run.id == ModelArtifact.run_id)
        .where(Run.parent_run_id == parent_run_id, Run.job == "train", ModelArtifact.kind == kind, is_serve)
        .order_by(Run.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _copy_rows(session: Session, model: type[Base], target_run: int, *where: ColumnElement[bool]) -> int:
    """Copy the rows of `model` matching `where` under `target_run`; `id` and `created_at`, where a
    table has them, take their defaults as for any new row."""
    if model.__tablename__ in OUTPUTS:
        dataset_id = session.execute(select(Run.dataset_id).where(Run.id == target_run)).scalar_one()
        if dataset_id is None:
            raise ValueError(f"run {target_run} has no dataset: its outputs have no partition")
        ensure_run_partition(session, model.__tablename__, dataset_id, target_run)
    columns = [c for c in model.__table__.columns if c.name not in ("id", "created_at")]
    chosen = select(*(literal(target_run) if c.name == "run_id" else c for c in columns)).where(*where)
    statement = insert(model).from_select([c.name for c in columns], chosen).returning(literal(1))
    return len(session.execute(statement).all())


def carry_recommendations(session: Session, *, source_run: int, target_run: int, method: str, users: list[int]) -> int:
    """Copy a previous run's recommendations of these users (whose inputs did not change)."""
    R = Recommendation
    return _copy_rows(session, R, target_run, R.run_id == source_run, R.method == method, R.user_id.in_(users))


def carry_profiles(session: Session, *, source_run: int, target_run: int, kind: str, ids: list[int]) -> int:
    P = Profile
    return _copy_rows(session, P, target_run, P.run_id == source_run, P.entity_kind == kind, P.entity_id.in_(ids))


def carry_embeddings(session: Session, *, source_run: int, target_run: int, space: str, ids: list[int]) -> int:
    E = Embedding
    return _copy_rows(session, E, target_run, E.run_id == source_run, E.space == space, E.entity_id.in_(ids))


def run_param(session: Session, run_id: int, key: str) -> Any:
    """One parameter a run was started with (None where it has none)."""
    run = session.get(Run, run_id)
    return None if run is None else run.params.get(key)

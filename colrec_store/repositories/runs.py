"""Run records: one row per job execution, with its status, parameters, metrics and timings."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from colrec_store.models import Dataset, Run
from colrec_store.repositories.partitions import drop_run_partitions


def start_run(
    session: Session,
    *,
    job: str,
    dataset_id: int | None,
    params: dict[str, Any],
    code_version: str,
    as_of: dt.date | None = None,
    parent_run_id: int | None = None,
) -> int:
    run = Run(
        job=job,
        dataset_id=dataset_id,
        params=params,
        code_version=code_version,
        as_of=as_of,
        parent_run_id=parent_run_id,
        status="running",
    )
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    metrics: dict[str, Any],
    timings: dict[str, Any],
    error: str | None = None,
    dataset_id: int | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "metrics": json_safe(metrics),
        "timings": json_safe(timings),
        "error": error,
        "finished_at": func.clock_timestamp(),  # now() would be the transaction start
    }
    if dataset_id is not None:
        values["dataset_id"] = dataset_id
    session.execute(update(Run).where(Run.id == run_id).values(**values))


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity (a metric undefined on one-class data, say): store them as null."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_params(session: Session, run_id: int) -> dict[str, Any]:
    """The params a run was started with ({} for a run the store does not have)."""
    run = session.get(Run, run_id)
    return dict(run.params or {}) if run is not None else {}


def list_runs(session: Session, dataset: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    query = (
        select(Run, Dataset.name.label("dataset"))
        .outerjoin(Dataset, Dataset.id == Run.dataset_id)
        .order_by(Run.id.desc())
        .limit(limit)
    )
    if dataset is not None:
        query = query.where(Dataset.name == dataset)
    rows = []
    for run, name in session.execute(query).all():
        rows.append(
            {
                "id": run.id,
                "dataset": name,
                "job": run.job,
                "as_of": run.as_of.isoformat() if run.as_of else None,
                "status": run.status,
                "params": run.params,
                "metrics": run.metrics,
                "timings": run.timings,
                "error": run.error,
                "code_version": run.code_version,
                "parent_run_id": run.parent_run_id,
                "started_at": run.started_at.isoformat(timespec="seconds"),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "seconds": round((run.finished_at - run.started_at).total_seconds(), 1) if run.finished_at else None,
            }
        )
    return rows


def prunable_runs(session: Session, keep: int) -> list[int]:
    """Top-level runs to delete (their steps go with them by cascade): per dataset, job and method,
    published runs beyond the newest `keep`, and failed or staged runs older than the newest
    published one. Never a running run, never the newest published run of any (dataset, job,
    method), nor a run whose step is one (what the latest_* views show)."""
    method = Run.params["method"].astext
    newest = (
        select(Run.id, Run.parent_run_id)
        .where(Run.status == "published")
        .ext(distinct_on(Run.dataset_id, Run.job, method))
        .order_by(Run.dataset_id, Run.job, method, Run.as_of.desc().nulls_last(), Run.id.desc())
    )
    protected: set[int] = set()
    for run_id, parent in session.execute(newest).all():
        protected.update(i for i in (run_id, parent) if i is not None)
    top = session.execute(
        select(Run.id, Run.dataset_id, Run.job, method, Run.status)
        .where(Run.parent_run_id.is_(None), Run.status != "running")
        .order_by(Run.as_of.desc().nulls_last(), Run.id.desc())
    ).all()
    kept: dict[tuple[object, ...], int] = {}
    doomed = []
    for run_id, dataset_id, job, run_method, status in top:
        group = (dataset_id, job, run_method)
        if status == "published":
            kept[group] = kept.get(group, 0) + 1
            if kept[group] > keep and run_id not in protected:
                doomed.append(run_id)
        elif group in kept and run_id not in protected:  # unpublished, older than a published one
            doomed.append(run_id)
    return doomed


def delete_runs(session: Session, run_ids: list[int]) -> list[int]:
    """Delete runs and, by cascade, their steps and outputs; returns every run id removed."""
    if not run_ids:
        return []
    steps = list(session.execute(select(Run.id).where(Run.parent_run_id.in_(run_ids))).scalars())
    drop_run_partitions(session, [*run_ids, *steps])  # their outputs go as DROP TABLEs, not row deletes
    session.execute(delete(Run).where(Run.id.in_(run_ids)).execution_options(synchronize_session=False))
    return [*run_ids, *steps]


def latest_train_run(session: Session, dataset_id: int, model: str | None = None) -> int | None:
    """The newest published train run of a dataset (of one model, if given)."""
    query = select(Run.id).where(Run.dataset_id == dataset_id, Run.job == "train", Run.status == "published")
    if model is not None:
        query = query.where(Run.params["model"].astext == model)
    return session.execute(query.order_by(Run.id.desc()).limit(1)).scalar_one_or_none()

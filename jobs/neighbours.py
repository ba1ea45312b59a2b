"""`colrec-jobs neighbours`: top-K similar users and items through pgvector's HNSW index, stored
for later steps, with recall@K of HNSW against exact search (the reference) in the run's metrics."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from colrec.errors import ColrecError
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.embeddings import Space, nearest, run_spaces, write_neighbours
from colrec_store.repositories.runs import latest_train_run
from jobs.common.context import JobContext


def run(
    ctx: JobContext,
    dataset: str,
    space: str = "all",
    k: int = 20,
    model: str | None = None,
    source_run: int | None = None,
    recall_sample: int | None = None,
) -> dict[str, Any]:
    """`recall_sample`: measure recall on this many seeded entities per space instead of all (the
    exact search is the costly part: a nightly refresh checks a sample)."""
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        train_run = source_run or _latest_train_run(session, dataset_id, model)
        spaces = _spaces(session, train_run, space)
    params = {"space": space, "k": k, "source_run": train_run, "model": model, "recall_sample": recall_sample}
    with ctx.run("neighbours", dataset_id=dataset_id, params=params) as record, ctx.transaction() as session:
        for target in spaces:
            start = time.perf_counter()
            approximate = nearest(session, target, k)
            record.timings[f"{target.name}_hnsw"] = round(time.perf_counter() - start, 3)
            start = time.perf_counter()
            entities = sorted({row[0] for row in approximate})
            checked = _sample(entities, recall_sample)
            exact = nearest(session, target, k, exact=True, entity_ids=checked)
            record.timings[f"{target.name}_exact"] = round(time.perf_counter() - start, 3)
            record.metrics[f"{target.name}_recall@{k}"] = round(recall_against(approximate, exact), 4)
            record.metrics[f"{target.name}_entities"] = len(entities)
            write_neighbours(session, record.id, dataset_id, target.name, approximate)
        record.finish(session, "published")
    return {"run_id": record.id, **record.metrics, "timings": record.timings}


def _sample(entities: list[int], size: int | None) -> list[int] | None:
    if size is None or size >= len(entities):
        return None
    return sorted(np.random.default_rng(0).choice(entities, size, replace=False).tolist())


def recall_against(approximate: list[tuple[int, int, int, float]], exact: list[tuple[int, int, int, float]]) -> float:
    """Mean over the entities of `exact` of |HNSW top-K ∩ exact top-K| / |exact top-K|."""
    truth: dict[int, set[int]] = {}
    for entity, _, neighbour, _ in exact:
        truth.setdefault(entity, set()).add(neighbour)
    found: dict[int, set[int]] = {}
    for entity, _, neighbour, _ in approximate:
        found.setdefault(entity, set()).add(neighbour)
    scores = [len(found.get(e, set()) & t) / len(t) for e, t in truth.items() if t]
    return sum(scores) / len(scores) if scores else float("nan")


def _latest_train_run(session: Any, dataset_id: int, model: str | None) -> int:
    found = latest_train_run(session, dataset_id, model)
    if found is None:
        raise ColrecError("no published train run for this dataset: run `colrec-jobs train` first")
    return found


def _spaces(session: Any, run_id: int, space: str) -> list[Space]:
    rows = run_spaces(session, run_id)
    found = [Space(run_id, name, dim) for name, dim in rows if space in ("all", name)]
    if not found:
        raise ColrecError(
            f"run {run_id} has no embeddings in space {space!r} (has: {', '.join(r[0] for r in rows) or 'none'})"
        )
    return found

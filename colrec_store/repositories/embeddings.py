"""Embeddings in pgvector and nearest-neighbour search over them.

Vectors are written with binary COPY. Each (space, dim) has its own partial HNSW index (created by
the colrec_ensure_hnsw function of migration 0002); queries name the same space and dim constants
so the planner can use it. Iterative index scans keep the run filter from starving the top-K when a
space holds several runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pgvector.psycopg import register_vector
from sqlalchemy import text
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.db import psycopg_connection
from colrec_store.repositories.partitions import ensure_run_partition

METRICS = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}


@dataclass(frozen=True)
class Space:
    run_id: int
    name: str
    dim: int
    metric: str = "cosine"

    @property
    def operator(self) -> str:
        return METRICS[self.metric]


def write_embeddings(
    session: Session, dataset_id: int, space: Space, entity_ids: np.ndarray, vectors: np.ndarray, *, index: bool = True
) -> None:
    """COPY the vectors in, then make sure their (space, dim) has its HNSW index (unless index=False)."""
    if vectors.shape != (len(entity_ids), space.dim):
        raise ValueError(f"expected {len(entity_ids)} vectors of {space.dim} dims, got {vectors.shape}")
    ensure_run_partition(session, "embeddings", dataset_id, space.run_id)
    raw = psycopg_connection(session)
    register_vector(raw)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with raw.cursor() as cursor:
        sql = "copy embeddings (run_id, space, entity_id, dataset_id, dim, vector) from stdin (format binary)"
        with cursor.copy(sql) as copy:
            copy.set_types(["int8", "varchar", "int8", "int4", "int4", "vector"])
            for entity, vector in zip(entity_ids.tolist(), vectors, strict=True):
                copy.write_row((space.run_id, space.name, entity, dataset_id, space.dim, vector))
    if index:
        ensure_index(session, space)


def ensure_index(session: Session, space: Space) -> str:
    return session.execute(
        text("select colrec_ensure_hnsw(:s, :d, :m)"), {"s": space.name, "d": space.dim, "m": space.metric}
    ).scalar_one()


def space_dim(session: Session, run_id: int, space: str) -> int | None:
    """The dimension of a run's vectors in a space; None when it has none."""
    return session.execute(
        text("select dim from embeddings where run_id = :r and space = :s limit 1"), {"r": run_id, "s": space}
    ).scalar_one_or_none()


def read_embeddings(session: Session, space: Space) -> tuple[np.ndarray, np.ndarray]:
    raw = psycopg_connection(session)
    register_vector(raw)
    rows = session.execute(
        text("select entity_id, vector from embeddings where run_id = :r and space = :s order by entity_id"),
        {"r": space.run_id, "s": space.name},
    ).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, space.dim), dtype=np.float32)
    vectors = [np.asarray(r[1].to_numpy() if hasattr(r[1], "to_numpy") else r[1], dtype=np.float32) for r in rows]
    return np.array([r[0] for r in rows], dtype=np.int64), np.stack(vectors)  # pgvector may hand back Vector objects


def nearest(
    session: Session,
    space: Space,
    k: int,
    *,
    exact: bool = False,
    ef_search: int | None = None,
    entity_ids: list[int] | None = None,
) -> list[tuple[int, int, int, float]]:
    """(entity, rank, neighbour, distance) for the top-k neighbours of each entity of the space
    (itself excluded). `exact` turns the index off: the reference for recall."""
    cast = f"vector::vector({int(space.dim)})"
    where = "q.run_id = :r and q.space = :s and q.dim = :d"
    if entity_ids is not None:
        where += " and q.entity_id = any(:ids)"
    session.execute(text(f"set local hnsw.ef_search = {int(ef_search or max(40, 2 * k))}"))
    session.execute(text("set local hnsw.iterative_scan = relaxed_order"))
    if exact:
        session.execute(text("set local enable_indexscan = off"))
    # ORDER BY distance LIMIT k straight over the index scan: the shape HNSW answers.
    query = f"""
        select q.entity_id, n.entity_id as neighbour, n.distance
        from embeddings q
        cross join lateral (
            select e.entity_id, e.{cast} {space.operator} q.{cast} as distance
            from embeddings e
            where e.space = '{_literal(space.name)}' and e.dim = {int(space.dim)} and e.run_id = :r
              and e.entity_id <> q.entity_id
            order by e.{cast} {space.operator} q.{cast}
            limit :k
        ) n
        where {where}
        order by q.entity_id, n.distance, n.entity_id
    """
    params = {"r": space.run_id, "s": space.name, "d": space.dim, "k": k, "ids": entity_ids}
    rows = session.execute(text(query), params).all()
    if exact:
        session.execute(text("set local enable_indexscan = on"))
    ranked, previous, rank = [], None, 0
    for entity, neighbour, distance in rows:
        rank = rank + 1 if entity == previous else 1
        previous = entity
        ranked.append((int(entity), rank, int(neighbour), float(distance)))
    return ranked


def write_neighbours(
    session: Session, run_id: int, dataset_id: int, space_name: str, rows: list[tuple[int, int, int, float]]
) -> None:
    raw = psycopg_connection(session)
    with raw.cursor() as cursor:
        sql = "copy neighbours (run_id, space, entity_id, rank, neighbour_id, distance, dataset_id) from stdin"
        with cursor.copy(sql) as copy:
            for entity, rank, neighbour, distance in rows:
                copy.write_row((run_id, space_name, entity, rank, neighbour, distance, dataset_id))


def _literal(value: str) -> str:
    """Space names are ours ([a-z_]), but quote defensively: this string is part of a query."""
    return value.replace("'", "''")


def run_spaces(session: Session, run_id: int) -> list[tuple[str, int]]:
    """(space, dim) of every embedding space a run stored, by name."""
    rows = session.execute(
        text("select distinct space, dim from embeddings where run_id = :r order by space"), {"r": run_id}
    ).all()
    return [(str(name), int(dim)) for name, dim in rows]


def user_neighbours(session: Session, train_run: int, users: list[int], k: int) -> dict[int, list[int]]:
    """Each user's k nearest among `users` in a train run's CF user space (pgvector HNSW)."""
    dim = space_dim(session, train_run, "cf_user")
    if dim is None:
        raise ColrecError(f"train run {train_run} stored no cf_user embeddings")
    rows = nearest(session, Space(train_run, "cf_user", dim), k * 3, entity_ids=users)
    known, out = set(users), dict[int, list[int]]()
    for user, _, neighbour, _ in rows:
        if neighbour in known:
            out.setdefault(user, []).append(neighbour)
    return {u: near[:k] for u, near in out.items()}

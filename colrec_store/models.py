"""ORM tables. The schema itself is created by Alembic migrations (migrations/), never by create_all
outside tests of the migrations themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    Unicode,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("running", "failed", "staged", "published")
# The run outputs that grow with users: partitioned by dataset, then by run (migration 0007; rows
# go in through colrec_store.repositories.partitions, which creates a run's partition first).
PARTITIONED = {"postgresql_partition_by": "LIST (dataset_id)"}


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB}  # noqa: RUF012  # SQLAlchemy reads it from the class, once


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = _now()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("dataset_id", "external_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("dataset_id", "external_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(Text)
    # Item text is untrusted data: stored verbatim, quoted into prompts, never interpreted.
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Interaction(Base):
    __tablename__ = "interactions"
    # One row per source event. event_key tells apart distinct events with the same (user, item, ts),
    # e.g. two Amazon reviews of one item on one day; it is '' where (user, item, ts) is unique.
    __table_args__ = (
        UniqueConstraint("dataset_id", "user_id", "item_id", "ts", "event_key"),
        Index("ix_interactions_dataset_ts", "dataset_id", "ts"),  # as-of windows
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    rating: Mapped[float | None] = mapped_column(Float)
    # A label given by the source (e.g. CoLLM's 0/1); splits derive labels from ratings otherwise.
    label: Mapped[int | None] = mapped_column(SmallInteger)
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event_key: Mapped[str] = mapped_column(Text, server_default="")
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(f"status in {RUN_STATUSES}", name="runs_status_check"),
        Index("ix_runs_dataset_job_status", "dataset_id", "job", "status"),  # the latest_* views
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    error: Mapped[str | None] = mapped_column(Text)
    code_version: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = _now()
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ModelArtifact(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(100))  # mf, lightgcn, sasrec, lora-adapter, ...
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[dt.datetime] = _now()


class Embedding(Base):
    """One vector per (run, space, entity). The column has no fixed dimension, so each
    (space, dim) gets its own partial HNSW index on `vector::vector(dim)` (see repositories), which
    every run's partition has (each run's vectors in a graph of their own)."""

    __tablename__ = "embeddings"
    __table_args__ = PARTITIONED
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    space: Mapped[str] = mapped_column(String(100), primary_key=True)  # cf_user, profile_item, ...
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[Any] = mapped_column(Vector())


class _Generated:
    """Columns shared by every table of LLM-made text: who made it and from which prompt."""

    model: Mapped[str] = mapped_column(Text)
    adapter: Mapped[str | None] = mapped_column(Text)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()


class Profile(_Generated, Base):
    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("entity_kind in ('user', 'item')", name="profiles_kind_check"),
        UniqueConstraint("run_id", "entity_kind", "entity_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    entity_kind: Mapped[str] = mapped_column(String(10))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text)
    failed: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Rationale(_Generated, Base):
    __tablename__ = "rationales"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    text: Mapped[str | None] = mapped_column(Text)
    kept: Mapped[bool | None] = mapped_column(Boolean)  # self-curation decision; both kinds are kept
    verdict: Mapped[float | None] = mapped_column(Float)  # the LLM's P(Yes) that the rationale is good
    failed: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Assessment(_Generated, Base):
    """SCORE's self-assessment (P^r): what the LLM says would help judge this user on this item."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("run_id", "user_id", "item_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)


class Evidence(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(50))  # score, coral, ...
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))  # retrieved, selected, ...
    rank: Mapped[int] = mapped_column(Integer)
    entity_kind: Mapped[str] = mapped_column(String(10))  # the collaborator: user or item
    entity_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = PARTITIONED
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    method: Mapped[str] = mapped_column(String(50), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float | None] = mapped_column(Float)
    label: Mapped[int | None] = mapped_column(SmallInteger)
    failed: Mapped[bool] = mapped_column(Boolean, server_default="false")


class Recommendation(Base):
    __tablename__ = "recommendations"
    __table_args__ = PARTITIONED
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    method: Mapped[str] = mapped_column(String(50), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)


class LlmCache(Base):
    __tablename__ = "llm_cache"
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    adapter: Mapped[str] = mapped_column(Text, primary_key=True)  # '' for the base model
    prompt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    params_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    output: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = _now()


class LlmRequest(Base):
    """Prompts waiting for the ray executor. A job enqueues its unseen prompts in numbered
    partitions; an engine replica reads one partition, runs it, and in one transaction commits the
    outputs to llm_cache and deletes the partition's rows. Rows left by a killed job go with its run."""

    __tablename__ = "llm_requests"
    __table_args__ = (Index("ix_llm_requests_run_partition", "run_id", "partition"),)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    prompt_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)


class Neighbour(Base):
    """Top-K most similar entities in one embedding space of a run (rank 1 = nearest)."""

    __tablename__ = "neighbours"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    space: Mapped[str] = mapped_column(String(100), primary_key=True)
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    neighbour_id: Mapped[int] = mapped_column(BigInteger)
    distance: Mapped[float] = mapped_column(Float)


class SchedulerJob(Base):
    """APScheduler's SQLAlchemy job store, created here so that the schema stays under migrations."""

    __tablename__ = "apscheduler_jobs"
    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class RefreshLock(Base):
    """The lease of a dataset's refresh: held by the backend (pid, start time) named here for as long
    as that backend lives (colrec_store.locks). No login but colrec's own may read or take it."""

    __tablename__ = "refresh_locks"
    dataset: Mapped[str] = mapped_column(Text, primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    backend_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SourceWatermark(Base):
    """How far `ingest --sql --since-last` has read one source of a dataset (migration 0011)."""

    __tablename__ = "source_watermarks"
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    source_key: Mapped[str] = mapped_column(Text, primary_key=True)
    server: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

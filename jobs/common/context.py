"""What every job gets: the settings, a database engine built on first use, and run recording."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from colrec.errors import ColrecError, clip_values
from colrec_store import db, migrate
from colrec_store.config import Settings
from colrec_store.repositories import runs

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    settings: Settings
    # Set inside a refresh: every run is then a child of it and stays `staged` until it publishes.
    parent_run_id: int | None = None

    def child(self, parent_run_id: int) -> JobContext:
        """The same context (same engine) for the steps of a parent run."""
        inner = JobContext(self.settings, parent_run_id)
        inner.__dict__.update({k: v for k, v in self.__dict__.items() if k in ("url", "raw_engine", "engine")})
        return inner

    @cached_property
    def url(self) -> str:
        return db.resolve_url(self.settings)

    @cached_property
    def raw_engine(self) -> Engine:
        """An engine without the schema check (for `db` commands)."""
        return db.make_engine(self.url)

    @cached_property
    def engine(self) -> Engine:
        """An engine on a database whose schema is at the latest migration. The embedded store is
        migrated on first use; a server named by DATABASE_URL is its owner's to migrate."""
        engine = self.raw_engine
        if not migrate.is_current(engine) and self.settings.database_url is None and migrate.is_behind(engine):
            if migrate.upgrade_when_behind(engine):
                log.info("embedded store migrated to %s", migrate.head_revision(engine))
        if not migrate.is_current(engine):
            raise ColrecError("the database schema is not up to date: run `colrec-jobs db upgrade` first")
        return engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with db.transaction(self.engine) as session:
            yield session

    @contextmanager
    def run(
        self,
        job: str,
        *,
        dataset_id: int | None = None,
        params: dict[str, Any] | None = None,
        as_of: dt.date | None = None,
        parent_run_id: int | None = None,
    ) -> Iterator[RunRecord]:
        """Record a run: `running` now (committed at once so it is visible while it works), then
        whatever the job sets, or `failed` with the error if it raises."""
        parent_run_id = parent_run_id or self.parent_run_id
        with self.transaction() as session:
            run_id = runs.start_run(
                session,
                job=job,
                dataset_id=dataset_id,
                params=params or {},
                code_version=code_version(),
                as_of=as_of,
                parent_run_id=parent_run_id,
            )
        record = RunRecord(run_id, staged_only=self.parent_run_id is not None)
        try:
            yield record
        except BaseException as err:
            with self.transaction() as session:
                runs.finish_run(
                    session,
                    run_id,
                    status="failed",
                    metrics=record.metrics,
                    timings=record.timings,
                    error=one_line(err),
                    dataset_id=record.dataset_id,
                )
            raise
        if not record.finished:
            with self.transaction() as session:
                record.finish(session, "published")


@dataclass
class RunRecord:
    """A run in progress. `finish(session, status)` inside the job's own transaction makes the status
    change commit together with the job's output."""

    id: int
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    dataset_id: int | None = None
    finished: bool = False
    staged_only: bool = False  # a step of a refresh: only the refresh publishes

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = round(time.perf_counter() - start, 3)

    def finish(self, session: Session, status: str) -> None:
        if status == "published" and self.staged_only:
            status = "staged"
        runs.finish_run(
            session, self.id, status=status, metrics=self.metrics, timings=self.timings, dataset_id=self.dataset_id
        )
        self.finished = True


def one_line(err: BaseException) -> str:
    """The first line of an error; our own errors speak for themselves, others get their type."""
    text = str(err).strip().splitlines()
    if text and isinstance(err, ColrecError):
        return text[0]
    return clip_values(f"{type(err).__name__}: {text[0]}") if text else type(err).__name__


def code_version() -> str:
    from importlib.metadata import version

    base = version("colrec")
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists():
        try:
            sha = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            return f"{base}+g{sha}"
        except (OSError, subprocess.SubprocessError):
            pass
    return base

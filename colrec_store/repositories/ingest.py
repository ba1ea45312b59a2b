"""Bulk ingest: COPY a validated Batch into temporary staging tables, then merge in set-based SQL.

Runs inside the caller's transaction: an error anywhere leaves the tables as they were. Re-ingesting
the same rows changes nothing (users/items are upserted only when their fields differ, interactions
are unique per (user, item, ts)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import polars as pl
from sqlalchemy import text
from sqlalchemy.orm import Session

from colrec.errors import InputError
from colrec.formats.base import INTERACTION_SCHEMA, ITEM_SCHEMA, USER_SCHEMA, Batch
from colrec_store.db import psycopg_connection, rowcount
from colrec_store.repositories.datasets import ensure_dataset

_STAGING = {"stage_users": USER_SCHEMA, "stage_items": ITEM_SCHEMA, "stage_interactions": INTERACTION_SCHEMA}
_SQL_TYPES = {pl.Utf8: "text", pl.Int64: "bigint", pl.Int16: "smallint", pl.Float64: "double precision"}


@dataclass(frozen=True)
class IngestCounts:
    users_added: int
    users_updated: int
    items_added: int
    items_updated: int
    interactions_added: int
    interactions_seen: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def ingest_batch(session: Session, dataset: str, batch: Batch) -> IngestCounts:
    staging = Staging(session, dataset)
    staging.add(batch)
    return staging.merge()


class Staging:
    """Rows COPYd into temporary tables chunk by chunk (so no source is ever whole in memory), then
    merged in one go, in the caller's transaction. Whether references must resolve is the first
    chunk's to say (`Batch.users_declared`/`items_declared`)."""

    def __init__(self, session: Session, dataset: str) -> None:
        self.session, self.dataset_id = session, ensure_dataset(session, dataset)
        self.chunks, self.rows = 0, 0
        self.users_declared = self.items_declared = False
        self.staged: set[str] = set()
        self.timings: dict[str, float] = {}
        self.had_interactions = session.execute(
            text("select exists (select 1 from interactions where dataset_id = :d)"), {"d": self.dataset_id}
        ).scalar_one()

    def add(self, batch: Batch) -> None:
        if not self.chunks:
            self.users_declared, self.items_declared = bool(batch.users_declared), bool(batch.items_declared)
        for table, frame in (("stage_interactions", batch.interactions), ("stage_users", batch.users),
                             ("stage_items", batch.items)):  # fmt: skip
            if frame is not None:
                if table not in self.staged:
                    _create_stage(self.session, table)
                    self.staged.add(table)
                copy_frame(self.session, table, frame)
        self.chunks += 1
        self.rows += batch.interactions.height

    def merge(self) -> IngestCounts:
        """Upsert users and items, check references and events, insert interactions; the seconds
        of each step go to `self.timings`."""
        session, dataset_id = self.session, self.dataset_id
        clock = _Clock(self.timings)
        if "stage_interactions" not in self.staged:
            _create_stage(session, "stage_interactions")
        for table in sorted(self.staged):  # temporary tables get no statistics unless asked: without
            session.execute(text(f"analyze {table}"))  # them a million staged rows get nested loops
        clock.tick("merge_analyze")
        users_added = users_updated = items_added = items_updated = 0
        if "stage_users" in self.staged:
            users_added, users_updated = _upsert_users(session, dataset_id)
        if "stage_items" in self.staged:
            items_added, items_updated = _upsert_items(session, dataset_id)
        clock.tick("merge_catalogue")
        if self.users_declared:
            _check_references(session, dataset_id, "user", "users")
        else:
            users_added += _imply(session, dataset_id, "user", "users")
        if self.items_declared:
            _check_references(session, dataset_id, "item", "items")
        else:
            items_added += _imply(session, dataset_id, "item", "items")
        if users_added + items_added > 10_000:  # the joins below plan on these tables' statistics
            session.execute(text("analyze users, items"))
        clock.tick("merge_references")
        if self.chunks > 1:  # each chunk was checked alone by colrec.formats.checks; now across them
            _check_staged_duplicates(session)
        clock.tick("merge_duplicates")
        if self.had_interactions:  # a dataset with nothing stored has nothing to contradict
            _check_stored_events(session, dataset_id)
        clock.tick("merge_stored_events")
        added = _insert_interactions(session, dataset_id)
        clock.tick("merge_insert")
        return IngestCounts(users_added, users_updated, items_added, items_updated, added, self.rows)


def copy_frame(session: Session, table: str, frame: pl.DataFrame) -> None:
    """COPY a frame into `table` (columns by name) through psycopg, in the session's transaction."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    payload = frame.write_csv(null_value="\\N", quote_style="non_numeric").encode()
    raw = psycopg_connection(session)
    with raw.cursor() as cursor:
        sql = f"copy {table} ({columns}) from stdin (format csv, header true, null '\\N')"
        with cursor.copy(sql) as copy:
            for start in range(0, len(payload), 1 << 20):
                copy.write(payload[start : start + (1 << 20)])


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings, self.last = timings, time.perf_counter()

    def tick(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.last, 3)
        self.last = now


def _create_stage(session: Session, table: str) -> None:
    """A temporary table shaped like the Batch frame (so the two cannot drift), filled by COPY."""
    columns = ", ".join(f'"{name}" {_SQL_TYPES[dtype]}' for name, dtype in _STAGING[table].items())
    session.execute(text(f"create temporary table {table} ({columns}) on commit drop"))


def _check_staged_duplicates(session: Session) -> None:
    """The same event twice across chunks with another rating or label (as checks.py words it):
    grouped first (one pass over staging), the two rows read only for the first such event."""
    event = text(
        """
        select "user", item, ts_us, coalesce(event_key, '') as event_key from stage_interactions
        group by 1, 2, 3, 4
        having count(distinct coalesce(rating::text, '-') || '/' || coalesce(label::text, '-')) > 1
        order by min(file), min(line) limit 1
        """
    )
    found = session.execute(event).first()
    if found is None:
        return
    same = session.execute(
        text(
            """
            select file, line, "user", item, rating, label from stage_interactions
            where "user" = :u and item = :i and ts_us = :t and coalesce(event_key, '') = :k order by file, line
            """
        ),
        {"u": found.user, "i": found.item, "t": found.ts_us, "k": found.event_key},
    ).all()
    first = same[0]
    second = next(r for r in same[1:] if (r.rating, r.label) != (first.rating, first.label))
    raise InputError(
        f"{second.file}:{second.line}: the same event as {first.file}:{first.line} (user {first.user!r}, "
        f"item {first.item!r}, same time) with a different rating or label "
        f"({_said(second.rating, second.label)} vs {_said(first.rating, first.label)}); keep one of the two"
    )


def _said(rating: float | None, label: int | None) -> str:
    return f"rating {rating}" if rating is not None else f"label {label}"


def _upsert_users(session: Session, dataset_id: int) -> tuple[int, int]:
    rows = (
        session.execute(
            text(
                """
            insert into users (dataset_id, external_id, attributes)
            select distinct on (external_id) :d, external_id, attributes::jsonb from stage_users
            order by external_id, file, line  -- staged in chunks: the first row of each id wins
            on conflict (dataset_id, external_id) do update set attributes = excluded.attributes
            where users.attributes is distinct from excluded.attributes
            returning (xmax = 0) as inserted
            """
            ),
            {"d": dataset_id},
        )
        .scalars()
        .all()
    )
    return sum(rows), len(rows) - sum(rows)


def _upsert_items(session: Session, dataset_id: int) -> tuple[int, int]:
    rows = (
        session.execute(
            text(
                """
            insert into items (dataset_id, external_id, title, description, attributes)
            select distinct on (external_id) :d, external_id, title, description, attributes::jsonb from stage_items
            order by external_id, file, line  -- staged in chunks: the first row of each id wins
            on conflict (dataset_id, external_id) do update
              set title = excluded.title, description = excluded.description, attributes = excluded.attributes
            where (items.title, items.description, items.attributes)
                  is distinct from (excluded.title, excluded.description, excluded.attributes)
            returning (xmax = 0) as inserted
            """
            ),
            {"d": dataset_id},
        )
        .scalars()
        .all()
    )
    return sum(rows), len(rows) - sum(rows)


def _check_references(session: Session, dataset_id: int, column: str, table: str) -> None:
    row = session.execute(
        text(
            f"""
            select s.file, s.line, s."{column}" from stage_interactions s
            where not exists (select 1 from {table} t where t.dataset_id = :d and t.external_id = s."{column}")
            order by s.file, s.line limit 1
            """
        ),
        {"d": dataset_id},
    ).first()
    if row is not None:
        raise InputError(f"{row.file}:{row.line}: unknown {column} id {row[2]!r} (not in the {table} of this dataset)")


def _check_stored_events(session: Session, dataset_id: int) -> None:
    """A row for an event already stored, with another rating or label: refused like a conflicting
    duplicate within one file (the stored row would win silently)."""
    row = session.execute(
        text(
            """
            select s.file, s.line, s."user", s.item, s.rating, s.label, t.rating as stored_rating,
                   t.label as stored_label
            from stage_interactions s
            join users u on u.dataset_id = :d and u.external_id = s."user"
            join items i on i.dataset_id = :d and i.external_id = s.item
            join interactions t on t.dataset_id = :d and t.user_id = u.id and t.item_id = i.id
                 and t.ts = timestamptz 'epoch' + s.ts_us * interval '1 microsecond'
                 and t.event_key = coalesce(s.event_key, '')
            where (t.rating, t.label) is distinct from (s.rating, s.label)
            order by s.file, s.line limit 1
            """
        ),
        {"d": dataset_id},
    ).first()
    if row is not None:
        raise InputError(
            f"{row.file}:{row.line}: user {row.user!r}, item {row.item!r} at this time is already stored with "
            f"rating {row.stored_rating}, label {row.stored_label}; this row says rating {row.rating}, "
            f"label {row.label} (interactions are never rewritten: fix the file, or ingest into a new dataset)"
        )


def _imply(session: Session, dataset_id: int, column: str, table: str) -> int:
    result = session.execute(
        text(
            f"""
            insert into {table} (dataset_id, external_id)
            select distinct :d, "{column}" from stage_interactions
            on conflict (dataset_id, external_id) do nothing
            """
        ),
        {"d": dataset_id},
    )
    return rowcount(result)


def _insert_interactions(session: Session, dataset_id: int) -> int:
    result = session.execute(
        text(
            """
            insert into interactions (dataset_id, user_id, item_id, rating, label, ts, event_key, attributes)
            select :d, u.id, i.id, s.rating, s.label,
                   timestamptz 'epoch' + s.ts_us * interval '1 microsecond', coalesce(s.event_key, ''),
                   s.attributes::jsonb
            from stage_interactions s
            join users u on u.dataset_id = :d and u.external_id = s."user"
            join items i on i.dataset_id = :d and i.external_id = s.item
            order by s.file, s.line
            on conflict (dataset_id, user_id, item_id, ts, event_key) do nothing
            """
        ),
        {"d": dataset_id},
    )
    return rowcount(result)

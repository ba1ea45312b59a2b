"""`colrec-jobs ingest`: validate dataset files (or a query's rows, from any Postgres) and merge them
into the store in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from colrec.errors import ColrecError, InputError
from colrec.formats import Batch, parse
from colrec.formats.base import INTERACTION_SCHEMA
from colrec.formats.checks import check_batch
from colrec.formats.registry import check_catalogue_options
from colrec.formats.tabular import (
    LINE,
    parse_catalogue_records,
    parse_item_mapping,
    parse_mapping,
    parse_records,
    records_frame,
    tabular_chunks,
)
from colrec_store.repositories.ingest import IngestCounts, Staging
from colrec_store.repositories.sources import SqlSource, connect, read_watermark, stream, time_kind, write_watermark
from jobs.common.console import progress
from jobs.common.context import JobContext

log = logging.getLogger(__name__)
CHUNK_ROWS = 100_000  # rows per chunk of a file or a query: parsed, checked and COPYd before the next is read
QUERY, ITEMS_QUERY = "query", "items query"  # what errors name instead of a file


def run(
    ctx: JobContext,
    paths: list[Path],
    *,
    dataset: str,
    fmt: str,
    mapping: str | None = None,
    all_items: bool = False,
    items: Path | None = None,
    item_mapping: str | None = None,
    multi_sep: str = "|",
) -> IngestCounts:
    params = {"paths": [str(p) for p in paths], "format": fmt, "mapping": mapping, "all_items": all_items,
              "items": str(items) if items else None, "item_mapping": item_mapping, "multi_sep": multi_sep}  # fmt: skip
    with ctx.run("ingest", params=params) as record, ctx.transaction() as session, progress() as bar:
        task = bar.add_task(f"ingest {dataset}", total=None)
        staging = Staging(session, dataset)
        with record.timed("stage"):
            for batch in _file_batches(fmt, paths, mapping, all_items, items, item_mapping, multi_sep):
                for warning in batch.warnings:
                    log.warning("%s", warning)
                record.metrics.update(batch.metrics)
                staging.add(batch)
                bar.advance(task, batch.interactions.height)
        log.info("staged %d interactions from %s", staging.rows, ", ".join(map(str, paths)))
        with record.timed("load"):
            counts = staging.merge()
        record.timings.update(staging.timings)
        record.metrics.update(counts.as_dict())
        record.dataset_id = staging.dataset_id
        record.finish(session, "published")
    log.info("ingest %s: %s", dataset, counts.as_dict())
    return counts


def _file_batches(fmt: str, paths: list[Path], mapping: str | None, all_items: bool, items: Path | None,
                  item_mapping: str | None, multi_sep: str) -> Iterator[Batch]:  # fmt: skip
    """CSV/TSV/Parquet in checked chunks of CHUNK_ROWS rows (a 25M-row file is never whole in
    memory); the other formats, whose files are at most a few million rows, in one parsed Batch."""
    if fmt != "csv" or not paths:
        yield parse(fmt, paths, mapping=mapping, all_items=all_items, items=items, item_mapping=item_mapping,
                    multi_sep=multi_sep)  # fmt: skip
        return
    check_catalogue_options(fmt, items, item_mapping)
    chunks = tabular_chunks(paths, parse_mapping(mapping), items, parse_item_mapping(item_mapping), multi_sep,
                            CHUNK_ROWS)  # fmt: skip
    for batch in chunks:
        yield check_batch(batch)


@dataclass(frozen=True)
class SqlIngest:
    """`ingest --sql`: what to read from which server, and how its columns map."""

    query: str
    mapping: str | None = None  # user=COL,item=COL[,rating=,label=,ts=,title=] as for csv files
    items_query: str | None = None
    item_mapping: str | None = None
    multi_sep: str = "|"
    since_last: bool = False  # only rows newer than this source's watermark (needs ts=)
    chunk_rows: int = CHUNK_ROWS


def run_sql(ctx: JobContext, dataset: str, source: SqlIngest) -> IngestCounts:
    """Stream a query's rows (and a catalogue query's) through the checks of a csv file into the
    store's staging tables, then merge them in the same transaction that moves the watermark. The
    server is COLREC_SOURCE_URL (`--source-url`), else colrec's own store."""
    mapping, item_mapping = parse_mapping(source.mapping), parse_item_mapping(source.item_mapping)
    if source.since_last and "ts" not in mapping:
        raise ColrecError("--since-last needs a time column: --map ...,ts=COL")
    if source.item_mapping and not source.items_query:
        raise ColrecError("--item-map needs --items-sql")
    sql = SqlSource(ctx.settings.source_url or ctx.url, source.query)
    params = {"sql": source.query, "server": sql.server, "mapping": source.mapping, "items_sql": source.items_query,
              "item_mapping": source.item_mapping, "since_last": source.since_last}  # fmt: skip
    with ctx.run("ingest", params=params) as record, ctx.transaction() as session:
        staging = Staging(session, dataset)  # creates the dataset inside this transaction
        mark = read_watermark(session, staging.dataset_id, sql) if source.since_last else None
        with record.timed("read"), connect(sql) as conn, progress() as bar:
            shown = bar.add_task(f"ingest {dataset} from {sql.server}", total=None)
            if source.items_query:
                items = SqlSource(sql.url, source.items_query)
                for frame in _frames(conn, items, None, source.chunk_rows, source.multi_sep):
                    try:
                        catalogue = parse_catalogue_records(frame, item_mapping, source.multi_sep, ITEMS_QUERY)
                    except InputError as err:
                        raise InputError(_name_row(str(err), frame, {"id": item_mapping["id"][0]})) from None
                    staging.add(Batch(_empty_interactions(), None, catalogue, (ITEMS_QUERY,)))
            after = (mapping["ts"], time_kind(conn, sql.query, mapping["ts"]), mark) if mark is not None else None
            newest = None
            for frame in _frames(conn, sql, after, source.chunk_rows, source.multi_sep):
                batch = _checked(frame, mapping, bool(source.items_query))
                staging.add(batch)
                if "ts" in mapping:
                    newest = max(newest or 0, int(batch.interactions.select(pl.col("ts_us").max()).item()))
                bar.advance(shown, frame.height)
        with record.timed("load"):
            try:
                counts = staging.merge()
            except InputError as err:  # unknown ids, events stored with other ratings: no frame at hand
                raise InputError(_name_row(str(err), None, {})) from None
        if source.since_last and newest is not None:
            write_watermark(session, staging.dataset_id, sql, newest, record.id)
        record.metrics.update(counts.as_dict(), watermark_before_us=mark, watermark_us=newest or mark)
        record.dataset_id = staging.dataset_id  # only now: a failed run must not name a rolled-back dataset
        record.finish(session, "published")
    log.info("ingest %s from %s: %s", dataset, sql.server, counts.as_dict())
    return counts


def _frames(conn: Any, source: SqlSource, after: tuple[str, str, int] | None, chunk_rows: int,
            multi_sep: str) -> Iterator[pl.DataFrame]:  # fmt: skip
    first = 1
    for names, records in stream(conn, source.query, chunk_rows, after=after):
        yield records_frame(names, records, first, multi_sep)
        first += len(records)


def _checked(frame: pl.DataFrame, mapping: dict[str, str], items_declared: bool) -> Batch:
    """One chunk through the checks of a file's rows; an error names the row's position in the
    result and its key values instead of a file and line."""
    try:
        rows = parse_records(frame, mapping, QUERY)
        return check_batch(Batch(rows, None, None, (QUERY,), users_declared=False, items_declared=items_declared))
    except InputError as err:
        raise InputError(_name_row(str(err), frame, {k: mapping[k] for k in ("user", "item")})) from None


def _name_row(message: str, frame: pl.DataFrame | None, keys: dict[str, str]) -> str:
    """`query:17: ...` -> `query row 17 (user 'u3', item 'i9'): ...`: a result has no lines, so its
    rows are named by position and by their key columns' values."""
    for label in (QUERY, ITEMS_QUERY):
        head, sep, rest = message.partition(": ")
        position = head.removeprefix(f"{label}:")
        if sep and head.startswith(f"{label}:") and position.isdigit():
            found = frame.filter(pl.col(LINE) == int(position)) if frame is not None else None
            said = ""
            if found is not None and found.height:
                row = found.row(0, named=True)
                said = " (" + ", ".join(f"{k} {row.get(column)!r}" for k, column in keys.items()) + ")"
            return f"{label} row {position}{said}: {rest}"
    return message


def _empty_interactions() -> pl.DataFrame:
    return pl.DataFrame(schema=INTERACTION_SCHEMA)

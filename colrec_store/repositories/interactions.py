"""Reading interaction windows, users and items out of the store as polars frames (via COPY)."""

from __future__ import annotations

import io
from collections.abc import Mapping

import polars as pl
from sqlalchemy.orm import Session

from colrec_store.db import psycopg_connection

INTERACTION_COLUMNS = {
    "interaction_id": pl.Int64,
    "user_id": pl.Int64,
    "item_id": pl.Int64,
    "rating": pl.Float64,
    "label": pl.Int16,
    "ts_us": pl.Int64,
}


def copy_out(session: Session, query: str, schema: Mapping[str, pl.DataType | type[pl.DataType]]) -> pl.DataFrame:
    """Run `query` through COPY ... TO STDOUT (CSV) and read it with polars: the fast path out."""
    raw = psycopg_connection(session)
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"copy ({query}) to stdout (format csv, header true)") as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    return pl.read_csv(buffer, schema=schema)


def interactions(session: Session, dataset_id: int) -> pl.DataFrame:
    """All interactions of a dataset: ids, rating, label and ts (datetime, UTC)."""
    query = (
        "select id as interaction_id, user_id, item_id, rating, label, "
        "(extract(epoch from ts) * 1000000)::bigint as ts_us "
        f"from interactions where dataset_id = {int(dataset_id)} order by ts, id"
    )
    frame = copy_out(session, query, INTERACTION_COLUMNS)
    return frame.with_columns(pl.from_epoch("ts_us", time_unit="us").dt.replace_time_zone("UTC").alias("ts")).drop(
        "ts_us"
    )


def user_ids(session: Session, dataset_id: int) -> pl.Series:
    return copy_out(
        session, f"select id from users where dataset_id = {int(dataset_id)} order by id", {"id": pl.Int64}
    )["id"]


def items(session: Session, dataset_id: int) -> pl.DataFrame:
    """Item ids, titles, descriptions and attributes (JSON text), ordered by id."""
    query = (
        "select id, title, description, attributes::text as attributes "
        f"from items where dataset_id = {int(dataset_id)} order by id"
    )
    return copy_out(session, query, {"id": pl.Int64, "title": pl.Utf8, "description": pl.Utf8, "attributes": pl.Utf8})


def users(session: Session, dataset_id: int) -> pl.DataFrame:
    """User ids and external ids, ordered by id."""
    query = f"select id, external_id from users where dataset_id = {int(dataset_id)} order by id"
    return copy_out(session, query, {"id": pl.Int64, "external_id": pl.Utf8})

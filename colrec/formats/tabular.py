"""Any CSV, TSV or Parquet file of interactions, with a mapping from our fields to its columns.

Mapping keys: user, item (required), rating, label, ts (unix seconds or an ISO date/time; without
it every row gets the epoch), title (an item title column). Example: user=uid,item=iid,ts=time.

A catalogue file beside them (`--items FILE --item-map id=COL,title=COL[,description=COL]
[,attributes=COL1,COL2...]`) gives the items' text and attributes; attribute values holding the
multi-value separator (`|` by default: MovieLens's genres) become lists. With a catalogue, every
interaction must name one of its items (or an item already in the store), as for MovieLens.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from colrec.errors import InputError
from colrec.formats.base import (
    INTERACTION_SCHEMA,
    ITEM_SCHEMA,
    Batch,
    cast_checked,
    conform,
    epoch_bounds,
    json_object,
    time_rule,
)

FIELDS = ("user", "item", "rating", "label", "ts", "title")
ITEM_FIELDS = ("id", "title", "description", "attributes")
LINE = "__colrec_line"  # the line numbers beside the file's own columns (one of which may be "line")


def parse_mapping(spec: str | None) -> dict[str, str]:
    mapping = {f: f for f in ("user", "item")}
    for part in filter(None, (spec or "").split(",")):
        key, sep, column = part.partition("=")
        if not sep or key.strip() not in FIELDS:
            raise InputError(f"bad column mapping {part!r}: use FIELD=COLUMN with FIELD in {', '.join(FIELDS)}")
        mapping[key.strip()] = column.strip()
    return mapping


def parse_item_mapping(spec: str | None) -> dict[str, list[str]]:
    """`id=COL,title=COL,attributes=A,B`: a part without `=` continues the attributes list."""
    mapping: dict[str, list[str]] = {"id": ["id"]}
    key = None
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        field, sep, column = part.partition("=")
        if not sep and key == "attributes":
            mapping["attributes"].append(part)
            continue
        if not sep or field.strip() not in ITEM_FIELDS or not column.strip():
            raise InputError(
                f"bad item column mapping {part!r}: use FIELD=COLUMN with FIELD in {', '.join(ITEM_FIELDS)}"
            )
        key = field.strip()
        mapping[key] = [column.strip()]
    return mapping


def parse_tabular(paths: list[Path], mapping: dict[str, str], catalogue: Path | None = None,
                  item_mapping: dict[str, list[str]] | None = None, multi_sep: str = "|") -> Batch:  # fmt: skip
    """The whole input as one Batch (what `parse` gives; the ingest job streams `tabular_chunks`)."""
    batches = list(tabular_chunks(paths, mapping, catalogue, item_mapping, multi_sep, None))
    interactions = pl.concat([b.interactions for b in batches])
    listed = [b.items for b in batches if b.items is not None]
    items = _first_of_each(pl.concat(listed)) if listed else None
    return Batch(interactions, None, items, batches[0].files, items_declared=catalogue is not None)


def tabular_chunks(paths: list[Path], mapping: dict[str, str], catalogue: Path | None,
                   item_mapping: dict[str, list[str]] | None, multi_sep: str,
                   chunk_rows: int | None) -> Iterator[Batch]:  # fmt: skip
    """The input in Batches of at most `chunk_rows` interactions (None: one per file), each one
    checked alone; the catalogue, if given, comes whole in the first. The store checks what spans
    chunks (colrec_store.repositories.ingest.Staging)."""
    files = (*map(str, paths), *([str(catalogue)] if catalogue is not None else []))
    items = None
    if catalogue is not None:
        if "title" in mapping:
            raise InputError("give item titles in --map title= or in the --items catalogue, not both")
        items = parse_catalogue(catalogue, item_mapping or {"id": ["id"]}, multi_sep)
    declared = catalogue is not None
    for path in paths:
        chunks = _parquet_chunks(path, chunk_rows) if path.suffix == ".parquet" else _delimited_chunks(path, chunk_rows)
        for number, frame in enumerate(chunks):
            if number == 0:
                _check_columns(frame, mapping, path)
            rows = _interactions(frame, mapping, path)
            found = items if catalogue is not None else (_titles(rows) if "title" in mapping else None)
            yield Batch(conform(rows, INTERACTION_SCHEMA), None, found, files, items_declared=declared)
            items = None if catalogue is not None else items  # the catalogue goes once


def _titles(rows: pl.DataFrame) -> pl.DataFrame:
    """Items named by a title column of the interactions: the first title of each."""
    titled = rows.filter(pl.col("title").is_not_null()).select(
        pl.col("item").alias("external_id"),
        "title",
        pl.lit(None).alias("description"),
        pl.lit("{}").alias("attributes"),
        "file",
        "line",
    )
    return _first_of_each(conform(titled, ITEM_SCHEMA))


def _first_of_each(items: pl.DataFrame) -> pl.DataFrame:
    return items.unique("external_id", keep="first", maintain_order=True)


def parse_catalogue(path: Path, mapping: dict[str, list[str]], multi_sep: str) -> pl.DataFrame:
    """The items of a catalogue file, in ITEM_SCHEMA; an id given twice is an error naming both lines."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    return _catalogue(_frame(path, _flat(mapping)), mapping, multi_sep, path)


def _flat(mapping: dict[str, list[str]]) -> dict[str, str]:
    return {f"{k} {n}" if k == "attributes" else k: c for k, cs in mapping.items() for n, c in enumerate(cs)}


def _catalogue(frame: pl.DataFrame, mapping: dict[str, list[str]], multi_sep: str, path: Path | str) -> pl.DataFrame:
    frame = cast_checked(frame.with_columns(pl.col(LINE).alias("line")), path, mapping["id"][0], pl.Utf8)
    ids = pl.col(mapping["id"][0])
    twice = frame.filter(ids.is_duplicated()).group_by(ids, maintain_order=True).agg(pl.col("line"))
    if twice.height:
        item, lines = twice.row(0)
        raise InputError(f"{path}:{lines[1]}: item id {item!r} appears again (first on line {lines[0]})")
    text = {f: _text(pl.col(mapping[f][0])) if f in mapping else pl.lit(None) for f in ("title", "description")}
    attributes = mapping.get("attributes", [])
    split = {c: _values(pl.col(c), multi_sep) for c in attributes}
    return conform(
        frame.select(
            ids.alias("external_id"),
            text["title"].alias("title"),
            text["description"].alias("description"),
            (json_object(split) if split else pl.lit("{}")).alias("attributes"),
            pl.lit(str(path)).alias("file"),
            "line",
        ),
        ITEM_SCHEMA,
    )


def _text(column: pl.Expr) -> pl.Expr:
    value = column.cast(pl.Utf8)
    return pl.when(value.str.strip_chars() == "").then(None).otherwise(value)


def _values(column: pl.Expr, sep: str) -> pl.Expr:
    """An attribute's values as a list: split on `sep`, trimmed, empty ones dropped."""
    parts = column.cast(pl.Utf8).str.split(sep) if sep else pl.concat_list([column.cast(pl.Utf8)])
    return parts.list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))


def _frame(path: Path, mapping: dict[str, str]) -> pl.DataFrame:
    """The file's rows, with its line numbers, after checking that the mapped columns exist and hold
    plain values."""
    frame = _read_parquet(path) if path.suffix == ".parquet" else _read_delimited(path)
    _check_columns(frame, mapping, path)
    return frame


def _check_columns(frame: pl.DataFrame, mapping: dict[str, str], path: Path | str) -> None:
    missing = [c for c in mapping.values() if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: no column {missing[0]!r} (columns: {', '.join(c for c in frame.columns if c != LINE)})"
        )
    for field, column in mapping.items():
        if frame.schema[column].is_nested():
            raise InputError(
                f"{path}:1: column {column!r} (the {field}) holds lists or records ({frame.schema[column]}); "
                "expected text or numbers"
            )


def records_frame(names: list[str], records: list[tuple[Any, ...]], first: int, multi_sep: str = "|") -> pl.DataFrame:
    """Rows of a query result as the text columns a file would give, numbered from `first` (their
    position in the whole result stands in for a line). Times become Unix seconds (a naive time is
    UTC), booleans 1/0, arrays `multi_sep`-joined text."""
    columns: dict[str, list[Any]] = {name: [_plain(r[n], multi_sep) for r in records] for n, name in enumerate(names)}
    columns[LINE] = list(range(first, first + len(records)))
    return pl.DataFrame(columns, schema={**{name: pl.Utf8 for name in names}, LINE: pl.Int64})


def parse_records(frame: pl.DataFrame, mapping: dict[str, str], source: str) -> pl.DataFrame:
    """Interactions (INTERACTION_SCHEMA) from a records_frame, checked as a file's rows are; errors
    read `SOURCE:POSITION: ...`."""
    _check_columns(frame, mapping, source)
    return conform(_interactions(frame, mapping, source), INTERACTION_SCHEMA)


def parse_catalogue_records(frame: pl.DataFrame, mapping: dict[str, list[str]], multi_sep: str,
                            source: str) -> pl.DataFrame:  # fmt: skip
    """Items (ITEM_SCHEMA) from a records_frame of a catalogue query (arrays arrive joined)."""
    _check_columns(frame, _flat(mapping), source)
    return _catalogue(frame, mapping, multi_sep, source)


def _plain(value: Any, multi_sep: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return repr((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())
    if isinstance(value, dt.date):
        return repr(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())
    if isinstance(value, list | tuple):
        return multi_sep.join(str(v) for v in value if v is not None)
    return str(value)


def _interactions(frame: pl.DataFrame, mapping: dict[str, str], path: Path | str) -> pl.DataFrame:
    rows = frame.select(pl.col(LINE).alias("line"), *[pl.col(col).alias(field) for field, col in mapping.items()])
    rows = cast_checked(rows, path, "user", pl.Utf8)
    rows = cast_checked(rows, path, "item", pl.Utf8)
    if "rating" in mapping:
        rows = cast_checked(rows, path, "rating", pl.Float64, required=False)
    if "label" in mapping:
        rows = cast_checked(rows, path, "label", pl.Int16, required=False)
    rows = _timestamps(rows, path) if "ts" in mapping else rows.with_columns(pl.lit(0).alias("ts_us"))
    return rows.with_columns(pl.lit(str(path)).alias("file"))


def _timestamps(rows: pl.DataFrame, path: Path | str) -> pl.DataFrame:
    text = pl.col("ts").cast(pl.Utf8).str.strip_chars()
    rows = rows.with_columns(text.cast(pl.Float64, strict=False).alias("__seconds"))
    # Dates are parsed only where a number is not there: inferring a date format costs 15x the cast.
    needed = rows["__seconds"].null_count() > 0
    parsed = text.str.to_datetime(time_zone="UTC", strict=False, time_unit="us").dt.epoch("us") if needed else None
    rows = rows.with_columns((parsed if parsed is not None else pl.lit(None, pl.Int64)).alias("__parsed_us"))
    seconds, parsed_us = pl.col("__seconds"), pl.col("__parsed_us")
    bad = rows.filter(seconds.is_null() & parsed_us.is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f"{path}:{row['line']}: field 'ts' must be unix seconds or an ISO date/time, got {row['ts']!r}"
        )
    # Checked in seconds before scaling: 1e308 or NaN would not survive the cast to microseconds.
    low, high = epoch_bounds()
    either = pl.when(seconds.is_not_null()).then(seconds).otherwise(parsed_us.cast(pl.Float64) / 1_000_000)
    bad = rows.filter(~either.is_finite() | ~either.is_between(low, high))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(f"{path}:{row['line']}: field 'ts' must be {time_rule()}, got {row['ts']!r}")
    ts_us = pl.when(seconds.is_not_null()).then((seconds * 1_000_000).round().cast(pl.Int64)).otherwise(parsed_us)
    return rows.with_columns(ts_us.alias("ts_us")).drop("__seconds", "__parsed_us")


def _read_parquet(path: Path) -> pl.DataFrame:
    frames = list(_parquet_chunks(path, None))
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _parquet_chunks(path: Path, chunk_rows: int | None) -> Iterator[pl.DataFrame]:
    """Parquet has no lines: row numbers (1-based) stand in for them."""
    try:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        step = chunk_rows or max(rows, 1)
        for start in range(0, rows, step):
            frame = pl.scan_parquet(path).slice(start, step).collect()
            yield frame.with_columns(pl.int_range(start + 1, start + frame.height + 1).alias(LINE))
    except InputError:
        raise
    except Exception as err:  # polars raises several kinds for a corrupt file
        raise InputError(f"{path}: cannot read Parquet: {str(err).splitlines()[0]}") from None
    if rows == 0:
        raise InputError(f"{path}: file has no data rows")


def _read_delimited(path: Path) -> pl.DataFrame:
    frames = list(_delimited_chunks(path, None))
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _delimited_chunks(path: Path, chunk_rows: int | None) -> Iterator[pl.DataFrame]:
    """The file's records in frames of at most `chunk_rows` (None: one frame), read as a stream:
    each line decoded on its own, so a bad byte names its line and no whole file is in memory."""
    delimiter = "\t" if path.name.removesuffix(".gz").endswith((".tsv", ".tab")) else ","
    with _open_lines(path) as lines:
        # strict: a stray or unterminated quote is an error, not a field that swallows the next rows
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header = _header(path, reader)
        columns: dict[str, list[str | int]] = {name: [] for name in [*header, LINE]}
        line, found = reader.line_num, 0
        try:
            for record in reader:
                if len(record) != len(header):
                    if not any(field.strip() for field in record):
                        line = reader.line_num
                        continue
                    raise InputError(f"{path}:{line + 1}: expected {len(header)} fields, found {len(record)}")
                for name, value in zip(header, record, strict=True):
                    columns[name].append(value)
                columns[LINE].append(line + 1)
                line = reader.line_num
                if chunk_rows and len(columns[LINE]) >= chunk_rows:
                    found += len(columns[LINE])
                    yield pl.DataFrame(columns)
                    columns = {name: [] for name in columns}
        except csv.Error as err:  # the record began on the line after the last whole one
            raise InputError(f"{path}:{line + 1}: malformed CSV: {err}") from None
    if columns[LINE] or not found:
        if not columns[LINE] and not found:
            raise InputError(f"{path}: file has no data rows")
        yield pl.DataFrame(columns)


@contextmanager
def _open_lines(path: Path) -> Iterator[Iterator[str]]:
    """The file's lines as text (gzip or not), each decoded strictly as UTF-8."""
    try:
        raw = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
    except OSError as err:
        raise InputError(f"{path}: cannot read file: {err}") from None

    def decoded() -> Iterator[str]:
        blank = True  # only whitespace so far
        try:
            for number, data in enumerate(raw, start=1):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"{path}:{number}: not valid utf-8 text") from None
                blank = blank and not text.strip()
                yield text
        except (OSError, EOFError, zlib.error) as err:  # a gzip stream corrupt past its header
            raise InputError(f"{path}: cannot read file: {err}") from None
        if blank:
            raise InputError(f"{path}: file is empty")

    with raw:
        yield decoded()


def _header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    try:
        header = next(reader)
    except csv.Error as err:
        raise InputError(f"{path}:1: malformed CSV header: {err}") from None
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}:1: column {name!r} appears twice in the header")
        seen.add(name)
    return header

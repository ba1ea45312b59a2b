"""The parsed form of one ingest and the line-exact validation helpers every parser uses.

Every row keeps the file and line it came from, so that any error (a bad field here, an unknown
user or item reference found later by the store) names them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from colrec.errors import InputError

INTERACTION_SCHEMA: dict[str, Any] = {
    "user": pl.Utf8,
    "item": pl.Utf8,
    "rating": pl.Float64,
    "label": pl.Int16,
    "ts_us": pl.Int64,  # microseconds since the Unix epoch, UTC
    "event_key": pl.Utf8,  # tells apart distinct events with the same (user, item, ts); null: none needed
    "attributes": pl.Utf8,  # JSON object or null
    "file": pl.Utf8,
    "line": pl.Int64,
}
USER_SCHEMA: dict[str, Any] = {"external_id": pl.Utf8, "attributes": pl.Utf8, "file": pl.Utf8, "line": pl.Int64}
ITEM_SCHEMA: dict[str, Any] = {
    "external_id": pl.Utf8,
    "title": pl.Utf8,
    "description": pl.Utf8,
    "attributes": pl.Utf8,
    "file": pl.Utf8,
    "line": pl.Int64,
}


@dataclass(frozen=True)
class Batch:
    """Validated rows of one ingest. `users`/`items` is None when the source gives no catalogue of
    them. Declared entities must resolve to the catalogue or to rows already in the store; the
    others are implied by the interactions."""

    interactions: pl.DataFrame
    users: pl.DataFrame | None
    items: pl.DataFrame | None
    files: tuple[str, ...]
    # Whether references must resolve to a known user/item. None: exactly when a catalogue is given.
    # MovieLens formats always declare theirs (u.data alone must match users and items already stored).
    users_declared: bool | None = None
    items_declared: bool | None = None
    warnings: tuple[str, ...] = ()  # one line each, printed by the ingest; the data is still valid
    metrics: dict[str, int] = field(default_factory=dict)  # counts the parser wants in the run record

    def __post_init__(self) -> None:
        if self.users_declared is None:
            object.__setattr__(self, "users_declared", self.users is not None)
        if self.items_declared is None:
            object.__setattr__(self, "items_declared", self.items is not None)
        _check_schema(self.interactions, INTERACTION_SCHEMA, "interactions")
        if self.users is not None:
            _check_schema(self.users, USER_SCHEMA, "users")
        if self.items is not None:
            _check_schema(self.items, ITEM_SCHEMA, "items")


def _check_schema(frame: pl.DataFrame, schema: dict[str, Any], what: str) -> None:
    got = dict(frame.schema)
    if got != schema:
        raise TypeError(f"{what} frame has schema {got}, expected {schema}")


def conform(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """Select and cast to `schema`, filling absent columns with nulls."""
    cols = [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    ]
    return frame.select(cols)


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: gzip data corrupt past its header
        raise InputError(f"{path}: cannot read file: {err}") from None
    if not raw.strip():
        raise InputError(f"{path}: file is empty")
    return raw


def read_text(path: Path, encoding: str = "utf-8") -> str:
    raw = read_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid {encoding} text") from None


def line_frame(path: Path, encoding: str = "utf-8", skip_header: bool = False) -> pl.DataFrame:
    """The file as rows of (line, text), line numbers 1-based as an editor shows them."""
    return _line_frame(path, read_text(path, encoding), skip_header)


def headed_lines(path: Path, sep: str, header: list[str], encoding: str = "utf-8") -> pl.DataFrame:
    """Like line_frame for a file whose first line must be exactly `header`."""
    text = read_text(path, encoding)
    first = [h.strip() for h in text.split("\n", 1)[0].rstrip("\r").split(sep)]
    if first != header:
        raise InputError(f"{path}:1: expected header {sep.join(header)!r}, got {sep.join(first)!r}")
    return _line_frame(path, text, skip_header=True)


def _line_frame(path: Path, text: str, skip_header: bool) -> pl.DataFrame:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [text.removesuffix("\r") for text in lines]
    first = 1
    if skip_header:
        lines, first = lines[1:], 2
    if not lines:
        raise InputError(f"{path}: file has no data rows")
    return pl.DataFrame({"line": pl.int_range(first, first + len(lines), eager=True), "text": lines})


def split_fields(lines: pl.DataFrame, path: Path, sep: str, names: list[str]) -> pl.DataFrame:
    """Split each line on `sep` into exactly len(names) string columns (plus `line`)."""
    parts = lines.with_columns(pl.col("text").str.split(sep).alias("parts"))
    bad = parts.filter(pl.col("parts").list.len() != len(names))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f"{path}:{row['line']}: expected {len(names)} fields separated by {sep!r}, found {len(row['parts'])}"
        )
    return parts.select("line", *[pl.col("parts").list.get(i).str.strip_chars().alias(n) for i, n in enumerate(names)])


def cast_checked(frame: pl.DataFrame, path: Path | str, column: str, dtype: Any, required: bool = True) -> pl.DataFrame:
    """Cast a string column; the first value that does not parse (or is missing when required)
    stops the ingest with its line."""
    raw = pl.col(column)
    empty = raw.is_null() | (raw.cast(pl.Utf8).str.strip_chars() == "")
    if required:
        missing = frame.filter(empty)
        if missing.height:
            raise InputError(f"{path}:{missing['line'][0]}: missing required field '{column}'")
    cast = pl.when(empty).then(None).otherwise(raw).cast(dtype, strict=False)
    checked = frame.with_columns(cast.alias("__cast"))
    bad = checked.filter(~empty & pl.col("__cast").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(f"{path}:{row['line']}: field '{column}' must be {_type_name(dtype)}, got {row[column]!r}")
    return checked.with_columns(pl.col("__cast").alias(column)).drop("__cast")


def _type_name(dtype: Any) -> str:
    if dtype in (pl.Int16, pl.Int32, pl.Int64):
        return "an integer"
    if dtype in (pl.Float32, pl.Float64):
        return "a number"
    return str(dtype)


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each non-blank line of a JSON-lines file (gzip or not)."""
    for number, text in enumerate(read_text(path).split("\n"), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{number}: malformed JSON: {err.msg}") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        if "\\ud" in text.lower() and _has_lone_surrogate(record):
            raise InputError(f"{path}:{number}: not valid text: an unpaired surrogate escape (\\ud800-\\udfff)")
        yield number, record


def _has_lone_surrogate(record: dict[str, Any]) -> bool:
    """JSON may escape half of a UTF-16 pair (\\ud800); no text encoding can store the result."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def require(record: dict[str, Any], key: str, kinds: type | tuple[type, ...], path: Path, line: int) -> Any:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{path}:{line}: missing required field '{key}'")
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise InputError(f"{path}:{line}: field '{key}' must be {names}, got {value!r}")
    return value


# Interaction times colrec accepts. Earlier or later values are corrupt data (a wrapped-around or
# milliseconds-for-seconds timestamp), not events: stored, they would land in some other year or
# overflow the store's timestamps. The margin after now absorbs clock skew between machines.
EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
FUTURE_MARGIN = dt.timedelta(days=2)


def epoch_bounds() -> tuple[float, float]:
    """(earliest, latest) accepted interaction time, in unix seconds."""
    latest = dt.datetime.now(dt.UTC) + FUTURE_MARGIN
    return EARLIEST.timestamp(), latest.timestamp()


def time_rule() -> str:
    latest = dt.datetime.fromtimestamp(epoch_bounds()[1], dt.UTC)
    return f"a time between {EARLIEST:%Y-%m-%d} and {latest:%Y-%m-%d}"


def epoch_to_us(frame: pl.DataFrame, path: Path, column: str, units_per_second: int = 1) -> pl.DataFrame:
    """Numeric unix times (in 1/units_per_second s) as `ts_us`; refused, with the line, unless
    finite and within epoch_bounds. Checked before scaling: a huge value would wrap around."""
    low, high = epoch_bounds()
    seconds = pl.col(column).cast(pl.Float64) / units_per_second
    bad = frame.filter(pl.col(column).is_null() | ~seconds.is_finite() | ~seconds.is_between(low, high))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(
            f"{path}:{row['line']}: field '{column}' must be {time_rule()} (unix seconds), got {row[column]}"
        )
    scale = 1_000_000 // units_per_second
    return frame.with_columns((pl.col(column).cast(pl.Int64) * scale).alias("ts_us"))


def check_epoch(value: int | float, path: Path, line: int, field: str, units_per_second: int = 1) -> int:
    """One record's unix time (JSON formats) as microseconds, refused unless within epoch_bounds."""
    low, high = epoch_bounds()
    if not (math.isfinite(value) and low <= value / units_per_second <= high):
        raise InputError(f"{path}:{line}: field '{field}' must be {time_rule()} (unix time), got {value}")
    return int(value) * (1_000_000 // units_per_second)


def json_object(columns: dict[str, pl.Expr]) -> pl.Expr:
    """A JSON object string built from named expressions (for the attributes columns)."""
    return pl.struct([expr.alias(name) for name, expr in columns.items()]).struct.json_encode()


def resolve_files(paths: list[Path], fmt: str, known: dict[str, bool]) -> dict[str, Path]:
    """Map the file names a format knows (name -> required) to paths; directories are searched."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            for name in known:
                for candidate in (path / name, path / f"{name}.gz"):
                    if candidate.exists():
                        found[name] = candidate
        elif path.exists():
            name = path.name.removesuffix(".gz")
            if name not in known:
                raise InputError(f"{path}: not a file of format {fmt} (expected {', '.join(known)})")
            found[name] = path
        else:
            raise InputError(f"{path}: no such file or directory")
    for name, required in known.items():
        if required and name not in found:
            raise InputError(f"{fmt}: no {name} among {', '.join(map(str, paths))}")
    return found


def first_duplicate(frame: pl.DataFrame, key: str) -> dict[str, Any] | None:
    """The first row that repeats an earlier row's key (so its line is the one to fix)."""
    dup = frame.filter(~pl.col(key).is_first_distinct())
    return dup.row(0, named=True) if dup.height else None

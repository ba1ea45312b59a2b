"""Terminal output shared by the commands: logging, progress bars, tables and JSON."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True)


def setup_logging(level: str) -> None:
    handler = (
        RichHandler(console=err, show_path=False, rich_tracebacks=False) if err.is_terminal else logging.StreamHandler()
    )
    if not err.is_terminal:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("pgserver", "alembic.runtime.migration", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def progress() -> Progress:
    """A progress bar on stderr, hidden when stderr is not a terminal (cron, CI, pipes)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr (never wrapped, whatever the terminal width), then exit non-zero."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    sys.exit(code)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)

"""Terminal output shared by the commands: logging, progress bars, tables and JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True)


# Environment the libraries read when they are first imported (all of them lazily, after this):
# progress bars of weight loading and conversion, and the start-up warnings of vLLM, Triton, NUMA
# binding (C++ side) and tokenizers. Set only where the user has not set them.
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "VLLM_LOGGING_LEVEL": "ERROR",
    "VLLM_CONFIGURE_LOGGING": "1",
    "TORCH_CPP_LOG_LEVEL": "ERROR",
    "RAY_DEDUP_LOGS": "1",
    "TQDM_DISABLE": "1",
}


def quiet_libraries(level: str) -> None:
    """Third-party chatter off unless the level is DEBUG (`--verbose`): the jobs print their own lines."""
    import warnings

    if logging.getLevelName(level) <= logging.DEBUG:
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings(
        "ignore", category=UserWarning, module=r"(torch|transformers|peft|trl|vllm|sentence_transformers)"
    )
    for noisy in ("transformers", "sentence_transformers", "peft", "trl", "vllm", "ray", "apscheduler.scheduler",
                  "torch"):  # fmt: skip
        logging.getLogger(noisy).setLevel(logging.ERROR)


def setup_logging(level: str) -> None:
    quiet_libraries(level)
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

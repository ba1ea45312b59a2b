"""What the CLI modules share: the common options, the job context of a command, showing results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from colrec_store.repositories.datasets import check_dataset_name
from jobs.common import console
from jobs.common.context import JobContext

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsOfOpt = Annotated[
    datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Nothing after this date (UTC) is seen.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling and training.")]
CandidatesOpt = Annotated[
    int,
    typer.Option(
        help="Rerank lists of N per user (the user's last positive of each part and N-1 sampled unseen items) "
        "instead of the split's pairs; evaluate reports NDCG@10 and HR@10 on them. 0: the split's pairs."
    ),
]
DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="Dataset name in the store.", callback=check_dataset_name)
]
ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where the LLM prompts run: local (this process) or ray (Ray cluster at RAY_ADDRESS; a local one "
        "when unset). Default: COLREC_EXECUTOR, else local.",
    ),
]
AllowUntitledOpt = Annotated[
    bool,
    typer.Option("--allow-untitled", help="Run the LLM even if most items have no title (COLREC_ALLOW_UNTITLED)."),
]
SplitOpt = Annotated[
    str, typer.Option("--split", "-s", help="temporal, long-tail, leave-one-out, random or zero-shot.")
]


def as_date(value: datetime | None) -> date | None:
    return value.date() if value else None


def show(result: dict[str, object], as_json: bool, title: str) -> None:
    if as_json:
        console.print_json(result)
    else:
        console.print_table(title, [{"metric": k, "value": v} for k, v in result.items()], ["metric", "value"])


def job_context(typer_ctx: typer.Context, executor: str | None = None, allow_untitled: bool = False) -> JobContext:
    """The command's context; `executor` and `allow_untitled`, where the command has the option,
    override the settings."""
    ctx: JobContext = typer_ctx.obj
    if allow_untitled:
        ctx.settings = ctx.settings.model_copy(update={"allow_untitled": True})
    if executor is not None:
        if executor not in ("local", "ray"):
            raise typer.BadParameter(f"unknown executor {executor!r} (local or ray)", param_hint="--executor")
        ctx.settings = ctx.settings.model_copy(update={"executor": executor})
    return ctx

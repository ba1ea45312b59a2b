"""The collaborative commands: train, neighbours, evaluate, recommend."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli.common import (
    AsOfOpt,
    CandidatesOpt,
    DatasetOpt,
    JsonOpt,
    SeedOpt,
    SplitOpt,
    as_date,
    job_context,
    show,
)


def register(app: typer.Typer) -> None:
    for command in (train, neighbours, evaluate, recommend):
        app.command()(command)


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


def evaluate(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    method: Annotated[str, typer.Option("--method", help="mf, lightgcn, sasrec, deepfm, or llm.")],
    split: SplitOpt,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    k: int = 20,
    candidates: CandidatesOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """AUC, UAUC, F1, Recall/NDCG@K (all items) and HR/NDCG@K (sampled) of a method on a split.

    CF models are scored again from their newest artifact; `llm` reads its newest score run. With
    --candidates N: AUC and rerank NDCG@10/HR@10 on each test user's list of N."""
    from jobs import evaluate as job

    result = job.run(job_context(typer_ctx), dataset, method, split, as_of=as_date(as_of), seed=seed, k=k,
                     candidates=candidates)  # fmt: skip
    show(result, as_json, f"{dataset}: {method} on {split}")


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

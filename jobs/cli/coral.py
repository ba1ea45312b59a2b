"""`colrec-jobs coral ...`: CoRAL's retrieval policy (the scores come from `score --method coral`)."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.cli.common import AllowUntitledOpt, AsOfOpt, DatasetOpt, JsonOpt, SeedOpt, as_date, job_context, show


def register(app: typer.Typer) -> None:
    coral_app = typer.Typer(help="CoRAL: train the policy that retrieves collaborative evidence.",
                            no_args_is_help=True)  # fmt: skip
    app.add_typer(coral_app, name="coral")
    coral_app.command("train-policy")(train_policy)


def train_policy(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: Annotated[str, typer.Option("--split", "-s", help="Split whose long-tail training pairs train it.")] = (
        "long-tail"
    ),
    model: Annotated[str | None, typer.Option(help="The LLM that judges (default: COLREC_LLM_MODEL).")] = None,
    cf_model: Annotated[str, typer.Option(help="CF model whose embeddings are the state and action space.")] = (
        "deepfm"
    ),
    cf_run: Annotated[int | None, typer.Option(help="Its train run (default: newest published on the split).")] = None,
    init: Annotated[str, typer.Option(help="cf: the CF model's embeddings; random: N(0, I) (the ablation).")] = "cf",
    retrieval: Annotated[
        str, typer.Option(help="pairs: an action retrieves the nearest rated (user, item); entities: each apart.")
    ] = "pairs",
    steps: Annotated[int, typer.Option(help="Environment steps, summed over the parallel episodes.")] = 2000,
    envs: Annotated[int, typer.Option(help="Parallel episodes (one batched LLM call per step).")] = 8,
    max_steps: Annotated[int, typer.Option(help="Retrievals per training episode.")] = 10,
    eval_steps: Annotated[int, typer.Option(help="Retrievals per pair when scoring.")] = 5,
    pairs: Annotated[int | None, typer.Option(help="Train on a seeded sample of this many pairs.")] = None,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    allow_untitled: AllowUntitledOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """DDPG over the retrieval MDP, the LLM's Yes probability giving the reward; the policy goes to `models`."""
    from colrec.coral.policy import PolicyConfig
    from jobs import coral as job

    config = PolicyConfig(total_steps=steps, n_envs=envs, max_steps=max_steps, eval_steps=eval_steps, seed=seed)
    ctx = job_context(typer_ctx, allow_untitled=allow_untitled)
    result = job.train(ctx, dataset, split, model=model, cf_model=cf_model, cf_run=cf_run,
                       init=init, retrieval=retrieval, pairs=pairs, as_of=as_date(as_of), seed=seed,
                       config=config)  # fmt: skip
    show(result, as_json, f"{dataset}: CoRAL policy on {split}")

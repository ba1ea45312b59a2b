"""The LLM commands: score, finetune, retrieve (SCORE's evidence), profile (RecLM), rationale (TWiCE)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jobs.cli.common import (
    AllowUntitledOpt,
    AsOfOpt,
    CandidatesOpt,
    DatasetOpt,
    ExecutorOpt,
    JsonOpt,
    SeedOpt,
    SplitOpt,
    as_date,
    job_context,
    show,
)


def register(app: typer.Typer) -> None:
    for command in (score, finetune, retrieve, profile, rationale):
        app.command()(command)


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
        int | None,
        typer.Option(
            help="--method score: the evidence run (default: the newest published on the split for the same "
            "pairs, else the newest)."
        ),
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
    candidates: CandidatesOpt = 0,
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
                     policy_run=policy_run, llm_method=llm_method, candidates=candidates)  # fmt: skip
    show(result, as_json, f"{dataset}: {method} scores on {split}")


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
    evidence_run: Annotated[
        int | None,
        typer.Option(
            help="--prompt score: the evidence run (default: the newest `retrieve --parts train` with the same "
            "--limit and --seed)."
        ),
    ] = None,
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
    """Tune the LLM on a split's training pairs (yesno: every weight or LoRA, by --tuning); rerun to resume."""
    from colrec.finetune.grpo import GrpoSettings
    from colrec.finetune.reclm import ReclmConfig
    from colrec.finetune.sft import SftSettings
    from colrec.finetune.twice import TwiceConfig
    from colrec.finetune.yesno import YesNoConfig
    from jobs import finetune as job

    schedule: dict[str, Any] = {"epochs": epochs, "max_steps": max_steps, "batch_size": batch_size, "seed": seed}
    sft = SftSettings(**schedule, lr=lr or 1e-4)
    grpo = GrpoSettings(max_steps=grpo_steps, seed=seed)
    config: SftSettings | TwiceConfig | ReclmConfig
    if recipe == "twice":
        config = TwiceConfig(sft=sft, grpo=grpo)
    elif recipe == "reclm":
        config = ReclmConfig(sft=sft, grpo=grpo)
    else:
        config = YesNoConfig(**schedule, lr=lr, packed=packed, tuning=tuning, bf16=bf16)
    result = job.run(job_context(typer_ctx), dataset, split, recipe=recipe, base_model=base_model, prompt=prompt,
                     limit=limit, as_of=as_date(as_of), seed=seed, evidence_run=evidence_run,
                     config=config)  # fmt: skip
    show(result, as_json, f"{dataset}: {recipe} adapter on {split}")


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
    models_run: Annotated[
        int | None,
        typer.Option(
            help="Use the CAR and SARE this earlier evidence run trained (same split, seed, CF run, encoders) "
            "instead of training new ones: e.g. the test part's evidence from the train part's models."
        ),
    ] = None,
    candidates: CandidatesOpt = 0,
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
                     as_of=as_date(as_of), seed=seed, model=model, config=config, candidates=candidates,
                     models_run=models_run)  # fmt: skip
    show(result, as_json, f"{dataset}: {method} evidence on {split}")


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

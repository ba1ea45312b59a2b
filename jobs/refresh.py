"""`colrec-jobs refresh`: the nightly work for one dataset and one as-of date.

Every step is a run, a child of the refresh run, and stays `staged`; when every step has succeeded
one transaction publishes them all together with the refresh, so the `latest_*` views switch from
the previous date's outputs to the new ones at once. A failing step fails the refresh and leaves
what was published untouched. One refresh per dataset at a time (a lease row in refresh_locks); a refresh of a
date already published with the same plan does nothing.

Two fits per model: what downstream reads (recommendations, embeddings, neighbours, the rerank)
comes from the serving fit on every interaction up to the date; the split's protocol (the papers')
gets its own fit, on evaluation nights (every `evaluate_every`-th), for the metrics, SCORE's
evidence and the score step. Every night also measures what the previous published refresh's
lists earned on the interactions that arrived since (jobs.prospective), and names the method that
`serving_recommendations` serves (settings.serve_method).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colrec.errors import Busy, ColrecError
from colrec.formats.registry import FORMATS
from colrec.splits import SPLITS
from colrec_store.locks import DatasetLock, dataset_lock
from colrec_store.repositories import refresh as store
from colrec_store.repositories.datasets import dataset_id as find_dataset
from jobs.common.context import JobContext, one_line

if TYPE_CHECKING:
    from jobs.llm.work import CachedLLM
    from jobs.methods.tuned import HeldOut, Tuned
    from jobs.train import WarmStart

log = logging.getLogger(__name__)

STEPS = ("ingest", "split", "train", "neighbours", "retrieve", "recommend", "profile", "rerank", "score", "evaluate")
# The LLM-heavy steps are opt-in (--steps): SCORE's evidence (retriever and reranker training plus
# the LLM's self-assessments), RecLM profiles of every user and item, and Yes/No scores of every test
# pair are hours of work on a CPU (minutes on a GPU). With `retrieve`, `score` uses its evidence.
RECALL_SAMPLE = 200  # entities per space whose HNSW neighbours are checked against exact search
DEFAULT_STEPS = tuple(s for s in STEPS if s not in ("retrieve", "profile", "score"))
LLM_STEPS = ("retrieve", "profile", "rerank", "score")


@dataclass(frozen=True)
class RefreshPlan:
    """What a refresh does. Its hash (`key`) tells whether a date was already published with it."""

    methods: tuple[str, ...] = ("mf",)  # collaborative models; the first one feeds neighbours and rerank
    split: str = "random"
    steps: tuple[str, ...] = DEFAULT_STEPS
    top: int = 20
    epochs: int | None = None  # of a training from scratch (None: the model's default)
    # Nightly CF training starts from the previous published refresh's model and runs this many
    # epochs (None: always from scratch); every `full_every`-th night trains from scratch again so
    # that drift from a long chain of warm starts cannot build up.
    warm_epochs: int | None = 3
    full_every: int = 7
    seed: int = 0
    rerank_users: int | None = None  # the LLM reranks this many users (all when None)
    rerank_candidates: int = 20
    # The rerank's held-out check: a sample this size measures it; reranking every test user again
    # on the split's fit would double a full night's LLM work.
    rerank_eval_users: int = 200
    llm_model: str | None = None
    profile_limit: int | None = None  # at most this many users and this many items get profiles
    score_limit: int | None = None  # a seeded sample of this many test pairs gets LLM scores
    source: tuple[str, ...] = ()  # files to ingest first (the ingest step is skipped without them)
    source_format: str | None = None
    # Or a query on COLREC_SOURCE_URL (the team's own database), with its column map and catalogue;
    # `since_last`: each night reads only the rows after the source's watermark (ingest --sql).
    source_sql: str | None = None
    source_map: str | None = None
    items_sql: str | None = None
    item_map: str | None = None
    since_last: bool = False
    # RecLM's fusion of item text into the CF models (train --side text). LLM profiles are not
    # offered here: fusing them needs a profile run of the split's training part made before
    # training, where the nightly profile step reads every interaction and runs after it.
    side: str = "none"
    sparse: bool = False  # MF: optimizer steps touch only a batch's rows (train --sparse)
    # The split's own fit and its metrics (and the rerank's held-out check) run every N-th night;
    # the serving fit and the prospective check run every night.
    evaluate_every: int = 1
    # The LLM steps (rerank, score) serve a tuned model where one fits: the pinned finetune run, or
    # the newest published `yesno` run of the same base model, split and prompt that trained on
    # nothing of the night's held-out part (jobs.methods.tuned.newest_tuned); tuned=False: the base model.
    adapter_run: int | None = None
    tuned: bool = True

    def __post_init__(self) -> None:
        unknown = [s for s in self.steps if s not in STEPS]
        if unknown:
            raise ColrecError(f"unknown step(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
        if not self.methods:
            raise ColrecError("a refresh needs at least one collaborative method (e.g. --methods mf)")
        if self.full_every < 1 or (self.warm_epochs is not None and self.warm_epochs < 1):
            raise ColrecError("--full-every must be 1 or more and --warm-epochs 0 (off) or more")
        if self.evaluate_every < 1 or self.rerank_eval_users < 1:
            raise ColrecError("--evaluate-every and --rerank-eval-users must be 1 or more")
        if self.source and not self.source_format:
            raise ColrecError("--source needs --format")
        if self.source and self.source_sql:
            raise ColrecError("give --source files or --sql, not both")
        if (self.since_last or self.items_sql) and not self.source_sql:
            raise ColrecError("--since-last and --items-sql go with --sql")
        if self.source_format is not None and self.source_format not in FORMATS:
            raise ColrecError(f"unknown format {self.source_format!r}; known: {', '.join(FORMATS)}")
        if self.split not in SPLITS:
            raise ColrecError(f"unknown split {self.split!r}; known: {', '.join(SPLITS)}")
        _check_model_options(self.methods, self.side, self.sparse)
        object.__setattr__(self, "steps", tuple(s for s in STEPS if s in self.steps))  # the one valid order

    def key(self) -> str:
        fields = dataclasses.asdict(self)
        for later in (f for f in dataclasses.fields(self) if f.name in LATER_FIELDS):
            if fields[later.name] == later.default:
                del fields[later.name]
        blob = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Plan fields added after plans were first published, left out of the key at their default: a
# date published before they existed keeps its key, so reruns and warm starts still find it.
LATER_FIELDS = (
    "side",
    "sparse",
    "evaluate_every",
    "rerank_eval_users",
    "source_sql",
    "source_map",
    "items_sql",
    "item_map",
    "since_last",
    "adapter_run",
    "tuned",
)


def _check_model_options(methods: tuple[str, ...], side: str, sparse: bool) -> None:
    from colrec.cf.registry import check_options

    if side not in ("none", "text"):
        raise ColrecError(f"refresh --side takes none or text, not {side!r} (fuse LLM profiles with "
                          "`profile --split S` and then `train --side profiles`)")  # fmt: skip
    for method in methods:  # an unknown method or option fails here, before any step runs
        try:
            check_options(method, ("sparse",) if sparse else (), side_features=side != "none")
        except ColrecError as err:
            raise ColrecError(f"refresh --side {side}{' --sparse' if sparse else ''}: {err}") from err


@dataclass
class _State:
    dataset: str
    as_of: dt.date
    plan: RefreshPlan
    dataset_id: int | None = None
    trained: dict[str, int] = field(default_factory=dict)  # method -> train run of the serving fit
    split_models: dict[str, int] = field(default_factory=dict)  # method -> train run of the split's own fit
    evaluating: bool = True  # an evaluation night (plan.evaluate_every)
    recommended: dict[str, int] = field(default_factory=dict)  # method -> recommend run
    neighbours_run: int | None = None
    evidence_run: int | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    llm: CachedLLM | None = None  # one engine for the rerank and its evaluation, opened on first need
    tuned: dict[str, Tuned | None] = field(default_factory=dict)  # prompt -> the tuned LLM served for it
    held_out: HeldOut | None = None  # what a served tuned LLM must not have trained on (one load a night)

    def shared_llm(self, ctx: JobContext) -> CachedLLM:
        from jobs.llm.work import CachedLLM

        if self.llm is None:
            self.llm = CachedLLM(ctx, self.plan.llm_model)
            tuned = _tuned(ctx, self, "llm")
            if tuned is not None:
                self.llm.serve(tuned)
        return self.llm


def run(
    ctx: JobContext, dataset: str, plan: RefreshPlan, as_of: dt.date | None = None, *, allow_future: bool = False
) -> dict[str, Any]:
    """`allow_future`: accept an as-of date after today (UTC). Without it such a date is refused:
    once published it would shadow every later real night in the latest_* views."""
    today = dt.datetime.now(dt.UTC).date()
    as_of = as_of or today
    if as_of > today and not allow_future:
        raise ColrecError(f"--as-of {as_of} is after today ({today}, UTC): refused, since the latest_* views would "
                         "serve it over every later night (pass --allow-future if you mean it)")  # fmt: skip
    if not (plan.source or plan.source_sql) or "ingest" not in plan.steps:
        with ctx.transaction() as session:
            find_dataset(session, dataset)  # an unknown dataset fails here, before any run is recorded
    _preflight(ctx, plan)
    with dataset_lock(ctx.engine, dataset) as lock:
        if not lock.taken:
            raise Busy(f"another refresh of {dataset} is running; nothing done")
        with ctx.transaction() as session:
            reaped = store.reap_abandoned(session, dataset)
            done = store.published_refresh(session, dataset, as_of, plan.key())
        if reaped:
            log.warning("marked abandoned refresh run(s) %s of %s as failed", reaped, dataset)
        if done is not None:
            log.info("%s as of %s is already published (run %d): nothing to do", dataset, as_of, done)
            return {"status": "already published", "run_id": done, "dataset": dataset, "as_of": as_of.isoformat()}
        state = _State(dataset, as_of, plan)
        try:
            return _refresh(ctx, state, lock)
        finally:
            if state.llm is not None:
                state.llm.close()


def _preflight(ctx: JobContext, plan: RefreshPlan) -> None:
    """What the plan names outside itself: its files and its LLM. Checked before the first step, so
    that a typo fails in a second, not after the night's CF work."""
    from colrec.llm.catalog import resolve

    missing = [path for path in plan.source if not Path(path).exists()]
    if missing and "ingest" in plan.steps:
        raise ColrecError(f"--source {missing[0]}: no such file or directory")
    if any(step in LLM_STEPS for step in plan.steps):
        resolve(ctx.settings.models_path, plan.llm_model or ctx.settings.llm_model)


def _refresh(ctx: JobContext, state: _State, lock: DatasetLock) -> dict[str, Any]:
    plan = state.plan
    params = {"dataset": state.dataset, "config_key": plan.key(), **dataclasses.asdict(plan)}
    with ctx.run("refresh", params=params, as_of=state.as_of) as record:
        steps = ctx.child(record.id)
        step = "start"
        try:
            state.evaluating = _evaluation_night(ctx, state)
            state.outputs["evaluated"] = state.evaluating
            for step in plan.steps:
                lock.check()
                with record.timed(step):
                    STEP_FUNCTIONS[step](steps, state)
                record.dataset_id = state.dataset_id
            step = "prospective"
            with record.timed(step):
                _prospective(steps, state)
            step = "publish"
            with lock.transaction() as session:  # on the lock's connection: no lock, no publish
                record.metrics.update(steps_published=store.publish_steps(session, record.id), **state.outputs)
                record.finish(session, "published")
        except BaseException as err:
            reason = f"refresh of {state.dataset} as of {state.as_of} failed at step {step}: {one_line(err)}"
            _fail_steps(ctx, record.id, reason)
            kind = type(err) if isinstance(err, ColrecError) else ColrecError  # keeps the exit code (143: SIGTERM)
            raise kind(reason) from err
    return {"status": "published", "run_id": record.id, "dataset": state.dataset, "as_of": state.as_of.isoformat(),
            **record.metrics, "timings": record.timings}  # fmt: skip


def _fail_steps(ctx: JobContext, parent: int, reason: str) -> None:
    try:
        with ctx.transaction() as session:
            store.fail_steps(session, parent, reason)
    except Exception:  # the database may be the reason; the next refresh reaps what is left
        log.debug("could not mark the steps of refresh %d failed", parent, exc_info=True)


def _ingest(ctx: JobContext, state: _State) -> None:
    from jobs import ingest

    if state.plan.source:
        counts = ingest.run(
            ctx, [Path(p) for p in state.plan.source], dataset=state.dataset, fmt=str(state.plan.source_format)
        )
        state.outputs["interactions_added"] = counts.interactions_added
    elif state.plan.source_sql:
        p = state.plan
        sql = ingest.SqlIngest(state.plan.source_sql, p.source_map, p.items_sql, p.item_map, since_last=p.since_last)
        state.outputs["interactions_added"] = ingest.run_sql(ctx, state.dataset, sql).interactions_added
    with ctx.transaction() as session:
        state.dataset_id = find_dataset(session, state.dataset)


def _split(ctx: JobContext, state: _State) -> None:
    from jobs import split

    _ensure_dataset(ctx, state)
    counts = split.run(ctx, state.dataset, state.plan.split, state.as_of, state.plan.seed)
    if not counts.get("train"):
        raise ColrecError(f"no training interactions in {state.dataset} as of {state.as_of}")
    state.outputs["split"] = {k: counts[k] for k in ("train", "valid", "test") if k in counts}


def _train(ctx: JobContext, state: _State) -> None:
    """The serving fit of every method (warm-started from last night's), and on evaluation nights,
    or when SCORE's steps need it, the split's own fit from scratch. The split's fit never
    warm-starts: last night's model may have trained on rows that tonight's split holds out."""
    from jobs import train

    _ensure_dataset(ctx, state)
    p = state.plan
    warm_from: dict[str, int | None] = {}
    for method in p.methods:
        warm = _warm_source(ctx, state, method)
        epochs = p.warm_epochs if warm else p.epochs
        result = train.run(ctx, state.dataset, method, p.split, as_of=state.as_of, seed=p.seed, epochs=epochs,
                           warm=warm, side=p.side, sparse=p.sparse, serve=True)  # fmt: skip
        state.trained[method] = result["run_id"]
        warm_from[method] = warm.from_run if warm else None
    state.outputs["warm_start_from"] = warm_from
    state.outputs["serve_fit_interactions"] = result["train"]
    if state.evaluating or {"retrieve", "score"} & set(p.steps):
        for method in p.methods:
            result = train.run(ctx, state.dataset, method, p.split, as_of=state.as_of, seed=p.seed, epochs=p.epochs,
                               side=p.side, sparse=p.sparse)  # fmt: skip
            state.split_models[method] = result["run_id"]


def _evaluation_night(ctx: JobContext, state: _State) -> bool:
    """Whether tonight evaluates: none of the previous `evaluate_every - 1` published refreshes of
    this plan did."""
    every = state.plan.evaluate_every
    if every == 1:
        return True
    with ctx.transaction() as session:
        recent = store.recent_refreshes(session, state.dataset, state.as_of, state.plan.key(), every - 1)
    return not any(metrics.get("evaluated", True) for _, _, metrics in recent)


def _warm_source(ctx: JobContext, state: _State, method: str) -> WarmStart | None:
    """The previous published refresh's serving model of this kind to start from, unless warm
    starts are off, the model cannot warm-start, the file is gone, or the chain of warm starts is full."""
    from colrec.cf.registry import model_class
    from jobs.train import WarmStart

    p = state.plan
    if p.warm_epochs is None or not model_class(method).can_warm_start():
        return None
    with ctx.transaction() as session:
        previous = store.previous_refresh(session, state.dataset, state.as_of, p.key())
        artifact = store.step_model(session, previous[0], method, serve=True) if previous else None
        if artifact is None or artifact.path is None or not Path(artifact.path).exists():
            return None
        chain = int(artifact.config.get("warm_start", {}).get("chain", 0)) + 1
        return WarmStart(Path(artifact.path), artifact.run_id, chain) if chain < p.full_every else None


def _neighbours(ctx: JobContext, state: _State) -> None:
    from jobs import neighbours

    result = neighbours.run(
        ctx, state.dataset, source_run=_trained(state, state.plan.methods[0]), recall_sample=RECALL_SAMPLE
    )
    state.neighbours_run = result["run_id"]


def _retrieve(ctx: JobContext, state: _State) -> None:
    """SCORE's evidence for the pairs the score step scores, from the collaborative neighbours of
    the model this refresh trained (SASRec when the plan has it, as in the paper)."""
    from jobs import retrieve

    p = state.plan
    cf_model = "sasrec" if "sasrec" in p.methods else p.methods[0]
    config = dataclasses.replace(retrieve.RetrieveConfig(), cf_model=cf_model)
    result = retrieve.run(ctx, state.dataset, p.split, parts=("test",), limit=p.score_limit, as_of=state.as_of,
                          seed=p.seed, model=p.llm_model, config=config,
                          cf_run=_trained(state, cf_model, split_fit=True))  # fmt: skip
    state.evidence_run = result["run_id"]
    state.outputs["retrieve"] = {k: result.get(k) for k in ("pairs", "pairs_with_evidence", "llm_calls", "cache_hits")}


def _recommend(ctx: JobContext, state: _State) -> None:
    from jobs import recommend

    for method in state.plan.methods:
        result = recommend.run(
            ctx, state.dataset, method, state.plan.top, as_of=state.as_of, model_run=_trained(state, method)
        )
        state.recommended[method] = result["run_id"]


def _rerank(ctx: JobContext, state: _State) -> None:
    from jobs import rerank

    p, first = state.plan, state.plan.methods[0]
    if first not in state.recommended:
        raise ColrecError("the rerank step needs the recommend step")
    llm = state.shared_llm(ctx)
    source = _carry_source(ctx, state, "recommend", rerank.METHOD)
    if source is not None:
        with ctx.transaction() as session:
            if store.run_param(session, source[0], "adapter_run") != llm.tuned_run:
                source = None  # last night's lists came from another LLM: nobody's list carries over
    carry_from, changed = source or (None, None)
    result = rerank.run(ctx, _id(state), state.recommended[first], first, as_of=state.as_of,
                        candidates=p.rerank_candidates, users=p.rerank_users, model=p.llm_model,
                        changed=changed, carry_from=carry_from, llm=llm)  # fmt: skip
    state.recommended[rerank.METHOD] = result["run_id"]
    state.outputs["rerank"] = {k: result.get(k) for k in ("reranked_users", "users", "llm_calls", "cache_hits")}


def _profile(ctx: JobContext, state: _State) -> None:
    from jobs import profile

    p = state.plan
    source = _carry_source(ctx, state, "profile")
    carry = profile.Carry(*source) if source else None
    result = profile.run(ctx, state.dataset, limit=p.profile_limit, model=p.llm_model, as_of=state.as_of,
                         neighbours_run=state.neighbours_run, carry=carry)  # fmt: skip
    state.outputs["profile"] = {k: result.get(k) for k in ("users", "items", "carried_users", "carried_items",
                                                           "llm_calls", "cache_hits", "failed")}  # fmt: skip


def _carry_source(
    ctx: JobContext, state: _State, job: str, method: str | None = None
) -> tuple[int, frozenset[int]] | None:
    """For incremental LLM work: the step run of the previous published refresh (same plan) to copy
    from, and the users with interactions since its date; None on a first night."""
    with ctx.transaction() as session:
        previous = store.previous_refresh(session, state.dataset, state.as_of, state.plan.key())
        source = store.step_run(session, previous[0], job, method) if previous else None
        if previous is None or source is None:
            return None
        changed = store.users_with_new_interactions(session, _id(state), previous[1], state.as_of)
    return source, frozenset(changed)


def _score(ctx: JobContext, state: _State) -> None:
    from jobs import score

    p, prompt = state.plan, _score_prompt(state)
    tuned = _tuned(ctx, state, prompt)
    result = score.run(ctx, state.dataset, p.split, method=prompt, parts=("test",), model=p.llm_model,
                       limit=p.score_limit, as_of=state.as_of, seed=p.seed, evidence_run=state.evidence_run,
                       adapter_run=tuned.run_id if tuned else None)  # fmt: skip
    counts = {k: result.get(k) for k in ("pairs", "auc", "llm_calls", "cache_hits")}
    state.outputs["score"] = {"method": _score_method(state), "adapter_run": tuned.run_id if tuned else None, **counts}


def _score_prompt(state: _State) -> str:
    return "score" if state.evidence_run is not None else "llm"


def _score_method(state: _State) -> str:
    """The score step's method in predictions: its prompt, `-lora`/`-full` when a tuned LLM scored."""
    tuned = state.tuned.get(_score_prompt(state))
    return _score_prompt(state) + (f"-{tuned.suffix}" if tuned else "")


def _tuned(ctx: JobContext, state: _State, prompt: str) -> Tuned | None:
    """The tuned LLM the night's steps with this prompt serve (looked up once a night), or None."""
    if prompt not in state.tuned:
        state.tuned[prompt] = _find_tuned(ctx, state, prompt)
        found = state.tuned[prompt]
        state.outputs.setdefault("tuned", {})[prompt] = found.run_id if found else None
    return state.tuned[prompt]


def _find_tuned(ctx: JobContext, state: _State, prompt: str) -> Tuned | None:
    from jobs.methods.tuned import newest_tuned, tuned_for

    p = state.plan
    if not p.tuned and p.adapter_run is None:
        return None
    guard = _held_out(ctx, state)
    model = p.llm_model or ctx.settings.llm_model
    if p.adapter_run is not None:
        return tuned_for(ctx, _id(state), p.adapter_run, model, guard)
    found = newest_tuned(ctx, _id(state), model, prompt=prompt, split=p.split, held_out=guard)
    log.info("%s prompt: %s", prompt, f"finetune run {found.run_id}" if found else f"no tuned {model} fits")
    return found


def _held_out(ctx: JobContext, state: _State) -> HeldOut:
    """The night's held-out part (every part but train of the plan's split), loaded once for both prompts."""
    import polars as pl

    from jobs.common.windows import load_window, split_params
    from jobs.methods.tuned import HeldOut

    if state.held_out is None:
        p = state.plan
        rows = load_window(ctx, state.dataset, p.split, state.as_of, p.seed).split.rows
        held = rows.filter(pl.col("part") != "train")
        first = held.select(pl.col("ts").min()).item() if held.height else None  # a datetime (UTC)
        state.held_out = HeldOut(split_params(p.split, state.as_of, p.seed), first)
    return state.held_out


def _evaluate(ctx: JobContext, state: _State) -> None:
    """On evaluation nights: each method's metrics from the split's own fit, the LLM rerank's
    NDCG within its lists beside the CF order it started from, and the score step's AUC."""
    from jobs import evaluate, rerank

    p = state.plan
    if not state.evaluating:
        state.outputs["metrics"] = {"skipped": f"this plan evaluates every {p.evaluate_every} nights"}
        return
    metrics: dict[str, Any] = {}
    for method in p.methods:
        result = evaluate.run(ctx, state.dataset, method, p.split, as_of=state.as_of, seed=p.seed,
                              model_run=_trained(state, method, split_fit=True))  # fmt: skip
        metrics[method] = evaluate.metric_values(result)
    if "rerank" in p.steps:
        first = p.methods[0]
        metrics[rerank.METHOD] = rerank.evaluate_held_out(
            ctx, state.dataset, p.split, _trained(state, first, split_fit=True), first, as_of=state.as_of,
            seed=p.seed, candidates=p.rerank_candidates, users=min(p.rerank_eval_users, p.rerank_users or 1 << 30),
            model=p.llm_model, llm=state.shared_llm(ctx),
        )  # fmt: skip
    if "score" in p.steps:
        method = _score_method(state)
        result = evaluate.run(ctx, state.dataset, method, p.split, as_of=state.as_of, seed=p.seed)
        metrics[method] = evaluate.metric_values(result)
    state.outputs["metrics"] = metrics


def _prospective(ctx: JobContext, state: _State) -> None:
    """What the previous published refresh's lists earned since, and which method to serve."""
    from jobs import prospective

    p = state.plan
    state.outputs["prospective"] = prospective.run(ctx, state.dataset, state.as_of, p.split)
    state.outputs["serving"] = prospective.choose_served(
        ctx, state.dataset, state.as_of, tonight=state.outputs["prospective"],
        published=list(state.recommended), base=p.methods[0],
    )  # fmt: skip


def _ensure_dataset(ctx: JobContext, state: _State) -> None:
    if state.dataset_id is None:
        with ctx.transaction() as session:
            state.dataset_id = find_dataset(session, state.dataset)


def _id(state: _State) -> int:
    if state.dataset_id is None:
        raise ColrecError("the dataset is unknown before the split step")
    return state.dataset_id


def _trained(state: _State, method: str, *, split_fit: bool = False) -> int:
    """The train run of a method's serving fit, or of the split's own fit."""
    models = state.split_models if split_fit else state.trained
    if method not in models:
        raise ColrecError(f"step needs a {method!r} model trained in this refresh: include the train step")
    return models[method]


STEP_FUNCTIONS: dict[str, Callable[[JobContext, _State], None]] = {
    "ingest": _ingest,
    "split": _split,
    "train": _train,
    "neighbours": _neighbours,
    "retrieve": _retrieve,
    "recommend": _recommend,
    "profile": _profile,
    "rerank": _rerank,
    "score": _score,
    "evaluate": _evaluate,
}

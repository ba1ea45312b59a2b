"""`colrec-jobs rerank`: the LLM reorders a collaborative model's top-N per user by P(Yes) of the
history-only Yes/No prompt. The result is a `recommend` run with method `llm`, read downstream
through `latest_recommendations` like any other method.

Incremental: given `changed` users and a previous `llm` run to `carry_from`, only changed users'
candidates go to the LLM; the others' rankings are copied from that run (their history, and so
their prompts, did not change)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec import metrics
from colrec.cf import registry
from colrec.cf.data import seen_items
from colrec.errors import ColrecError
from colrec.llm.prompts import History, tallrec_yes_no
from colrec.splits import labelled
from colrec_store.repositories import interactions
from colrec_store.repositories.models import latest_model
from colrec_store.repositories.outputs import read_recommendations, write_recommendations
from colrec_store.repositories.refresh import carry_recommendations
from jobs.common.context import JobContext
from jobs.common.windows import events_until, item_texts, load_window, split_params
from jobs.llm.work import CachedLLM, require_item_text

METHOD = "llm"


def run(
    ctx: JobContext,
    dataset_id: int,
    source_run: int,
    source_method: str,
    *,
    as_of: dt.date | None = None,
    candidates: int = 20,
    users: int | None = None,
    model: str | None = None,
    history_len: int = 10,
    changed: frozenset[int] | None = None,
    carry_from: int | None = None,
    llm: CachedLLM | None = None,
) -> dict[str, Any]:
    """`llm`: an engine the caller opened and closes (a refresh shares one across its steps)."""
    with ctx.transaction() as session:
        cf = read_recommendations(session, source_run, source_method, candidates)
        rows = labelled(events_until(session, dataset_id, as_of))
        items = interactions.items(session, dataset_id)
        before: set[int] = set()
        if carry_from is not None:
            before = set(read_recommendations(session, carry_from, METHOD, top=1)["user_id"].to_list())
    if cf.height == 0:
        raise ColrecError(f"run {source_run} has no {source_method!r} recommendations to rerank")
    targets = _most_recent_first(rows, cf["user_id"].unique().to_list())[:users]
    # A user is reranked when their history changed, or when the previous run did not cover them.
    fresh = targets if changed is None else [u for u in targets if u in changed or u not in before]
    titles, _ = item_texts(items)
    pairs = cf.filter(pl.col("user_id").is_in(fresh))
    owned = llm is None
    llm = llm or CachedLLM(ctx, model)
    params = {"method": METHOD, "source_run": source_run, "source_method": source_method, "candidates": candidates,
              "users": users, "model": llm.model_name, "adapter_run": llm.tuned_run, "history_len": history_len,
              "carry_from": carry_from, "as_of": as_of.isoformat() if as_of else None}  # fmt: skip
    try:
        with ctx.run("recommend", dataset_id=dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, dataset_id, record)
            prompts = _prompts(llm, rows, pairs, titles, history_len)
            with record.timed("llm"):
                scores = llm.score_yes_no(prompts, record) if prompts else np.zeros(0)
            ranked = _rank(pairs.with_columns(pl.Series("p_yes", scores, pl.Float64)))
            with ctx.transaction() as session:
                written = write_recommendations(session, run_id=record.id, dataset_id=dataset_id, method=METHOD,
                                                user_ids=ranked[0], item_ids=ranked[1], scores=ranked[2])  # fmt: skip
                carried = 0
                if carry_from is not None and changed is not None:
                    kept = sorted(set(targets) - set(fresh))
                    carried = carry_recommendations(
                        session, source_run=carry_from, target_run=record.id, method=METHOD, users=kept
                    )
                record.metrics.update(users=len(targets), reranked_users=len(fresh), rows=written + carried,
                                      carried_rows=carried)  # fmt: skip
                record.finish(session, "published")
    finally:
        if owned:
            llm.close()
    return {"run_id": record.id, **record.metrics}


def evaluate_held_out(
    ctx: JobContext,
    dataset: str,
    split: str,
    model_run: int,
    base_method: str,
    *,
    as_of: dt.date | None = None,
    seed: int = 0,
    candidates: int = 20,
    users: int | None = None,
    model: str | None = None,
    history_len: int = 10,
    llm: CachedLLM | None = None,
) -> dict[str, Any]:
    """The rerank on the split's protocol: the split's own fit ranks each test user's top
    `candidates` (items seen outside test excluded), the LLM reorders them from the user's history
    outside the test part, and both orders get NDCG@5/@10 within the list against the test
    positives. Users whose list holds no test positive cannot tell the orders apart and are left
    out; of the others, the first `users` (by id) are reranked. An `evaluate` run (method llm)."""
    window = load_window(ctx, dataset, split, as_of, seed)
    with ctx.transaction() as session:
        artifact, _ = latest_model(session, window.dataset_id, base_method, split, model_run)
        raw = labelled(events_until(session, window.dataset_id, as_of))
    cf = registry.load(Path(artifact.path or ""))
    index, rows = window.index, window.split.rows
    outside = rows.filter(pl.col("part") != "test")
    known = index.interactions(outside)
    cf.observe(known)  # a sequential model's lists come after everything before the test part
    positives = rows.filter((pl.col("part") == "test") & (pl.col("label") == 1))
    truth = {int(u): set(g["item_id"].to_list()) for (u,), g in positives.group_by("user_id")}
    tested = np.array(sorted(truth))
    lists, _ = cf.recommend(index.user_index(tested), candidates, exclude=seen_items(known.users, known.items))
    cf_order = {int(u): index.items[row].tolist() for u, row in zip(tested, lists, strict=True)}
    chosen = [u for u in cf_order if truth[u] & set(cf_order[u])][:users]
    pairs = pl.DataFrame(
        [(u, r, i) for u in chosen for r, i in enumerate(cf_order[u], 1)],
        schema={"user_id": pl.Int64, "rank": pl.Int64, "item_id": pl.Int64}, orient="row",
    )  # fmt: skip
    history = raw.join(outside.select("interaction_id"), on="interaction_id", how="semi")
    owned = llm is None
    llm = llm or CachedLLM(ctx, model)
    params = {"method": METHOD, "protocol": "rerank within the split's CF lists", "base_method": base_method,
              "model_run": model_run, "candidates": candidates, "users": users, "model": llm.model_name,
              "adapter_run": llm.tuned_run, **split_params(split, as_of, seed)}  # fmt: skip
    try:
        with ctx.run("evaluate", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, window.dataset_id, record)
            prompts = _prompts(llm, history, pairs, window.titles, history_len)
            with record.timed("llm"):
                scores = llm.score_yes_no(prompts, record) if prompts else np.zeros(0)
            reranked = _rank(pairs.with_columns(pl.Series("p_yes", scores, pl.Float64)))
            llm_order = {int(u): items for u, items in zip(reranked[0], reranked[1], strict=True)}
            record.metrics.update(_ndcg_side_by_side(chosen, llm_order, cf_order, truth),
                                  users=len(chosen), test_users=len(cf_order), candidates=candidates,
                                  base_method=base_method)  # fmt: skip
    finally:
        if owned:
            llm.close()
    return dict(record.metrics)


def _ndcg_side_by_side(
    users: list[int], llm_order: dict[int, list[int]], cf_order: dict[int, list[int]], truth: dict[int, set[int]]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in (5, 10):
        for name, order in ((f"ndcg@{k}", llm_order), (f"cf_ndcg@{k}", cf_order)):
            values = [metrics.ndcg_in_list(order[u], truth[u], k) for u in users]
            out[name] = round(float(np.mean(values)), 6) if values else None
    return out


def _prompts(
    llm: CachedLLM, rows: pl.DataFrame, pairs: pl.DataFrame, titles: dict[int, str], history_len: int
) -> list[str]:
    """Each user's last liked and disliked titles as of the date, then each candidate: the user's
    prompts share one head, which vLLM's prefix cache computes once."""
    histories: dict[int, History] = {}
    for (user,), past in rows.group_by("user_id"):
        liked = past.filter(pl.col("label") == 1)["item_id"].tail(history_len).to_list()
        disliked = past.filter(pl.col("label") == 0)["item_id"].tail(history_len).to_list()
        histories[int(user)] = History([titles[i] for i in liked], [titles[i] for i in disliked])
    return [
        llm.render(tallrec_yes_no(histories.get(user, History()), titles[item]))
        for user, item in zip(pairs["user_id"].to_list(), pairs["item_id"].to_list(), strict=True)
    ]


def _most_recent_first(rows: pl.DataFrame, users: list[int]) -> list[int]:
    """With a budget of fewer users than all, the LLM reranks the most recently active ones first
    (the likeliest to come back and read their list); ties, and users with no history, by id."""
    last = rows.group_by("user_id").agg(pl.col("ts").max().alias("last"))
    ordered = pl.DataFrame({"user_id": users}, schema={"user_id": pl.Int64}).join(last, on="user_id", how="left")
    return ordered.sort(["last", "user_id"], descending=[True, False], nulls_last=True)["user_id"].to_list()


def _rank(scored: pl.DataFrame) -> tuple[np.ndarray, list[list[int]], list[list[float]]]:
    """Per user, candidates by P(Yes) (ties: the collaborative rank)."""
    ordered = scored.sort(["user_id", "p_yes", "rank"], descending=[False, True, False])
    grouped = ordered.group_by("user_id", maintain_order=True).agg("item_id", "p_yes")
    return grouped["user_id"].to_numpy(), grouped["item_id"].to_list(), grouped["p_yes"].to_list()

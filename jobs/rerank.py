"""`colrec-jobs rerank`: the LLM reorders a collaborative model's top-N per user by P(Yes) of the
history-only Yes/No prompt. The result is a `recommend` run with method `llm`, read downstream
through `latest_recommendations` like any other method.

Incremental: given `changed` users and a previous `llm` run to `carry_from`, only changed users'
candidates go to the LLM; the others' rankings are copied from that run (their history, and so
their prompts, did not change)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from colrec.errors import ColrecError
from colrec.llm.prompts import History, tallrec_yes_no
from colrec.splits import labelled, until
from colrec_store.repositories import interactions
from colrec_store.repositories.outputs import read_recommendations, write_recommendations
from colrec_store.repositories.refresh import carry_recommendations
from jobs.context import JobContext
from jobs.llm_work import CachedLLM

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
) -> dict[str, Any]:
    with ctx.transaction() as session:
        cf = read_recommendations(session, source_run, source_method, candidates)
        rows = labelled(until(interactions.interactions(session, dataset_id), as_of)).sort("ts", "interaction_id")
        items = interactions.items(session, dataset_id)
        before: set[int] = set()
        if carry_from is not None:
            before = set(read_recommendations(session, carry_from, METHOD, top=1)["user_id"].to_list())
    if cf.height == 0:
        raise ColrecError(f"run {source_run} has no {source_method!r} recommendations to rerank")
    targets = sorted(cf["user_id"].unique().to_list())[:users]
    # A user is reranked when their history changed, or when the previous run did not cover them.
    fresh = targets if changed is None else [u for u in targets if u in changed or u not in before]
    titles = {int(i): t or "" for i, t in zip(items["id"], items["title"], strict=True)}
    pairs = cf.filter(pl.col("user_id").is_in(fresh))
    llm = CachedLLM(ctx, model)
    params = {"method": METHOD, "source_run": source_run, "source_method": source_method, "candidates": candidates,
              "users": users, "model": llm.model_name, "history_len": history_len, "carry_from": carry_from,
              "as_of": as_of.isoformat() if as_of else None}  # fmt: skip
    try:
        with ctx.run("recommend", dataset_id=dataset_id, params=params, as_of=as_of) as record:
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
        llm.close()
    return {"run_id": record.id, **record.metrics}


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


def _rank(scored: pl.DataFrame) -> tuple[np.ndarray, list[list[int]], list[list[float]]]:
    """Per user, candidates by P(Yes) (ties: the collaborative rank)."""
    ordered = scored.sort(["user_id", "p_yes", "rank"], descending=[False, True, False])
    grouped = ordered.group_by("user_id", maintain_order=True).agg("item_id", "p_yes")
    return grouped["user_id"].to_numpy(), grouped["item_id"].to_list(), grouped["p_yes"].to_list()

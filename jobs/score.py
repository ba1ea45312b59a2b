"""`colrec-jobs score --method llm`: Yes/No scores of a split's pairs from the history-only prompt
(TALLRec style: the user's liked and disliked titles before the event), into `predictions`.

Every prompt goes through the LLM cache; the run records llm_calls and cache_hits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from colrec import metrics
from colrec.errors import ColrecError
from colrec.llm.prompts import History, tallrec_yes_no
from colrec_store.repositories.outputs import write_predictions
from jobs.context import JobContext
from jobs.llm_work import CachedLLM
from jobs.windows import Window, load_window, split_params

METHODS = ("llm",)


def run(ctx: JobContext, dataset: str, split: str, *, method: str = "llm", parts: tuple[str, ...] = ("test",),
        model: str | None = None, limit: int | None = None, as_of: dt.date | None = None, seed: int = 0,
        history_len: int = 10) -> dict[str, Any]:  # fmt: skip
    if method not in METHODS:
        raise ColrecError(f"unknown scoring method {method!r}; known: {', '.join(METHODS)}")
    window = load_window(ctx, dataset, split, as_of, seed)
    targets = _targets(window, parts, limit, seed)
    llm = CachedLLM(ctx, model)
    prompts = [llm.render(tallrec_yes_no(h, t)) for h, t in _history_prompts(window, targets, history_len)]
    params = {"method": method, **split_params(split, as_of, seed), "parts": list(parts), "model": llm.model_name,
              "limit": limit, "history_len": history_len}  # fmt: skip
    try:
        with ctx.run("score", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
            with record.timed("llm"):
                scores = llm.score_yes_no(prompts, record)
            labels = targets["label"].to_numpy()
            record.metrics.update(pairs=len(prompts), auc=_round(metrics.auc(labels, scores)))
            with ctx.transaction() as session:
                write_predictions(session, run_id=record.id, dataset_id=window.dataset_id, method=method,
                                  user_ids=targets["user_id"].to_numpy(), item_ids=targets["item_id"].to_numpy(),
                                  scores=scores, labels=labels)  # fmt: skip
                record.finish(session, "staged")
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics}


def _targets(window: Window, parts: tuple[str, ...], limit: int | None, seed: int) -> pl.DataFrame:
    rows = window.split.rows.filter(pl.col("part").is_in(list(parts)))
    rows = rows.unique(["user_id", "item_id"], keep="last", maintain_order=True)  # one score per pair
    if limit is not None and rows.height > limit:
        rows = rows.sample(limit, seed=seed).sort("ts", "interaction_id")
    if rows.height == 0:
        raise ColrecError(f"no pairs to score in parts {', '.join(parts)}")
    return rows


def _history_prompts(window: Window, targets: pl.DataFrame, history_len: int) -> list[tuple[History, str]]:
    """For each pair: the user's last liked and disliked titles strictly before the event."""
    events = window.split.rows.sort("ts", "interaction_id")
    by_user = {
        user: (frame["ts"].to_numpy(), frame["item_id"].to_numpy(), frame["label"].to_numpy())
        for (user,), frame in events.group_by("user_id")
    }
    out = []
    for user, item, ts in zip(targets["user_id"], targets["item_id"], targets["ts"].to_numpy(), strict=True):
        times, items, labels = by_user[user]
        before = np.searchsorted(times, ts, side="left")
        past_items, past_labels = items[:before], labels[:before]
        liked = [window.titles[int(i)] for i in past_items[past_labels == 1][-history_len:]]
        disliked = [window.titles[int(i)] for i in past_items[past_labels == 0][-history_len:]]
        out.append((History(liked, disliked), window.titles[int(item)]))
    return out


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)

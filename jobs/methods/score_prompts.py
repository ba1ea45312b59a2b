"""SCORE's prompt per pair: P^s with the collaborators an evidence run selected for it, P^b (the
user's own likes) where it selected none. For `score --method score` and the yesno recipe's data."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from colrec.llm.engine import Messages
from colrec.llm.prompts import score_basic, score_collaborative
from colrec_store.repositories.evidence import latest_evidence_run, selected_evidence
from jobs.common.context import JobContext
from jobs.common.pairs import histories_before
from jobs.common.windows import Window

log = logging.getLogger(__name__)

SAME_PAIRS = ("parts", "limit", "seed", "as_of", "candidates")  # the params that choose an evidence run's pairs


def score_prompts(ctx: JobContext, window: Window, targets: pl.DataFrame, split: str, history_len: int,
                  evidence_run: int | None, params: dict[str, Any],
                  history_parts: tuple[str, ...] | None = None) -> tuple[list[Messages], int, int]:  # fmt: skip
    """P^s per pair from the evidence run's selected collaborators; P^b where it selected none."""
    with ctx.transaction() as session:
        # `candidates` is in a run's params only when it made rerank lists (runs before it lack the key)
        same_pairs = {k: params.get(k) for k in SAME_PAIRS if k != "candidates" or k in params}
        found = latest_evidence_run(session, window.dataset_id, "score", split, evidence_run, same_pairs)
        selected = selected_evidence(session, found.id, "score")
    differs = [k for k in SAME_PAIRS if found.params.get(k) != params.get(k)]
    if differs:  # its pairs are another sample: most pairs here would get P^b
        log.warning("evidence run %d was made with other %s: pairs it did not cover get no evidence",
                    found.id, ", ".join(differs))  # fmt: skip
    out, with_evidence = [], 0
    histories = histories_before(window, targets, history_len, history_parts)
    pairs = zip(targets["user_id"], targets["item_id"], histories, strict=True)
    for user, item, (history, target) in pairs:
        others = selected.get((int(user), int(item)))
        if others:
            with_evidence += 1
            titles = [[window.titles.get(i, "") for i in items] for items in others]
            out.append(score_collaborative(history.liked, titles, target))
        else:
            out.append(score_basic(history.liked, target))
    return out, found.id, with_evidence

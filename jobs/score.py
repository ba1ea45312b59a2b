"""`colrec-jobs score`: Yes/No scores of a split's pairs into `predictions`.

- `llm`: the history-only prompt (TALLRec style: the user's liked and disliked titles before the event).
- `score`: SCORE's prompt P^s with the collaborators that `retrieve --method score` selected for
  the pair (P^b, the user's own likes only, where none were selected).
- `hybrid`, `hybrid-no-llm`: a stack of the LLM's and the CF models' scores fit on the valid part
  (jobs.methods.hybrid).
- `coral`, `coral-random`, `coral-none`: CoRAL's prompt with the users and items that a trained
  retrieval policy, random queries, or nothing retrieved (jobs.methods.coral); the retrieved entities are
  stored as `evidence` rows of the score run, with its predictions.

Every prompt goes through the LLM cache; the run records llm_calls and cache_hits.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np

from colrec import metrics
from colrec.candidates import rerank_metrics
from colrec.errors import ColrecError
from colrec.llm.prompts import tallrec_yes_no
from colrec_store.repositories.evidence import write_evidence
from colrec_store.repositories.outputs import write_predictions
from jobs.common.context import JobContext
from jobs.common.pairs import candidate_param, histories_before, pair_targets
from jobs.common.windows import load_window, split_params
from jobs.llm.work import CachedLLM, require_item_text
from jobs.methods import CORAL, HYBRID, PROMPTED, coral, hybrid
from jobs.methods.score_prompts import score_prompts
from jobs.methods.tuned import tuned_for

log = logging.getLogger(__name__)


def run(ctx: JobContext, dataset: str, split: str, *, method: str = "llm", parts: tuple[str, ...] = ("test",),
        model: str | None = None, limit: int | None = None, as_of: dt.date | None = None, seed: int = 0,
        history_len: int = 10, evidence_run: int | None = None,
        adapter_run: int | None = None, policy_run: int | None = None,
        llm_method: str | None = None, candidates: int = 0) -> dict[str, Any]:  # fmt: skip
    """With `adapter_run` (a finetune run) its LoRA adapter or tuned model is served and the method is
    stored as `<method>-lora` or `<method>-full`, so tuned and untuned scores sit side by side. With
    `candidates` N the pairs are each user's rerank list of N in the parts (colrec.candidates)."""
    if method in HYBRID:  # a stack over runs already made: no prompt of its own
        return hybrid.run(ctx, dataset, split, method=method, llm_method=llm_method, as_of=as_of, seed=seed,
                          candidates=candidates)  # fmt: skip
    if method not in PROMPTED:
        raise ColrecError(f"unknown scoring method {method!r}; known: {', '.join((*PROMPTED, *HYBRID))}")
    window = load_window(ctx, dataset, split, as_of, seed)
    targets = pair_targets(window, parts, limit, seed, candidates)
    params = {"method": method, **split_params(split, as_of, seed), "parts": list(parts), "limit": limit,
              "history_len": history_len, **candidate_param(candidates)}  # fmt: skip
    evidence: list[dict[str, Any]] = []
    if method == "score":
        messages, params["evidence_run"], params["with_evidence"] = score_prompts(
            ctx, window, targets, split, history_len, evidence_run, params
        )
    elif method in CORAL:
        built = coral.score_prompts(ctx, window, targets, method, split, history_len, seed, policy_run)
        messages, evidence = built.messages, built.evidence
        params.update(built.params)
    else:
        messages = [tallrec_yes_no(h, t) for h, t in histories_before(window, targets, history_len)]
    llm = CachedLLM(ctx, model)
    params["model"] = llm.model_name
    if adapter_run is not None:
        tuned = tuned_for(ctx, window.dataset_id, adapter_run, llm.model_name)
        llm.serve(tuned)
        method = params["method"] = f"{method}-{tuned.suffix}"
        params["adapter_run"] = adapter_run
    try:
        prompts = [llm.render(m) for m in messages]
        with ctx.run("score", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, window.dataset_id, record)
            with record.timed("llm"):
                scores = llm.score_yes_no(prompts, record)
            labels = targets["label"].to_numpy()
            record.metrics.update(pairs=len(prompts), auc=metrics.rounded(metrics.auc(labels, scores)))
            if candidates:  # on the test lists where the run has them (a user has one list per part)
                on = (targets["part"] == "test").to_numpy() if "test" in parts else np.ones(len(labels), bool)
                record.metrics.update(rerank_metrics(targets["user_id"].to_numpy()[on], labels[on], scores[on]))
            with ctx.transaction() as session:
                write_predictions(session, run_id=record.id, dataset_id=window.dataset_id, method=method,
                                  user_ids=targets["user_id"].to_numpy(), item_ids=targets["item_id"].to_numpy(),
                                  scores=scores, labels=labels)  # fmt: skip
                if evidence:
                    record.metrics["evidence_rows"] = write_evidence(
                        session, [{**row, "run_id": record.id} for row in evidence]
                    )
                record.finish(session, "published")  # staged inside a refresh
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics}

"""CoRAL (coral.txt) over the store: `colrec-jobs coral train-policy` and the `coral*` score methods.

- train-policy: episodes on the split's long-tail training pairs (all training pairs on a split
  without a head/tail mark). The state and the action space are the user and item embeddings of a
  CF model trained on the split (DeepFM by default, whose training part holds every head row: the
  paper's warm start from popular items; any model with user and item embeddings of one width, such
  as mf or lightgcn, fits the same interface); `--init random` draws them from N(0, I) instead, the
  paper's ablation. Each step's Yes/No calls go through the LLM cache as one batch for all parallel
  episodes. The policy is saved under the run's model dir and recorded in `models`.
- score --method coral: the policy retrieves `eval_steps` users and items per pair; coral-random
  retrieves by uniformly random queries in the same space; coral-none gives no evidence. All three
  use the same prompt, and the retrieved entities are stored as `evidence` rows of the score run,
  written with its predictions in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from colrec.coral.env import CoralVecEnv
from colrec.coral.policy import PolicyConfig, train_policy
from colrec_store.repositories.models import record_model
from jobs.common.context import JobContext
from jobs.common.windows import load_window, split_params
from jobs.llm.work import CachedLLM, require_item_text
from jobs.methods.coral import POLICY_KIND, judge_with, training_pairs, world


def train(ctx: JobContext, dataset: str, split: str = "long-tail", *, model: str | None = None,
          cf_model: str = "deepfm", cf_run: int | None = None, init: str = "cf", retrieval: str = "pairs",
          pairs: int | None = None, history_len: int = 10,
          as_of: dt.date | None = None, seed: int = 0,
          config: PolicyConfig = PolicyConfig()) -> dict[str, Any]:  # fmt: skip
    window = load_window(ctx, dataset, split, as_of, seed)
    data = world(ctx, window, split, cf_model, cf_run, init, seed, history_len, retrieval)
    frame = training_pairs(window, pairs, seed)
    # The policy's judge sends a few prompts per environment step: a round trip to a cluster each
    # time would cost more than the prompts, so it runs in process whatever the executor.
    llm = CachedLLM(ctx, model, executor="local")
    params = {"method": "coral", **split_params(split, as_of, seed), "cf_model": cf_model, "cf_run": data.cf_run,
              "init": init, "retrieval": retrieval, "pairs": frame.height, "history_len": history_len,
              "model": llm.model_name, **config.as_dict()}  # fmt: skip
    try:
        with ctx.run("policy", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, window.dataset_id, record)
            env = CoralVecEnv(data.space, data.pairs(frame), judge_with(data, llm, record), n_envs=config.n_envs,
                              max_steps=config.max_steps, tolerance=config.tolerance, seed=seed)  # fmt: skip
            with record.timed("train"):
                policy, stats = train_policy(env, config)
            record.metrics.update(stats, env_steps=config.total_steps)
            calls = record.metrics.get("llm_calls", 0) + record.metrics.get("cache_hits", 0)
            if stats["episodes"]:  # a run too short to finish an episode has no per-episode cost
                record.metrics["prompts_per_episode"] = round(calls / stats["episodes"], 2)
            path = ctx.settings.models_path / "runs" / str(record.id) / "policy.zip"
            path.parent.mkdir(parents=True, exist_ok=True)
            policy.save(path)
            with ctx.transaction() as session:
                record_model(session, run_id=record.id, dataset_id=window.dataset_id, kind=POLICY_KIND,
                             name=f"coral-{cf_model}-{init}", path=str(path), config=params,
                             metrics=dict(record.metrics))  # fmt: skip
                record.finish(session, "published")
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics, "timings": record.timings}

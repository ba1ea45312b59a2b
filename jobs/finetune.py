"""`colrec-jobs finetune --recipe yesno`: a LoRA adapter trained on a split's training pairs.

Training data comes from the train part only: the pairs, and each pair's history strictly before
it from train events, so nothing at or after the split's cut (or the as-of date) leaks in. The
adapter goes under the model dir, with a `models` row (kind `lora-adapter`) holding the recipe's
config, the base model, the data window and the losses; `score --adapter RUN` serves it.

Checkpoints live under a folder keyed by what is trained (dataset, split, base, recipe config), so
a run that died resumes from its newest checkpoint when started again with the same options.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

from colrec.errors import ColrecError
from colrec.finetune.yesno import YesNoConfig, train_yesno
from colrec.llm.catalog import resolve
from colrec.llm.engine import Messages, sha256
from colrec.llm.prompts import tallrec_yes_no
from colrec_store.repositories.models import latest_model, record_model
from jobs.context import JobContext
from jobs.pairs import histories_before, pair_targets
from jobs.score import score_prompts
from jobs.windows import Window, load_window, split_params

RECIPES = ("yesno",)
PLANNED = ("reclm", "twice")
PROMPTS = ("llm", "score")


def run(ctx: JobContext, dataset: str, split: str, *, recipe: str = "yesno", base_model: str | None = None,
        prompt: str = "llm", limit: int | None = None, as_of: dt.date | None = None, seed: int = 0,
        history_len: int = 10, evidence_run: int | None = None,
        config: YesNoConfig = YesNoConfig()) -> dict[str, Any]:  # fmt: skip
    if recipe in PLANNED:
        raise ColrecError(f"recipe {recipe!r} is not built yet; built: {', '.join(RECIPES)}")
    if recipe not in RECIPES:
        raise ColrecError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    if prompt not in PROMPTS:
        raise ColrecError(f"unknown prompt {prompt!r}; known: {', '.join(PROMPTS)}")
    base_name = base_model or ctx.settings.llm_model
    base = resolve(ctx.settings.models_path, base_name)
    window = load_window(ctx, dataset, split, as_of, seed)
    pairs = pair_targets(window, ("train",), limit, seed)
    params: dict[str, Any] = {"recipe": recipe, "method": f"{recipe}-{prompt}", "base_model": base_name,
                              "prompt": prompt, **split_params(split, as_of, seed), "limit": limit,
                              "history_len": history_len, "config": config.as_dict()}  # fmt: skip
    messages = training_prompts(ctx, window, pairs, split, history_len, evidence_run, params)
    params["window"] = _window(pairs)
    examples = list(zip(messages, pairs["label"].to_list(), strict=True))
    checkpoints = ctx.settings.models_path / "finetune" / _key(dataset, params) / "checkpoints"
    with ctx.run("finetune", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        adapter = ctx.settings.models_path / "runs" / str(record.id) / "adapter"
        with record.timed("train"):
            record.metrics.update(train_yesno(base, examples, config, adapter, checkpoints))
        with ctx.transaction() as session:
            record_model(session, run_id=record.id, dataset_id=window.dataset_id, kind="lora-adapter",
                         name=f"{recipe}-{prompt}-{dataset}", path=str(adapter), config=params,
                         metrics=dict(record.metrics))  # fmt: skip
            record.finish(session, "published")
    return {"run_id": record.id, "adapter": str(adapter), **record.metrics}


def training_prompts(ctx: JobContext, window: Window, pairs: pl.DataFrame, split: str, history_len: int,
             evidence_run: int | None, params: dict[str, Any]) -> list[Messages]:  # fmt: skip
    if params["prompt"] == "score":
        messages, params["evidence_run"], params["with_evidence"] = score_prompts(
            ctx, window, pairs, split, history_len, evidence_run, {**params, "parts": ["train"]}, ("train",)
        )
        return messages
    return [tallrec_yes_no(h, t) for h, t in histories_before(window, pairs, history_len, ("train",))]


def _window(pairs: pl.DataFrame) -> dict[str, Any]:
    return {"pairs": pairs.height, "first_ts": str(pairs["ts"].min()), "last_ts": str(pairs["ts"].max())}


def _key(dataset: str, params: dict[str, Any]) -> str:
    """The same dataset, split, data and recipe config resume the same checkpoints."""
    return f"{dataset}-{params['recipe']}-" + sha256(json.dumps(params, sort_keys=True, default=str))[:12]


def adapter_for(ctx: JobContext, dataset_id: int, run_id: int, model_name: str) -> Path:
    """The adapter a finetune run made, checked against the model it will be served on."""
    with ctx.transaction() as session:
        artifact, _ = latest_model(session, dataset_id, "lora-adapter", run_id=run_id)
    trained_on = artifact.config.get("base_model")
    if trained_on != model_name:
        raise ColrecError(f"adapter of run {run_id} was trained on {trained_on!r}, not {model_name!r}: pass --model")
    return Path(artifact.path or "")

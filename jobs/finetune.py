"""`colrec-jobs finetune --recipe R`: LoRA adapters trained with trl on a split's training data.

- `yesno` (SCORE/TALLRec): SFT on Yes/No answers to the history-only or SCORE prompt.
- `twice` (TWiCE-Rec): multi-task SFT, then GRPO with the collaborative-guided + format reward,
  where the collaborative model is the split's newest published SASRec.
- `reclm` (RecLM): two-turn SFT (profiles, then Yes/No) on the assistant turns only, a reward model
  on preference pairs, then GRPO against it (trl has no PPOTrainer any more; see colrec.finetune.reclm).

Training data comes from the train part only (jobs/common/recipe_data.py), so nothing at or after the
split's cut (or the as-of date) leaks in. The adapter goes under the model dir, with a `models` row
(kind `lora-adapter`) holding the recipe's config, the base model, the data window and the losses;
`score --adapter-run RUN` serves it. Checkpoints live under a folder keyed by what is trained
(dataset, split, base, recipe config), so a run that died resumes from its newest checkpoint when it
is started again with the same options.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from colrec.cf import registry
from colrec.errors import ColrecError
from colrec.finetune import grpo, reclm, twice
from colrec.finetune.sft import SftSettings, train_sft
from colrec.finetune.yesno import YesNoConfig, resolved, train_yesno
from colrec.llm.catalog import resolve
from colrec.llm.engine import sha256
from colrec_store.repositories.models import latest_model, record_model
from jobs.common.context import JobContext, RunRecord
from jobs.common.pairs import pair_targets
from jobs.common.recipe_data import reclm_data, twice_data, yesno_prompts
from jobs.common.windows import Window, load_window, split_params
from jobs.methods.tuned import ADAPTER, FULL

RECIPES = ("yesno", "twice", "reclm")
PROMPTS = ("llm", "score")


def run(ctx: JobContext, dataset: str, split: str, *, recipe: str = "yesno", base_model: str | None = None,
        prompt: str = "llm", limit: int | None = None, as_of: dt.date | None = None, seed: int = 0,
        history_len: int = 10, evidence_run: int | None = None,
        config: SftSettings | twice.TwiceConfig | reclm.ReclmConfig | None = None) -> dict[str, Any]:  # fmt: skip
    if recipe not in RECIPES:
        raise ColrecError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    if prompt not in PROMPTS:
        raise ColrecError(f"unknown prompt {prompt!r}; known: {', '.join(PROMPTS)}")
    config = config or {"yesno": YesNoConfig, "twice": twice.TwiceConfig, "reclm": reclm.ReclmConfig}[recipe]()
    _check_config(recipe, config)
    base_name = base_model or ctx.settings.llm_model
    base = resolve(ctx.settings.models_path, base_name)
    if isinstance(config, YesNoConfig):
        try:
            config = resolved(config, base)
        except ValueError as error:
            raise ColrecError(f"finetune: {error}") from None
    window = load_window(ctx, dataset, split, as_of, seed)
    params: dict[str, Any] = {"recipe": recipe, "base_model": base_name, **split_params(split, as_of, seed),
                              "limit": limit, "history_len": history_len, "config": config.as_dict()}  # fmt: skip
    if recipe == "yesno":
        params["prompt"] = prompt
        train = _yesno(ctx, window, base, split, limit, seed, history_len, evidence_run, params, config)
    elif isinstance(config, twice.TwiceConfig):
        train = _twice(ctx, window, base, split, limit, seed, history_len, params, config)
    elif isinstance(config, reclm.ReclmConfig):
        train = _reclm(ctx, window, base, split, limit, seed, history_len, params, config)
    checkpoints = ctx.settings.models_path / "finetune" / _key(window.dataset_id, params)
    full = isinstance(config, YesNoConfig) and config.tuning == "full"
    with ctx.run("finetune", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
        adapter = ctx.settings.models_path / "runs" / str(record.id) / ("model" if full else "adapter")
        train(record, adapter, checkpoints)
        with ctx.transaction() as session:
            record_model(session, run_id=record.id, dataset_id=window.dataset_id, kind=FULL if full else ADAPTER,
                         name=f"{recipe}-{dataset}", path=str(adapter), config=params,
                         metrics=dict(record.metrics))  # fmt: skip
            record.finish(session, "published")
    return {"run_id": record.id, "adapter": str(adapter), **record.metrics}


def _check_config(recipe: str, config: SftSettings | twice.TwiceConfig | reclm.ReclmConfig) -> None:
    wanted = {"yesno": SftSettings, "twice": twice.TwiceConfig, "reclm": reclm.ReclmConfig}[recipe]
    if not isinstance(config, wanted):
        raise ColrecError(f"finetune --recipe {recipe} takes a {wanted.__name__}, got {type(config).__name__}")


def _yesno(ctx: JobContext, window: Window, base: Path, split: str, limit: int | None, seed: int, history_len: int,
           evidence_run: int | None, params: dict[str, Any], config: Any) -> Any:  # fmt: skip
    pairs = pair_targets(window, ("train",), limit, seed)
    messages = yesno_prompts(ctx, window, pairs, split, history_len, evidence_run, params)
    params["window"] = {"pairs": pairs.height, "first_ts": str(pairs["ts"].min()), "last_ts": str(pairs["ts"].max())}
    examples = list(zip(messages, pairs["label"].to_list(), strict=True))

    def train(record: RunRecord, adapter: Path, checkpoints: Path) -> None:
        with record.timed("sft"):
            record.metrics.update(train_yesno(base, examples, config, adapter, checkpoints / "sft"))

    return train


def _twice(ctx: JobContext, window: Window, base: Path, split: str, limit: int | None, seed: int, history_len: int,
           params: dict[str, Any], config: twice.TwiceConfig) -> Any:  # fmt: skip
    data = twice_data(ctx, window, history_len, limit, seed)
    if not data.rl_users:
        raise ColrecError(f"no user of split {split!r} has 3 liked training items: nothing to tune the twice recipe on")
    cf_score, cf_run = _cf_scorer(ctx, window, split)
    params.update(window=data.counts, cf_run=cf_run)

    def train(record: RunRecord, adapter: Path, checkpoints: Path) -> None:
        sft_adapter = adapter.with_name("sft-adapter")
        with record.timed("sft"):
            sft = train_sft(
                base, twice.sft_dataset(data.sft), config.sft, sft_adapter, checkpoints / "sft", "twice-sft"
            )
        record.metrics.update({f"sft_{k}": v for k, v in sft.items()})
        reward = twice.reward_function(cf_score, config.lam, config.tau)
        dataset = twice.rl_dataset(data.rl_prompts, data.rl_users, data.rl_targets)
        with record.timed("grpo"):
            rl = grpo.train_grpo(grpo.load_policy(base, sft_adapter), dataset, [reward], config.grpo, adapter,
                                 checkpoints / "grpo", "twice-grpo")  # fmt: skip
        record.metrics.update({f"grpo_{k}": v for k, v in rl.items()})

    return train


def _reclm(ctx: JobContext, window: Window, base: Path, split: str, limit: int | None, seed: int, history_len: int,
           params: dict[str, Any], config: reclm.ReclmConfig) -> Any:  # fmt: skip
    from transformers import AutoTokenizer

    with ctx.transaction() as session:
        _, trained = latest_model(session, window.dataset_id, "sasrec", split)
    data = reclm_data(ctx, window, trained.id, history_len, limit, seed)
    if not data.dialogues:
        raise ColrecError(f"no user has a profile made from split {split!r} and 2 liked training items: "
                          f"run `colrec-jobs profile --split {split}` (same --as-of and --seed) first")  # fmt: skip
    params.update(window=data.counts, cf_run=trained.id)
    tokenizer = AutoTokenizer.from_pretrained(str(base))

    def train(record: RunRecord, adapter: Path, checkpoints: Path) -> None:
        sft_adapter, reward_model = adapter.with_name("sft-adapter"), adapter.with_name("reward-model")
        dialogues = reclm.sft_dataset(tokenizer, data.dialogues, config.sft.max_length)
        with record.timed("sft"):
            sft = train_sft(base, dialogues, config.sft, sft_adapter, checkpoints / "sft", "reclm-sft")
        record.metrics.update({f"sft_{k}": v for k, v in sft.items()})
        pairs = reclm.preference_dataset(data.preference_prompts, data.chosen, data.rejected)
        with record.timed("reward"):
            rm = reclm.train_reward_model(base, pairs, config.reward, reward_model, checkpoints / "reward")
        record.metrics.update({f"reward_{k}": v for k, v in rm.items()})
        prompts = reclm.prompt_dataset(data.turn_one)
        with record.timed("grpo"):
            rl = grpo.train_grpo(grpo.load_policy(base, sft_adapter), prompts, [str(reward_model)], config.grpo,
                                 adapter, checkpoints / "grpo", "reclm-grpo")  # fmt: skip
        record.metrics.update({f"grpo_{k}": v for k, v in rl.items()})

    return train


def _cf_scorer(ctx: JobContext, window: Window, split: str) -> tuple[Any, int]:
    """(user, generated title) -> SASRec's score of that item for the user; None for unknown titles."""
    with ctx.transaction() as session:
        artifact, trained = latest_model(session, window.dataset_id, "sasrec", split)
    model = registry.load(Path(artifact.path or ""))
    by_title = {twice.normal_title(t): i for i, t in window.titles.items() if t}

    def cf_score(user: int, title: str) -> float | None:
        item = by_title.get(twice.normal_title(title))
        if item is None:
            return None
        index = window.index
        return float(model.score(index.user_index(np.array([user])), index.item_index(np.array([item])))[0])

    return cf_score, trained.id


def _key(dataset_id: int, params: dict[str, Any]) -> str:
    """The same dataset, split, data and recipe config resume the same checkpoints. From the id, not
    the name: a path is never built from text a user typed."""
    return f"d{dataset_id}-{params['recipe']}-" + sha256(json.dumps(params, sort_keys=True, default=str))[:12]

"""The tuned LLMs that `finetune` runs made, as the jobs that serve them find them: a LoRA adapter
on its base or a whole model folder, pinned by run or the newest one that fits, never one that
trained on the part it will be judged on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colrec.errors import ColrecError
from colrec_store.repositories.models import latest_model, tuned_models
from jobs.common.context import JobContext

ADAPTER, FULL = "lora-adapter", "finetuned-llm"  # model kinds: a LoRA adapter, a whole tuned model folder


@dataclass(frozen=True)
class Tuned:
    """What a finetune run made: a LoRA adapter served on its base, or a whole model folder."""

    run_id: int
    path: Path
    full: bool

    @property
    def suffix(self) -> str:
        """The method's suffix in predictions: tuned and untuned scores sit side by side."""
        return "full" if self.full else "lora"


def tuned_for(ctx: JobContext, dataset_id: int, run_id: int, model_name: str,
              held_out: HeldOut | None = None) -> Tuned:  # fmt: skip
    """The adapter or model a finetune run made, checked against the model it will be served on
    (and, given `held_out`, against the part it will be judged on)."""
    with ctx.transaction() as session:
        try:
            artifact, _ = latest_model(session, dataset_id, ADAPTER, run_id=run_id)
        except ColrecError:
            artifact, _ = latest_model(session, dataset_id, FULL, run_id=run_id)
    trained_on = artifact.config.get("base_model")
    if trained_on != model_name:
        raise ColrecError(f"finetune run {run_id} trained {trained_on!r}, not {model_name!r}: pass --model")
    if held_out is not None and not held_out.unseen_by(artifact.config):
        raise ColrecError(f"finetune run {run_id} trained on events of the held-out part of split "
                          f"{held_out.split.get('split')!r} (from {held_out.starts}): its scores there would be "
                          "judged on what it has seen")  # fmt: skip
    return Tuned(run_id, Path(artifact.path or ""), artifact.kind == FULL)


@dataclass(frozen=True)
class HeldOut:
    """The held-out part a served model will be judged on: a tuned model must not have trained on it."""

    split: dict[str, Any]  # split_params of that part's split
    starts: dt.datetime | None  # its first event (None: no held-out part)

    def unseen_by(self, trained: dict[str, Any]) -> bool:
        """Whether a finetune run (its params) trained on nothing of this part: the same split (its
        train part only), or training pairs that all precede the part's first event."""
        if all(trained.get(k) == v for k, v in self.split.items()) or self.starts is None:
            return True
        last = (trained.get("window") or {}).get("last_ts")
        return last is not None and _utc(dt.datetime.fromisoformat(str(last))) < _utc(self.starts)


def newest_tuned(ctx: JobContext, dataset_id: int, model_name: str, *, prompt: str, split: str,
                 held_out: HeldOut) -> Tuned | None:  # fmt: skip
    """The newest published `yesno` run for this base model, prompt and split that trained on
    nothing of `held_out`, or None."""
    with ctx.transaction() as session:
        found = tuned_models(session, dataset_id, (ADAPTER, FULL), recipe="yesno", base_model=model_name,
                             prompt=prompt, split=split)  # fmt: skip
    for artifact, trained in found:
        if held_out.unseen_by(trained.params):
            return Tuned(trained.id, Path(artifact.path or ""), artifact.kind == FULL)
    return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

"""LLM work for jobs: every prompt goes through the cache first; only unseen prompts reach the
engine, which is loaded on first need (a fully cached rerun never loads the model). Cache entries
commit chunk by chunk, so a run that dies halfway keeps what it paid for.

Where the unseen prompts run is the executor's choice (settings.executor): `local`, the engine in
this process, or `ray`, engine replicas on a Ray cluster that read the prompts from the store in
partitions and commit their outputs to the same cache (jobs.llm.ray_executor)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from colrec.errors import ColrecError
from colrec.llm.backend_choice import EngineRates
from colrec.llm.backend_choice import choose as choose_backend
from colrec.llm.catalog import resolve
from colrec.llm.defuse import Defuser
from colrec.llm.engine import YES_NO, Engine, GenerationParams, rendered, resolve_dtype, sha256
from jobs.common.console import progress
from jobs.common.context import JobContext, RunRecord
from jobs.llm.task import CHUNK, GENERATE_TASK, YES_NO_TASK, LLMTask, Output, open_llm

log = logging.getLogger(__name__)
PROGRESS_LOG_S = 60.0  # seconds between progress lines in the log
MIN_ITEM_TEXT_SHARE = 0.5  # below it, LLM steps refuse the dataset (require_item_text)


def progress_line(model: str, done: int, total: int, seconds: float) -> str:
    """`LLM m: 512 of 2,048 prompts (25%), 18.3/s, about 1m24s left`: what a cron log shows."""
    rate = done / seconds if seconds > 0 else 0.0
    left = f"about {_duration((total - done) / rate)} left" if rate else "time left unknown"
    return f"LLM {model}: {done:,} of {total:,} prompts ({done / total:.0%}), {rate:.1f}/s, {left}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def require_item_text(ctx: JobContext, dataset_id: int, record: RunRecord) -> None:
    """Refuse an LLM step on a dataset whose items are mostly untitled: every prompt would say the
    same nothing (a ratings file without its catalogue gave 200 rerank prompts, 2 of them distinct).
    The share is recorded in the run; COLREC_ALLOW_UNTITLED (`--allow-untitled`) goes on anyway."""
    from colrec_store.repositories.datasets import item_text_coverage

    with ctx.transaction() as session:
        name, with_text, total = item_text_coverage(session, dataset_id)
    share = with_text / total if total else 0.0
    record.metrics["items_with_text_share"] = round(share, 4)
    if share < MIN_ITEM_TEXT_SHARE and not ctx.settings.allow_untitled:
        raise ColrecError(
            f"dataset {name}: {total - with_text:,} of {total:,} items have no title; ingest a catalogue "
            "(--items) before LLM steps, or pass --allow-untitled"
        )


class CachedLLM:
    def __init__(self, ctx: JobContext, model: str | None = None, adapter: Path | None = None,
                 executor: str | None = None) -> None:  # fmt: skip
        self.ctx = ctx
        self.executor = executor or ctx.settings.executor
        self.model_name = model or ctx.settings.llm_model
        self.path = resolve(ctx.settings.models_path, self.model_name)
        self.adapter = adapter
        self.tuned_run: int | None = None  # the finetune run served, once serve() was called
        self._engines: dict[str, Engine] = {}  # back end -> its engine, opened on first need

    def serve(self, tuned: Any) -> None:
        """Serve what a finetune run made (jobs.methods.tuned.Tuned): its adapter on this base, or its
        whole model folder, under a name of its own so the cache never mixes it with the base's."""
        if self._engines:
            raise RuntimeError("serve() before the first prompt: an engine is already open")
        self.tuned_run = tuned.run_id
        if tuned.full:
            self.path, self.model_name = tuned.path, f"{self.model_name}+finetune{tuned.run_id}"
        else:
            self.adapter = tuned.path

    def engine(self, backend: str) -> tuple[Engine, float | None]:
        """The back end's engine, and its start-up seconds if this call started it."""
        if backend in self._engines:
            return self._engines[backend], None
        start = time.perf_counter()
        self._engines[backend] = open_llm(self.ctx.settings, self.path, self.model_name, self.adapter, backend)
        return self._engines[backend], time.perf_counter() - start

    def _rates(self) -> EngineRates:
        return EngineRates(self.ctx.settings.models_path / "engine-rates.json", _device())

    def backend_for(self, kind: str, prompts: int) -> str:
        """The configured back end, or with `auto` the one expected to finish these prompts soonest."""
        configured = self.ctx.settings.llm_backend
        if configured != "auto":
            return configured
        choice = choose_backend(kind, prompts, resolve_dtype(self.ctx.settings.llm_dtype), self._rates(),
                                running=set(self._engines), vllm_installed=_vllm_installed(),
                                cuda=_device() == "cuda")  # fmt: skip
        log.info("%s -> %s", choice.why, choice.backend)
        return choice.backend

    def render(self, messages: list[dict[str, str]]) -> str:
        from transformers import AutoTokenizer

        if self._engines:
            return next(iter(self._engines.values())).render(messages)
        if not hasattr(self, "_tokenizer"):
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self._defuse = Defuser(self._tokenizer)
        return rendered(self._tokenizer, self._defuse.messages(messages))

    def score_yes_no(self, prompts: list[str], record: RunRecord) -> np.ndarray:
        outputs = self._cached(prompts, self._task(YES_NO_TASK, YES_NO, record), record)
        return np.array([o["p_yes"] for o in outputs])

    def generate(self, prompts: list[str], params: GenerationParams, record: RunRecord) -> list[str]:
        return [o["text"] for o in self._cached(prompts, self._task(GENERATE_TASK, params, record), record)]

    def _task(self, kind: str, params: GenerationParams, record: RunRecord) -> LLMTask:
        return LLMTask(settings=self.ctx.settings, run_id=record.id, kind=kind, params=params,
                       model_name=self.model_name, path=self.path, adapter=self.adapter)  # fmt: skip

    def _cached(self, prompts: list[str], task: LLMTask, record: RunRecord) -> list[Output]:
        hashes = [sha256(p) for p in prompts]
        with self.ctx.transaction() as session:
            known = task.lookup(session, sorted(set(hashes)))
        unseen = {h: p for h, p in zip(hashes, prompts, strict=True) if h not in known}
        record.metrics["cache_hits"] = record.metrics.get("cache_hits", 0) + len(prompts) - len(unseen)
        record.metrics["llm_calls"] = record.metrics.get("llm_calls", 0) + len(unseen)
        log.info("%d prompts: %d cached, %d to run on %s (%s executor)", len(prompts), len(prompts) - len(unseen),
                 len(unseen), self.model_name, self.executor)  # fmt: skip
        if unseen:
            backend = self.backend_for(task.kind, len(unseen))
            record.metrics.setdefault("llm_backend", backend)
            if self.executor == "ray":
                shipped = replace(task, settings=task.settings.model_copy(update={"llm_backend": backend}))
                known.update(self._on_ray(unseen, shipped, record))
            else:
                known.update(self._in_process(unseen, task, backend))
        return [known[h] for h in hashes]

    def _in_process(self, unseen: dict[str, str], task: LLMTask, backend: str) -> dict[str, Output]:
        items, done = list(unseen.items()), {}
        engine, startup_s = self.engine(backend)
        answering, logged = 0.0, time.perf_counter()
        with progress() as bar:  # the bar on a terminal; a log line a minute for cron and pipes
            shown = bar.add_task(f"LLM {self.model_name}", total=len(items))
            size = CHUNK[task.kind]
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                begun = time.perf_counter()
                answers = task.answer(engine, [p for _, p in chunk])
                answering += time.perf_counter() - begun
                fresh = dict(zip((h for h, _ in chunk), answers, strict=True))
                with self.ctx.transaction() as session:
                    task.store(session, fresh)
                done.update(fresh)
                bar.advance(shown, len(chunk))
                if time.perf_counter() - logged >= PROGRESS_LOG_S and len(done) < len(items):
                    log.info(progress_line(self.model_name, len(done), len(items), answering))
                    logged = time.perf_counter()
        if self.adapter is None:  # an adapter's LoRA path runs at another rate
            self._rates().record(backend, task.kind, resolve_dtype(self.ctx.settings.llm_dtype),
                                 startup_s=startup_s, prompts=len(items),
                                 seconds=answering)  # fmt: skip
        return done

    def _on_ray(self, unseen: dict[str, str], task: LLMTask, record: RunRecord) -> dict[str, Output]:
        """Replicas commit straight to the cache; what they wrote is read back from it."""
        from jobs.llm.ray_executor import run_partitions

        start = time.perf_counter()
        partitions = run_partitions(self.ctx, task, list(unseen.items()))
        # A job may send several batches (profiles: users, then items): the run keeps their sums.
        record.metrics["ray_partitions"] = record.metrics.get("ray_partitions", 0) + partitions
        record.timings["ray"] = round(record.timings.get("ray", 0.0) + time.perf_counter() - start, 3)
        with self.ctx.transaction() as session:
            done = task.lookup(session, sorted(unseen))
        if len(done) < len(unseen):  # Ray said done: every partition committed, or this is a bug
            raise ColrecError(f"ray executor: run {record.id}: {len(unseen) - len(done)} outputs not in the cache")
        return done

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None

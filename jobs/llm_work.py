"""LLM work for jobs: every prompt goes through the cache first; only unseen prompts reach the
engine, which is loaded on first need (a fully cached rerun never loads the model). Cache entries
commit chunk by chunk, so a run that dies halfway keeps what it paid for."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from colrec.llm.catalog import resolve
from colrec.llm.engine import YES_NO, Engine, GenerationParams, open_engine, sha256
from colrec_store.repositories import llm_cache
from jobs.console import progress
from jobs.context import JobContext, RunRecord

log = logging.getLogger(__name__)
CHUNK = 256


class CachedLLM:
    def __init__(self, ctx: JobContext, model: str | None = None, adapter: Path | None = None) -> None:
        self.ctx = ctx
        self.model_name = model or ctx.settings.llm_model
        self.path = resolve(ctx.settings.models_path, self.model_name)
        self.adapter = adapter
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            s = self.ctx.settings
            options: dict[str, Any] = {"dtype": s.llm_dtype}
            if s.llm_backend == "vllm":
                options.update(memory_share=s.vllm_memory_share, enable_lora=self.adapter is not None)
            self._engine = open_engine(s.llm_backend, self.path, self.model_name, **options)
        return self._engine

    def render(self, messages: list[dict[str, str]]) -> str:
        from transformers import AutoTokenizer

        if self._engine is not None:
            return self._engine.render(messages)
        if not hasattr(self, "_tokenizer"):
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def score_yes_no(self, prompts: list[str], record: RunRecord) -> np.ndarray:
        outputs = self._cached(
            prompts,
            YES_NO,
            record,
            lambda batch: [{"p_yes": float(p)} for p in self.engine.score_yes_no(batch, self.adapter)],
        )
        return np.array([o["p_yes"] for o in outputs])

    def generate(self, prompts: list[str], params: GenerationParams, record: RunRecord) -> list[str]:
        outputs = self._cached(
            prompts,
            params,
            record,
            lambda batch: [{"text": t} for t in self.engine.generate(batch, params, self.adapter)],
        )
        return [o["text"] for o in outputs]

    def _cached(
        self, prompts: list[str], params: GenerationParams, record: RunRecord, run: Any
    ) -> list[dict[str, Any]]:
        hashes = [sha256(p) for p in prompts]
        adapter = str(self.adapter or "")
        key = params.key()
        with self.ctx.transaction() as session:
            known = llm_cache.lookup(session, self.model_name, adapter, key, sorted(set(hashes)))
        unseen = {h: p for h, p in zip(hashes, prompts, strict=True) if h not in known}
        record.metrics["cache_hits"] = record.metrics.get("cache_hits", 0) + len(prompts) - len(unseen)
        record.metrics["llm_calls"] = record.metrics.get("llm_calls", 0) + len(unseen)
        log.info(
            "%d prompts: %d cached, %d to run on %s",
            len(prompts),
            len(prompts) - len(unseen),
            len(unseen),
            self.model_name,
        )
        items = list(unseen.items())
        with progress() as bar:
            task = bar.add_task(f"LLM {self.model_name}", total=len(items))
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                results = run([p for _, p in chunk])
                fresh = {h: out for (h, _), out in zip(chunk, results, strict=True)}
                with self.ctx.transaction() as session:
                    llm_cache.store(session, self.model_name, adapter, key, fresh)
                known.update(fresh)
                bar.advance(task, len(chunk))
        return [known[h] for h in hashes]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

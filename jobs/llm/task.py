"""One kind of LLM work of a run (`LLMTask`): what to ask which model and where its answers live in
the cache. The same object drives the local executor (jobs.llm.work) and each Ray replica
(jobs.llm.ray_executor)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec.llm.backends import open_engine
from colrec.llm.engine import Engine, GenerationParams, resolve_dtype
from colrec_store.config import Settings
from colrec_store.repositories import llm_cache

YES_NO_TASK, GENERATE_TASK = "yes_no", "generate"  # what a prompt asks for; its cache row's shape
# Prompts per engine call, each committed to the cache when it returns (what a killed run keeps).
# Generation takes more: vLLM runs a call's prompts to the last one, so each call ends with a tail
# of few rows; fewer, longer calls spend less time in tails.
CHUNK = {YES_NO_TASK: 256, GENERATE_TASK: 1024}
Output = dict[str, Any]


def open_llm(settings: Settings, path: Path, name: str, adapter: Path | None, backend: str | None = None) -> Engine:
    """A back end on a model folder (in this process or in a Ray replica): `backend`, or the
    configured one, which must then be a concrete one (`auto` is resolved per batch of work)."""
    backend = backend or settings.llm_backend
    if backend == "auto":
        raise ColrecError("open_llm: resolve COLREC_LLM_BACKEND=auto to a back end first (CachedLLM does)")
    options: dict[str, Any] = {"dtype": resolve_dtype(settings.llm_dtype)}
    if backend == "vllm":
        options.update(memory_share=settings.vllm_memory_share, enable_lora=adapter is not None)
        if settings.vllm_tensor_parallel > 1:
            options["tensor_parallel_size"] = settings.vllm_tensor_parallel
    return open_engine(backend, path, name, **options)


def cached_model_name(model_name: str, dtype: str) -> str:
    """The model's name in llm_cache: with its dtype appended unless that is float32."""
    resolved = resolve_dtype(dtype)
    return model_name if resolved == "float32" else f"{model_name}@{resolved}"


@dataclass(frozen=True)
class LLMTask:
    """One kind of LLM work of a run: what to ask which model, and the cache entries it fills. The
    same object drives the local executor and is shipped once to each Ray replica."""

    settings: Settings
    run_id: int
    kind: str  # YES_NO_TASK or GENERATE_TASK
    params: GenerationParams
    model_name: str
    path: Path
    adapter: Path | None

    @cached_property
    def cache_key(self) -> tuple[str, str, str]:
        """(model, adapter, params hash): where this task's outputs live in llm_cache. A dtype other
        than float32 is part of the model's name there: bf16 moves P(Yes) (up to 0.1 measured), so
        its answers must not be taken for fp32's, and fp32 caches made before keep their key."""
        return cached_model_name(self.model_name, self.settings.llm_dtype), str(self.adapter or ""), self.params.key()

    def open_engine(self) -> Engine:
        return open_llm(self.settings, self.path, self.model_name, self.adapter)

    def answer(self, engine: Engine, prompts: list[str]) -> list[Output]:
        """The cache rows of a batch of prompts: {"p_yes": P(Yes)} or {"text": completion}."""
        if self.kind == YES_NO_TASK:
            return [{"p_yes": float(p)} for p in engine.score_yes_no(prompts, self.adapter)]
        return [{"text": t} for t in engine.generate(prompts, self.params, self.adapter)]

    def lookup(self, session: Session, prompt_hashes: list[str]) -> dict[str, Output]:
        return llm_cache.lookup(session, *self.cache_key, prompt_hashes)

    def store(self, session: Session, outputs: dict[str, Output]) -> None:
        llm_cache.store(session, *self.cache_key, outputs)

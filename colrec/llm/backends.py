"""The LLM back ends by name: vllm (production) and transformers (CPU or GPU, the parity reference),
each imported only when asked for (vLLM and torch are heavy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colrec.errors import ColrecError
from colrec.llm.engine import Engine


def open_engine(backend: str, path: Path, name: str | None = None, **options: Any) -> Engine:
    if backend == "vllm":
        from colrec.llm.vllm_backend import VLLMEngine

        return VLLMEngine(path, name, **options)
    if backend == "transformers":
        from colrec.llm.hf_backend import TransformersEngine

        return TransformersEngine(path, name, **options)
    raise ColrecError(f"unknown LLM back end {backend!r} (vllm or transformers)")

"""The LLM cache: (model, adapter, prompt hash, params hash) -> output JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from colrec_store.models import LlmCache


def lookup(
    session: Session, model: str, adapter: str, params_hash: str, prompt_hashes: list[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(prompt_hashes), 5000):
        chunk = prompt_hashes[start : start + 5000]
        rows = session.execute(
            select(LlmCache.prompt_hash, LlmCache.output).where(
                LlmCache.model == model, LlmCache.adapter == adapter, LlmCache.params_hash == params_hash,
                LlmCache.prompt_hash.in_(chunk),
            )
        ).all()  # fmt: skip
        found.update({h: out for h, out in rows})
    return found


def store(session: Session, model: str, adapter: str, params_hash: str, outputs: dict[str, dict[str, Any]]) -> None:
    if not outputs:
        return
    rows = [
        {"model": model, "adapter": adapter, "params_hash": params_hash, "prompt_hash": h, "output": out}
        for h, out in outputs.items()
    ]
    session.execute(insert(LlmCache).values(rows).on_conflict_do_nothing())

"""The LLM cache: (model, adapter, prompt hash, params hash) -> output JSON."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from colrec_store.db import psycopg_connection
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
    """COPY the outputs into a scratch table, then add those the cache lacks (a prompt another job
    answered meanwhile keeps its first answer: the same model gives the same one)."""
    if not outputs:
        return
    raw = psycopg_connection(session)
    with raw.cursor() as cursor:
        cursor.execute("create temp table if not exists llm_cache_in (prompt_hash text, output jsonb) on commit drop")
        with cursor.copy("copy llm_cache_in (prompt_hash, output) from stdin") as copy:
            for prompt_hash, output in outputs.items():
                copy.write_row((prompt_hash, json.dumps(output)))
        cursor.execute(
            "insert into llm_cache (model, adapter, params_hash, prompt_hash, output) "
            "select %s, %s, %s, prompt_hash, output from llm_cache_in on conflict do nothing",
            (model, adapter, params_hash),
        )
        cursor.execute("truncate llm_cache_in")

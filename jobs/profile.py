"""`colrec-jobs profile`: RecLM profiles (reclm.txt, 2.3) with the LLM engine, into `profiles`,
and their sentence embeddings into pgvector (spaces profile_user / profile_item).

- Users: the user's recent items plus those of its nearest CF neighbours (the newest `neighbours`
  run, e.g. of LightGCN as RecLM does; none: the user's own history only).
- Items with interactions: from the profiles of their users.
- Cold-start items (no interactions, or no profiled users): from their most similar profiled items
  by text embedding of the titles.
Unparseable output is stored as a failed row with the raw text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from colrec.llm.catalog import encoder_path
from colrec.llm.encoder import TextEncoder, most_similar
from colrec.llm.engine import GenerationParams, sha256
from colrec.llm.parsing import ParseError, profile_text
from colrec.llm.prompts import ItemText, UserRecord, reclm_cold_item_profile, reclm_item_profile, reclm_user_profile
from colrec.splits import until
from colrec_store.repositories import interactions
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.embeddings import Space, write_embeddings
from colrec_store.repositories.generated import latest_neighbours, write_profiles
from jobs.context import JobContext, RunRecord
from jobs.llm_work import CachedLLM

PROFILE = GenerationParams(max_tokens=160)


@dataclass
class Catalogue:
    dataset_id: int
    rows: pl.DataFrame  # interactions as of the date, oldest first
    items: dict[int, ItemText]
    user_names: dict[int, str]
    neighbours: dict[int, list[int]]


def run(
    ctx: JobContext,
    dataset: str,
    *,
    users: bool = True,
    items: bool = True,
    limit: int | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    history_len: int = 10,
    neighbours_k: int = 3,
) -> dict[str, Any]:
    data = _load(ctx, dataset, as_of, neighbours_k)
    llm = CachedLLM(ctx, model)
    params = {
        "users": users,
        "items": items,
        "limit": limit,
        "model": llm.model_name,
        "history_len": history_len,
        "neighbours_k": neighbours_k,
        "as_of": as_of.isoformat() if as_of else None,
    }
    try:
        with ctx.run("profile", dataset_id=data.dataset_id, params=params, as_of=as_of) as record:
            made: list[dict[str, Any]] = []
            user_text: dict[int, str] = {}
            if users:
                made += _user_profiles(llm, data, record, limit, history_len, user_text)
            if items:
                made += _item_profiles(ctx, llm, data, record, limit, user_text)
            record.metrics.update(
                profiles=len(made),
                failed=sum(r["failed"] for r in made),
                users=sum(r["entity_kind"] == "user" for r in made),
                items=sum(r["entity_kind"] == "item" for r in made),
            )
            vectors = _embed(ctx, made)
            with ctx.transaction() as session:
                write_profiles(
                    session,
                    [{**r, "run_id": record.id, "dataset_id": data.dataset_id, "model": llm.model_name} for r in made],
                )
                for kind, (ids, matrix) in vectors.items():
                    write_embeddings(
                        session, data.dataset_id, Space(record.id, f"profile_{kind}", matrix.shape[1]), ids, matrix
                    )
                record.finish(session, "staged")
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics}


def _load(ctx: JobContext, dataset: str, as_of: dt.date | None, k: int) -> Catalogue:
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        rows = until(interactions.interactions(session, dataset_id), as_of).sort("ts", "interaction_id")
        items = interactions.items(session, dataset_id)
        users = interactions.users(session, dataset_id)
        neighbours = latest_neighbours(session, dataset_id, "cf_user", k)
    texts = {
        int(i): ItemText(t or "", d) for i, t, d in zip(items["id"], items["title"], items["description"], strict=True)
    }
    names = dict(zip(users["id"].to_list(), users["external_id"].to_list(), strict=True))
    return Catalogue(dataset_id, rows, texts, names, neighbours)


def _history(data: Catalogue, history_len: int) -> dict[int, list[ItemText]]:
    grouped = data.rows.group_by("user_id", maintain_order=True).agg(pl.col("item_id").tail(history_len))
    return {
        int(u): [data.items[int(i)] for i in items]
        for u, items in zip(grouped["user_id"], grouped["item_id"], strict=True)
    }


def _parse(kind: str, entity: int, prompt: str, raw: str) -> dict[str, Any]:
    try:
        text, failed = profile_text(raw), False
    except ParseError:
        text, failed = raw, True  # kept with the failure, never replaced by a default
    return {
        "entity_kind": kind,
        "entity_id": entity,
        "text": text,
        "failed": failed,
        "prompt_hash": sha256(prompt),
        "adapter": None,
    }


def _user_profiles(
    llm: CachedLLM, data: Catalogue, record: RunRecord, limit: int | None, history_len: int, out: dict[int, str]
) -> list[dict[str, Any]]:
    history = _history(data, history_len)
    targets = sorted(history)[:limit]
    short = _history(data, max(history_len // 2, 1))
    prompts = [
        llm.render(
            reclm_user_profile(
                UserRecord(data.user_names[u], history[u]),
                [UserRecord(data.user_names[n], short.get(n, [])) for n in data.neighbours.get(u, [])],
            )
        )
        for u in targets
    ]
    made = [
        _parse("user", u, p, raw)
        for u, p, raw in zip(targets, prompts, llm.generate(prompts, PROFILE, record), strict=True)
    ]
    out.update({r["entity_id"]: r["text"] for r in made if not r["failed"]})
    return made


def _item_profiles(
    ctx: JobContext, llm: CachedLLM, data: Catalogue, record: RunRecord, limit: int | None, user_text: dict[int, str]
) -> list[dict[str, Any]]:
    users_of = data.rows.group_by("item_id", maintain_order=True).agg(pl.col("user_id").reverse())
    by_item = {
        int(i): [user_text[int(u)] for u in us if int(u) in user_text][:5]
        for i, us in zip(users_of["item_id"], users_of["user_id"], strict=True)
    }
    targets = sorted(data.items)[:limit]
    warm = [i for i in targets if by_item.get(i)]
    prompts = [llm.render(reclm_item_profile(data.items[i], by_item[i])) for i in warm]
    made = [
        _parse("item", i, p, raw)
        for i, p, raw in zip(warm, prompts, llm.generate(prompts, PROFILE, record), strict=True)
    ]
    known = {r["entity_id"]: r["text"] for r in made if not r["failed"]}
    cold = [i for i in targets if i not in by_item or not by_item[i]]
    if cold and known:
        encoder = TextEncoder(encoder_path(ctx.settings.models_path, "all-minilm-l6-v2"))
        pool = sorted(known)
        nearest = most_similar(
            encoder.encode([data.items[i].title for i in cold]), encoder.encode([data.items[i].title for i in pool]), 3
        )
        prompts = [
            llm.render(reclm_cold_item_profile(data.items[i], [(data.items[pool[j]], known[pool[j]]) for j in row]))
            for i, row in zip(cold, nearest, strict=True)
        ]
        made += [
            _parse("item", i, p, raw)
            for i, p, raw in zip(cold, prompts, llm.generate(prompts, PROFILE, record), strict=True)
        ]
    record.metrics["cold_items"] = len(cold)
    return made


def _embed(ctx: JobContext, made: list[dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    good = [r for r in made if not r["failed"]]
    if not good:
        return {}
    encoder = TextEncoder(encoder_path(ctx.settings.models_path, "all-minilm-l6-v2"))
    out = {}
    for kind in ("user", "item"):
        rows = [r for r in good if r["entity_kind"] == kind]
        if rows:
            out[kind] = (
                np.array([r["entity_id"] for r in rows], dtype=np.int64),
                encoder.encode([r["text"] for r in rows]),
            )
    return out

"""`colrec-jobs profile`: RecLM profiles (reclm.txt, 2.3) with the LLM engine, into `profiles`,
and their sentence embeddings into pgvector (spaces profile_user / profile_item).

- Users: the user's recent items plus those of its nearest CF neighbours (the newest `neighbours`
  run, e.g. of LightGCN as RecLM does; none: the user's own history only).
- Items with interactions: from the profiles of their users.
- Cold-start items (no interactions, or no profiled users): from their most similar profiled items
  by text embedding of the titles.
Unparseable output is stored as a failed row with the raw text.

Incremental (`Carry`): users with new interactions, items they touched, and entities the previous
run lacks get new profiles; every other profile (and its embedding) is copied from that run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from colrec.llm.catalog import encoder_path
from colrec.llm.encoder import TextEncoder, most_similar
from colrec.llm.engine import GenerationParams, Messages, sha256
from colrec.llm.parsing import ParseError, profile_text, repeats_itself
from colrec.llm.prompts import ItemText, UserRecord, reclm_cold_item_profile, reclm_item_profile, reclm_user_profile
from colrec.splits import SplitConfig, make_split
from colrec_store.repositories import interactions
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.embeddings import Space, write_embeddings
from colrec_store.repositories.generated import latest_neighbours, read_profiles, write_profiles
from colrec_store.repositories.refresh import carry_embeddings, carry_profiles
from jobs.common.context import JobContext, RunRecord
from jobs.common.windows import events_until
from jobs.llm.work import CachedLLM, require_item_text

# SmolLM2 repeated one title to the token limit in 8 of 24 profiles without a penalty and in 1 of
# 24 with 1.15 (measured on ML-100K users); 128 tokens is a paragraph, the "concise profile" asked.
PROFILE = GenerationParams(max_tokens=128, repetition_penalty=1.15)
# An item's prompt quotes its newest users' profiles. Prefill is most of generation's work on a CPU
# (about 1 ms a prompt token with vLLM bf16 here, against 0.1-0.8 ms an output token), and with 5
# quoted profiles ML-100K's item prompts were 592 tokens, 1.0M of a whole run's 1.4M: 3 profiles
# give the item's audience at about two thirds of the cost (issue 26).
ITEM_QUOTES = 3


@dataclass(frozen=True)
class Carry:
    """What a refresh knows: the previous published profile run and who changed since."""

    from_run: int
    changed_users: frozenset[int]


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
    neighbours_run: int | None = None,
    carry: Carry | None = None,
    split: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """With `split`, profiles see only that split's training part (so a model trained and evaluated
    on the split can fuse them without test data leaking in); else every interaction up to as_of."""
    data = _load(ctx, dataset, as_of, neighbours_k, neighbours_run, split, seed)
    with ctx.transaction() as session:
        before = read_profiles(session, carry.from_run) if carry else {}
    llm = CachedLLM(ctx, model)
    params = {
        "users": users,
        "items": items,
        "limit": limit,
        "model": llm.model_name,
        "history_len": history_len,
        "neighbours_k": neighbours_k,
        "item_quotes": ITEM_QUOTES,
        "as_of": as_of.isoformat() if as_of else None,
        "carry_from": carry.from_run if carry else None,
        "split": split,
        "seed": seed if split else None,
    }
    try:
        with ctx.run("profile", dataset_id=data.dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, data.dataset_id, record)
            made: list[dict[str, Any]] = []
            fresh = _Fresh(carry, before, data)
            # Carried users' texts feed the item prompts just as fresh ones do.
            user_text = {e: t for (k, e), (t, failed) in before.items() if k == "user" and not failed and t is not None}
            if users:
                made += _user_profiles(llm, data, record, limit, history_len, user_text, fresh)
            if items:
                made += _item_profiles(ctx, llm, data, record, limit, user_text, fresh)
            record.metrics.update(
                profiles=len(made),
                failed=sum(r["failed"] for r in made),
                repetitive=sum(repeats_itself(r["text"]) for r in made),
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
                if carry is not None:
                    record.metrics.update(_carry_over(session, carry.from_run, record.id, fresh))
                record.finish(session, "published")  # staged inside a refresh
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics}


class _Fresh:
    """Which entities get a new profile this run (all of them without a previous run)."""

    def __init__(self, carry: Carry | None, before: dict[tuple[str, int], tuple[str | None, bool]],
                 data: Catalogue) -> None:  # fmt: skip
        self.carry, self.before = carry, before
        touched = data.rows.filter(pl.col("user_id").is_in(list(carry.changed_users))) if carry else None
        self.items = set() if touched is None else set(touched["item_id"].to_list())
        self.targets: dict[str, list[int]] = {"user": [], "item": []}

    def wanted(self, kind: str, entity: int) -> bool:
        if self.carry is None or (kind, entity) not in self.before:
            return True
        return entity in (self.carry.changed_users if kind == "user" else self.items)

    def keep(self, kind: str, targets: list[int]) -> list[int]:
        self.targets[kind] = targets
        return [e for e in targets if self.wanted(kind, e)]

    def carried(self, kind: str) -> list[int]:
        return [e for e in self.targets[kind] if not self.wanted(kind, e)]


def _carry_over(session: Session, source: int, target: int, fresh: _Fresh) -> dict[str, int]:
    counts = {}
    for kind in ("user", "item"):
        ids = fresh.carried(kind)
        counts[f"carried_{kind}s"] = carry_profiles(session, source_run=source, target_run=target, kind=kind, ids=ids)
        carry_embeddings(session, source_run=source, target_run=target, space=f"profile_{kind}", ids=ids)
    return counts


def _load(ctx: JobContext, dataset: str, as_of: dt.date | None, k: int, neighbours_run: int | None,
          split: str | None, seed: int) -> Catalogue:  # fmt: skip
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        rows = events_until(session, dataset_id, as_of)
        if split is not None:
            rows = make_split(rows, SplitConfig(name=split, as_of=as_of, seed=seed)).part("train")
        items = interactions.items(session, dataset_id)
        users = interactions.users(session, dataset_id)
        neighbours = latest_neighbours(session, dataset_id, "cf_user", k, neighbours_run)
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


def user_messages(data: Catalogue, users: list[int], history_len: int,
                  history: dict[int, list[ItemText]] | None = None) -> list[Messages]:  # fmt: skip
    """RecLM's user-profile prompts: the user's recent items and its neighbours' shorter ones."""
    history = history if history is not None else _history(data, history_len)
    short = _history(data, max(history_len // 2, 1))
    return [
        reclm_user_profile(
            UserRecord(data.user_names[u], history[u]),
            [UserRecord(data.user_names[n], short.get(n, [])) for n in data.neighbours.get(u, [])],
        )
        for u in users
    ]


def users_of_items(data: Catalogue, user_text: dict[int, str]) -> dict[int, list[str]]:
    """Each item's newest users' profiles (at most ITEM_QUOTES): what its item-profile prompt quotes."""
    users_of = data.rows.group_by("item_id", maintain_order=True).agg(pl.col("user_id").reverse())
    return {
        int(i): [user_text[int(u)] for u in us if int(u) in user_text][:ITEM_QUOTES]
        for i, us in zip(users_of["item_id"], users_of["user_id"], strict=True)
    }


def _user_profiles(llm: CachedLLM, data: Catalogue, record: RunRecord, limit: int | None, history_len: int,
                   out: dict[int, str], fresh: _Fresh) -> list[dict[str, Any]]:  # fmt: skip
    history = _history(data, history_len)
    targets = fresh.keep("user", sorted(history)[:limit])
    prompts = [llm.render(m) for m in user_messages(data, targets, history_len, history)]
    made = [
        _parse("user", u, p, raw)
        for u, p, raw in zip(targets, prompts, llm.generate(prompts, PROFILE, record), strict=True)
    ]
    out.update({r["entity_id"]: r["text"] for r in made if not r["failed"]})
    return made


def _item_profiles(ctx: JobContext, llm: CachedLLM, data: Catalogue, record: RunRecord, limit: int | None,
                   user_text: dict[int, str], fresh: _Fresh) -> list[dict[str, Any]]:  # fmt: skip
    by_item = users_of_items(data, user_text)
    targets = fresh.keep("item", sorted(data.items)[:limit])
    warm = [i for i in targets if by_item.get(i)]
    prompts = [llm.render(reclm_item_profile(data.items[i], by_item[i])) for i in warm]
    made = [
        _parse("item", i, p, raw)
        for i, p, raw in zip(warm, prompts, llm.generate(prompts, PROFILE, record), strict=True)
    ]
    known = {e: t for (k, e), (t, failed) in fresh.before.items()
             if k == "item" and not failed and t is not None and e in by_item}  # fmt: skip
    known.update({r["entity_id"]: r["text"] for r in made if not r["failed"]})
    cold = [i for i in targets if i not in by_item or not by_item[i]]
    if cold and known:
        encoder = TextEncoder(encoder_path(ctx.settings.models_path, ctx.settings.text_encoder))
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
    encoder = TextEncoder(encoder_path(ctx.settings.models_path, ctx.settings.text_encoder))
    out = {}
    for kind in ("user", "item"):
        rows = [r for r in good if r["entity_kind"] == kind]
        if rows:
            out[kind] = (
                np.array([r["entity_id"] for r in rows], dtype=np.int64),
                encoder.encode([r["text"] for r in rows]),
            )
    return out

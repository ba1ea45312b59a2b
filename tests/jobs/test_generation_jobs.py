"""profile and rationale jobs end to end with a tiny model: rows for every target, failures kept
with their raw text, cold-start items profiled, and a rerun that makes no LLM call."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobs import ingest, profile, rationale
from jobs.common.context import JobContext
from jobs.rationale import curate
from tests.helpers import rows


def test_profiles_for_users_items_and_cold_items(llm_ctx: JobContext, fixtures: Path) -> None:
    ingest.run(llm_ctx, [fixtures / "amazon2018"], dataset="a", fmt="amazon-2018", all_items=True)
    first = profile.run(llm_ctx, "a")
    assert (first["users"], first["items"], first["cold_items"]) == (4, 4, 1)  # B999 has no reviews
    assert first["llm_calls"] == 8 and first["cache_hits"] == 0
    stored = rows(
        llm_ctx,
        "select entity_kind, count(*) as n, bool_and(text is not null) as has_text from profiles group by 1 order by 1",
    )
    assert stored == [
        {"entity_kind": "item", "n": 4, "has_text": True},
        {"entity_kind": "user", "n": 4, "has_text": True},
    ]
    cold = rows(
        llm_ctx,
        "select p.failed from profiles p join items i on i.id = p.entity_id where p.entity_kind = 'item' and i.external_id = 'B999'",
    )
    assert len(cold) == 1
    vectors = rows(
        llm_ctx, "select space, min(dim) as dim, count(*) as n from embeddings group by space order by space"
    )
    good = rows(llm_ctx, "select entity_kind, count(*) as n from profiles where not failed group by 1 order by 1")
    assert [(v["space"], v["n"]) for v in vectors] == [(f"profile_{g['entity_kind']}", g["n"]) for g in good]
    assert all(v["dim"] == 384 for v in vectors)
    again = profile.run(llm_ctx, "a")
    assert again["llm_calls"] == 0 and again["cache_hits"] == 8


def test_rationales_are_curated_and_cached(llm_ctx: JobContext, fixtures: Path) -> None:
    ingest.run(llm_ctx, [fixtures / "ml100k"], dataset="m", fmt="movielens-100k")
    first = rationale.run(llm_ctx, "m")
    assert first["rationales"] == 5  # users with at least three interactions (user 6 has one)
    stored = rows(llm_ctx, "select failed, kept, verdict, text from rationales")
    assert len(stored) == 5 and all(r["text"] for r in stored)
    assert all((r["kept"] is None) == r["failed"] == (r["verdict"] is None) for r in stored)  # judged when parsed
    assert all(r["kept"] == (r["verdict"] >= 0.5) for r in stored if not r["failed"])
    assert first["llm_calls"] == first["rationales"] + (first["rationales"] - first["failed"])
    best = rationale.run(llm_ctx, "m", keep_share=0.4)
    assert best["llm_calls"] == 0  # the same prompts: only the decision differs
    judged = rows(llm_ctx, "select kept, verdict from rationales where run_id = :r and not failed", r=best["run_id"])
    kept = sorted(r["verdict"] for r in judged if r["kept"])
    assert kept and len(kept) == best["kept"] and all(kept[0] >= r["verdict"] for r in judged if not r["kept"])


def test_curation_by_threshold_or_best_share() -> None:
    verdicts = [0.2, 0.6, 0.15, 0.25, 0.25]
    assert curate(verdicts, 0.5, None) == [False, True, False, False, False]
    assert curate(verdicts, 0.5, 0.4) == [False, True, False, True, True]  # 2 best, and the tie at the cut
    assert curate(verdicts, 0.5, 0.01) == [False, True, False, False, False]  # at least one
    assert curate(verdicts, 0.5, 1.0) == [True] * 5
    assert curate([], 0.5, 0.5) == []


def test_llm_steps_refuse_a_dataset_without_item_text(llm_ctx: JobContext, fixtures: Path) -> None:
    import pytest

    from colrec.errors import ColrecError

    ingest.run(llm_ctx, [fixtures / "csv" / "events.tsv"], dataset="bare", fmt="csv",
               mapping="user=member,item=sku,label=clicked,ts=epoch")  # fmt: skip
    with pytest.raises(ColrecError, match=r"^dataset bare: 4 of 4 items have no title; ingest a catalogue \(--items\)"):
        profile.run(llm_ctx, "bare")
    (failed,) = rows(llm_ctx, "select status, metrics from runs where job = 'profile'")
    assert failed["status"] == "failed" and failed["metrics"]["items_with_text_share"] == 0
    assert rows(llm_ctx, "select count(*) as n from profiles") == [{"n": 0}]
    allowed = JobContext(llm_ctx.settings.model_copy(update={"allow_untitled": True}))
    assert profile.run(allowed, "bare", limit=1)["users"] == 1


def test_item_prompts_quote_the_newest_profiled_users_only() -> None:
    users = list(range(profile.ITEM_QUOTES + 3))
    events = pl.DataFrame({"user_id": users, "item_id": [7] * len(users)})  # oldest first
    data = profile.Catalogue(0, events, {}, {u: str(u) for u in users}, {})
    profiled = {u: f"profile {u}" for u in users if u != users[-2]}  # one of the newest has none
    quoted = profile.users_of_items(data, profiled)[7]
    newest_profiled = [profiled[u] for u in reversed(users) if u in profiled][: profile.ITEM_QUOTES]
    assert quoted == newest_profiled and len(quoted) == profile.ITEM_QUOTES

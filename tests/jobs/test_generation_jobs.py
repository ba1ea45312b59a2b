"""profile and rationale jobs end to end with a tiny model: rows for every target, failures kept
with their raw text, cold-start items profiled, and a rerun that makes no LLM call."""

from __future__ import annotations

from pathlib import Path

from jobs import ingest, profile, rationale
from jobs.context import JobContext
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
    stored = rows(llm_ctx, "select failed, kept, text from rationales")
    assert len(stored) == 5 and all(r["text"] for r in stored)
    assert all((r["kept"] is None) == r["failed"] for r in stored)  # judged exactly when parsed
    assert first["llm_calls"] == first["rationales"] + (first["rationales"] - first["failed"])
    assert rationale.run(llm_ctx, "m")["llm_calls"] == 0

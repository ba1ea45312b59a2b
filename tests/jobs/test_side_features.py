"""`train --side` end to end on a real Postgres with tiny models: item text vectors and profiles
made from the split's training part, fused into MF/LightGCN; the zero-shot ranking protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from colrec.errors import ColrecError
from colrec_store.config import Settings
from jobs import ingest, profile, train
from jobs.common.context import JobContext
from jobs.common.side import item_text
from tests.helpers import CSV_MAPPING, community_events, rows


@pytest.fixture
def side_ctx(settings: Settings, tiny_model: Path, tiny_encoder: Path, tmp_path: Path) -> JobContext:
    ctx = JobContext(settings.model_copy(update={
        "llm_backend": "transformers", "llm_model": str(tiny_model), "text_encoder": str(tiny_encoder),
    }))  # fmt: skip
    ingest.run(ctx, [community_events(tmp_path / "e.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    return ctx


def test_item_text_reads_title_attributes_and_description() -> None:
    text = item_text("Heat", '{"genres": ["Crime", "Drama"], "year": 1995}', "A" * 1000)
    assert text.startswith("Heat. Crime, Drama. AAA") and len(text) < 450
    assert item_text("", None, "") == "untitled"
    # the same attribute keys as DeepFM's tokens (Amazon's main_cat and store included), in their
    # order, each value said once
    amazon = '{"brand": "Visa", "category": ["Gift Cards", "", "Gift Cards"], "main_cat": "Gift Cards", "store": "S"}'
    assert item_text("Card", amazon, "") == "Card. Gift Cards. Visa. S"


def test_profiles_fused_into_mf_come_from_the_split_and_are_counted(side_ctx: JobContext) -> None:
    with pytest.raises(ColrecError, match=r"profile --split random` first"):
        train.run(side_ctx, "toy", "mf", "random", epochs=2, side="profiles")
    made = profile.run(side_ctx, "toy", limit=8, split="random")
    stored = rows(side_ctx, "select params from runs where id = :r", r=made["run_id"])[0]["params"]
    assert stored["split"] == "random"

    result = train.run(side_ctx, "toy", "mf", "random", epochs=2, side="text+profiles")
    params = rows(side_ctx, "select params from runs where id = :r", r=result["run_id"])[0]["params"]
    vectors = {
        r["space"]: r["n"]
        for r in rows(
            side_ctx,
            "select space, count(*) as n from embeddings where run_id in (:a, :b) group by space",
            a=made["run_id"],
            b=result["run_id"],
        )
    }
    assert params["side"] == "text+profiles" and params["profile_run"] == made["run_id"]
    assert params["users_with_profile"] == vectors.get("profile_user", 0) <= 8
    assert params["items_with_profile"] == vectors.get("profile_item", 0)
    assert vectors["text_item"] == 40 and result["seconds_per_epoch"] > 0
    with pytest.raises(ColrecError, match="sasrec models take no side features"):
        train.run(side_ctx, "toy", "sasrec", "random", epochs=1, side="text")


def test_zero_shot_ranks_among_held_out_items_and_text_gives_them_vectors(side_ctx: JobContext) -> None:
    base = train.run(side_ctx, "toy", "lightgcn", "zero-shot", epochs=2)
    fused = train.run(side_ctx, "toy", "lightgcn", "zero-shot", epochs=2, side="text")
    for result in (base, fused):
        assert result["ranked_among"] == "held-out items" and 0.0 <= result["recall@20"] <= 1.0
    with pytest.raises(ColrecError, match="unknown --side 'llm'"):
        train.run(side_ctx, "toy", "mf", "zero-shot", epochs=1, side="llm")

"""CoRAL end to end on a small long-tail slice with a tiny random LLM: train the policy, score with
it, with random retrieval and with none; the evidence is stored with the predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from colrec.coral.policy import PolicyConfig
from colrec.errors import ColrecError
from jobs import coral, evaluate, ingest, score, train
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, community_events, rows

CONFIG = PolicyConfig(total_steps=24, n_envs=4, max_steps=3, eval_steps=2, learning_starts=4)


def _dataset(ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(ctx, [community_events(tmp_path / "e.csv", users=30, per_user=15)], dataset="d", fmt="csv",
               mapping=CSV_MAPPING)  # fmt: skip
    train.run(ctx, "d", "deepfm", "long-tail", epochs=2)


def test_policy_then_scores_with_stored_evidence(llm_ctx: JobContext, tmp_path: Path) -> None:
    _dataset(llm_ctx, tmp_path)
    with pytest.raises(ColrecError, match="coral train-policy"):
        score.run(llm_ctx, "d", "long-tail", method="coral", limit=5)

    trained = coral.train(llm_ctx, "d", config=CONFIG)
    assert trained["episodes"] > 0 and trained["llm_calls"] > 0
    policy = rows(llm_ctx, "select r.status, m.kind, m.path from runs r join models m on m.run_id = r.id "
                           "where r.id = :r", r=trained["run_id"])[0]  # fmt: skip
    assert policy["status"] == "published" and policy["kind"] == "coral-policy" and Path(policy["path"]).is_file()

    scored = score.run(llm_ctx, "d", "long-tail", method="coral", parts=("valid", "test"), limit=12)
    params = rows(llm_ctx, "select params from runs where id = :r", r=scored["run_id"])[0]["params"]
    assert params["policy_run"] == trained["run_id"] and params["retrieval_steps"] == 2
    assert scored["pairs"] == 12 and scored["evidence_rows"] == 12 * 2 * 2  # a user and an item per step
    evidence = rows(llm_ctx, "select user_id, item_id, rank, entity_kind, entity_id from evidence "
                             "where run_id = :r order by 1, 2, 3, 4", r=scored["run_id"])  # fmt: skip
    predicted = rows(llm_ctx, "select user_id, item_id from predictions where run_id = :r", r=scored["run_id"])
    assert {(e["user_id"], e["item_id"]) for e in evidence} == {(p["user_id"], p["item_id"]) for p in predicted}
    users = {r["id"] for r in rows(llm_ctx, "select id from users")}
    assert {e["entity_id"] for e in evidence if e["entity_kind"] == "user"} <= users
    shown = "select count(*) as n from latest_evidence where method = 'coral'"
    assert rows(llm_ctx, shown)[0]["n"] == len(evidence)

    again = score.run(llm_ctx, "d", "long-tail", method="coral", parts=("valid", "test"), limit=12)
    assert again["llm_calls"] == 0 and again["cache_hits"] == 12  # the same evidence, so the same prompts

    random = score.run(llm_ctx, "d", "long-tail", method="coral-random", parts=("valid", "test"), limit=12)
    none = score.run(llm_ctx, "d", "long-tail", method="coral-none", parts=("valid", "test"), limit=12)
    assert random["evidence_rows"] == 12 * 5 * 2 and "evidence_rows" not in none
    payloads = rows(llm_ctx, "select payload from evidence where run_id = :r and entity_kind = 'item'",
                    r=random["run_id"])  # fmt: skip
    # each step retrieves a rated (user, item) pair, so every retrieved item comes with a user's verdict
    assert all(p["payload"]["liked_by"] or p["payload"]["disliked_by"] for p in payloads)
    for method in ("coral", "coral-random", "coral-none"):
        assert "auc" in evaluate.run(llm_ctx, "d", method, "long-tail")


def test_policy_needs_the_cf_model_and_a_known_init(llm_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(llm_ctx, [community_events(tmp_path / "e.csv", users=20, per_user=10)], dataset="d", fmt="csv",
               mapping=CSV_MAPPING)  # fmt: skip
    with pytest.raises(ColrecError, match="--model deepfm"):
        coral.train(llm_ctx, "d", config=CONFIG)
    train.run(llm_ctx, "d", "deepfm", "long-tail", epochs=1)
    with pytest.raises(ColrecError, match="unknown policy init"):
        coral.train(llm_ctx, "d", init="zeros", config=CONFIG)

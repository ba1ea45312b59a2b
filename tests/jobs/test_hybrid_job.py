"""`score --method hybrid|hybrid-no-llm` on a real store: the stack over a CF model and the LLM's
scores, fit on the valid part, stored for valid and test pairs and evaluated like any method."""

from __future__ import annotations

from pathlib import Path

import pytest

from colrec.errors import ColrecError
from jobs import evaluate, ingest, score, train
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, rows
from tests.jobs.test_finetune_job import _events


def test_hybrid_stacks_cf_and_llm_on_the_valid_part(llm_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(llm_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    train.run(llm_ctx, "d", "mf", "temporal", epochs=2)
    without = score.run(llm_ctx, "d", "temporal", method="hybrid-no-llm")
    assert without["features"] == ["user_rate", "user_events", "item_rate", "item_events", "mf"]
    with pytest.raises(ColrecError, match="no LLM scores"):
        score.run(llm_ctx, "d", "temporal", method="hybrid")
    test_run = score.run(llm_ctx, "d", "temporal", parts=("test",))["run_id"]
    with pytest.raises(ColrecError, match=r"no valid pair .* has an LLM score"):
        score.run(llm_ctx, "d", "temporal", method="hybrid")
    sample = score.run(llm_ctx, "d", "temporal", parts=("valid",), limit=without["valid_pairs"] - 3)
    part = score.run(llm_ctx, "d", "temporal", method="hybrid")  # a valid sample and the whole test part
    params = rows(llm_ctx, "select params from runs where id = :r", r=part["run_id"])[0]["params"]
    assert params["llm_runs"] == [sample["run_id"], test_run] and params["valid_pairs_without_llm"] > 0
    assert part["pairs"] == without["pairs"] - params["valid_pairs_without_llm"]
    score.run(llm_ctx, "d", "temporal", parts=("valid",), history_len=5)  # another prompt: not merged with those
    with pytest.raises(ColrecError, match=r"no P\(Yes\) for .* of the test pairs"):
        score.run(llm_ctx, "d", "temporal", method="hybrid")
    llm = score.run(llm_ctx, "d", "temporal", parts=("valid", "test"))
    both = score.run(llm_ctx, "d", "temporal", method="hybrid")
    assert both["features"][-1] == "llm" and both["pairs"] == llm["pairs"] == without["pairs"]
    params = rows(llm_ctx, "select params from runs where id = :r", r=both["run_id"])[0]["params"]
    assert params["llm_method"] == "llm" and params["llm_runs"][0] == llm["run_id"] and "mf" in params["cf_runs"]
    stored = rows(llm_ctx, "select count(*) as n, min(score) as lo, max(score) as hi from predictions "
                  "where run_id = :r and method = 'hybrid'", r=both["run_id"])[0]  # fmt: skip
    assert stored["n"] == both["pairs"] and 0 <= stored["lo"] < stored["hi"] <= 1
    result = evaluate.run(llm_ctx, "d", "hybrid", "temporal")
    assert result["score_run"] == both["run_id"] and result["auc"] == pytest.approx(both["auc"], abs=1e-6)
    assert "f1_threshold" in result  # out-of-fold valid scores choose the threshold


def test_rerank_lists_through_score_hybrid_and_evaluate(llm_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(llm_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    train.run(llm_ctx, "d", "mf", "temporal", epochs=2)
    llm = score.run(llm_ctx, "d", "temporal", parts=("valid", "test"), candidates=4)
    assert llm["rerank_candidates"] == 4 and 0 <= llm["rerank_ndcg@10"] <= 1
    with pytest.raises(ColrecError, match="no 'llm' scores of the test part on split"):
        evaluate.run(llm_ctx, "d", "llm", "temporal")  # lists are not the split's pairs
    stack = score.run(llm_ctx, "d", "temporal", method="hybrid", candidates=4)
    params = rows(llm_ctx, "select params from runs where id = :r", r=stack["run_id"])[0]["params"]
    assert params["candidates"] == 4 and params["llm_runs"] == [llm["run_id"]]
    with pytest.raises(ColrecError, match="--candidates 3"):
        score.run(llm_ctx, "d", "temporal", method="hybrid", candidates=3)  # no LLM run of lists of 3
    for method in ("llm", "hybrid", "mf"):
        result = evaluate.run(llm_ctx, "d", method, "temporal", candidates=4)
        assert result["rerank_users"] == llm["rerank_users"] > 0 and result["rerank_candidates"] == 4
        assert 0 <= result["rerank_ndcg@10"] <= result["rerank_hr@10"] <= 1
    assert evaluate.run(llm_ctx, "d", "llm", "temporal", candidates=4)["rerank_ndcg@10"] == llm["rerank_ndcg@10"]
    assert evaluate.run(llm_ctx, "d", "hybrid", "temporal", candidates=4)["score_run"] == stack["run_id"]

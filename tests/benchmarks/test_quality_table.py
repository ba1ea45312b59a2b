"""The quality table reads every method back from a real store, says how a missing one is made, and
is what the README shows."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import quality_table
from benchmarks.results_io import RESULTS
from jobs import ingest, train
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, community_events


def test_every_method_has_a_row_and_a_missing_one_says_how_it_is_made(ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(ctx, [community_events(tmp_path / "e.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    train.run(ctx, "toy", "mf", "temporal", epochs=20)
    table = quality_table.measure(ctx, "toy", "temporal")
    by_method = {row["method"]: row for row in table["rows"]}
    assert list(by_method) == list(quality_table.METHODS)
    assert table["pairs"] > 0 and by_method["positive-rate"]["pairs"] == table["pairs"]
    assert 0.0 <= by_method["positive-rate"]["auc"] <= 1.0  # each item is liked by half: near chance here
    for made in ("mf", "hybrid-no-llm"):  # the community structure is learnable
        assert by_method[made]["auc"] > 0.6 and by_method[made]["pairs"] <= table["pairs"]
        assert by_method[made]["pairs"] == table["pairs"] or "of the" in by_method[made]["note"]
    assert by_method["lightgcn"]["auc"] is None and "train --model lightgcn" in by_method["lightgcn"]["why"]
    assert by_method["llm-full"]["auc"] is None and "--adapter-run" in by_method["llm-full"]["why"]
    assert by_method["hybrid"]["goal"].startswith(">= 0.74") and "missed_by" not in by_method["hybrid"]
    assert by_method["mf"]["paper"] == "MF"


def test_the_rerank_table_scores_every_method_on_the_same_lists(ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(ctx, [community_events(tmp_path / "e.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    train.run(ctx, "toy", "mf", "temporal", epochs=20)
    table = quality_table.measure(ctx, "toy", "temporal", candidates=5)
    by_method = {row["method"]: row for row in table["rows"]}
    assert table["candidates"] == 5 and table["pairs"] == 5 * table["users"] > 0
    assert 0.0 < table["random_ndcg_at_10"] < 1.0
    assert list(by_method) == ["positive-rate", "popularity", *quality_table.METHODS[1:]]
    for made in ("positive-rate", "popularity", "mf", "hybrid-no-llm"):
        assert by_method[made]["users"] == table["users"] and 0.0 <= by_method[made]["ndcg@10"] <= 1.0
    assert by_method["mf"]["ndcg@10"] > table["random_ndcg_at_10"]  # the communities rank the held-out item up
    assert by_method["llm"]["auc"] is None and "--candidates 5" in by_method["llm"]["why"]
    assert "goal" not in by_method["hybrid"]  # the tuning issue's goals judge the ml1m AUC table only
    rendered = quality_table.rerank_markdown(table)
    assert "| `mf` |" in rendered and "| `llm` |" not in rendered  # rows not made share one closing line
    assert rendered.splitlines()[-1].startswith("Not made in this store") and "`llm`" in rendered.splitlines()[-1]


def test_a_goal_says_by_how_much_it_is_missed() -> None:
    rows = [{"method": m, "auc": None} for m in quality_table.METHODS]
    table = {"dataset": "d", "split": "temporal", "pairs": 10, "rows": rows}
    by_method = {row["method"]: row for row in rows}
    by_method["llm-full"]["auc"], by_method["hybrid-no-llm"]["auc"], by_method["hybrid"]["auc"] = 0.6, 0.7361, 0.7420
    quality_table._goals(table)
    assert by_method["llm-full"]["missed_by"] == 0.05
    assert by_method["hybrid"]["missed_by"] == 0.0 and by_method["score-full"]["goal"].endswith("+ 0.02")
    by_method["hybrid-no-llm"]["auc"] = 0.7390
    quality_table._goals(table)
    assert by_method["hybrid"]["missed_by"] == 0.002  # 0.005 above the ablation is the bar, not 0.74 alone


def test_the_readme_shows_the_results_files() -> None:
    table = json.loads((RESULTS / "quality_table-ml1m.json").read_text())
    assert quality_table.markdown(table) in quality_table.README.read_text()
    rerank = json.loads((RESULTS / "quality_table-ml100k.json").read_text())
    assert quality_table.rerank_markdown(rerank) in quality_table.README.read_text()


def test_rows_this_store_did_not_make_keep_the_earlier_figures_marked() -> None:
    def table(pairs: int, **auc: float) -> dict:
        rows = [{"method": m, "auc": auc.get(m.replace("-", "_")), "uauc": None, "why": "none"}
                for m in quality_table.METHODS]  # fmt: skip
        return {"dataset": "d", "split": "temporal", "pairs": pairs, "rows": rows}

    earlier = table(10, llm_full=0.66, hybrid=0.75, mf=0.70)
    now = table(10, mf=0.71, score_full=0.60)
    merged = {row["method"]: row for row in quality_table.carry_over(now, earlier)["rows"]}
    assert merged["mf"]["auc"] == 0.71 and "earlier_store" not in merged["mf"]  # measured now wins
    assert merged["llm-full"]["auc"] == 0.66 and merged["llm-full"]["earlier_store"] is True
    assert merged["score-full"]["missed_by"] == 0.08  # the goal is judged against the carried tuned row
    assert "from an earlier store" in quality_table.markdown({**now, "rows": list(merged.values())})
    assert merged["lightgcn"]["auc"] is None  # nothing to carry
    other = quality_table.carry_over(table(11), earlier)  # other pairs: nothing carried
    assert all(row["auc"] is None for row in other["rows"])

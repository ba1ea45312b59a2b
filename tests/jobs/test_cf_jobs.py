"""From ingest to stored embeddings, neighbours, evaluation and recommendations on a real Postgres."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colrec.cf import registry
from jobs import evaluate, ingest, neighbours, recommend, split, train
from jobs.common.context import JobContext
from tests.helpers import cli_env, community_events, rows, run_cli


@pytest.fixture
def community_csv(tmp_path: Path) -> Path:
    return community_events(tmp_path / "events.csv")


def test_train_neighbours_evaluate_recommend(ctx: JobContext, community_csv: Path) -> None:
    ingest.run(ctx, [community_csv], dataset="toy", fmt="csv", mapping="user=user,item=item,rating=rating,ts=ts")
    sizes = split.run(ctx, "toy", "temporal")
    assert sizes["train"] > 0 and sizes["valid"] > 0 and sizes["test"] > 0

    trained = train.run(ctx, "toy", "mf", "temporal", epochs=30, lr=0.05, dim=8)
    assert trained["auc"] > 0.8
    assert Path(trained["path"]).exists()
    stored = rows(ctx, "select space, count(*) as n, min(dim) as dim from embeddings group by space order by space")
    assert stored == [{"space": "cf_item", "n": 40, "dim": 8}, {"space": "cf_user", "n": 60, "dim": 8}]
    indexes = {r["indexname"] for r in rows(ctx, "select indexname from pg_indexes where tablename = 'embeddings'")}
    assert {"ix_emb_hnsw_cf_user_8_cosine", "ix_emb_hnsw_cf_item_8_cosine"} <= indexes
    model_row = rows(ctx, "select kind, path, config->>'split' as split from models")[0]
    assert model_row == {"kind": "mf", "path": trained["path"], "split": "temporal"}

    found = neighbours.run(ctx, "toy", k=5)
    assert found["cf_user_recall@5"] >= 0.9 and found["cf_item_recall@5"] >= 0.9
    per_user = rows(ctx, "select entity_id, count(*) as n from neighbours where space = 'cf_user' group by entity_id")
    assert len(per_user) == 60 and {r["n"] for r in per_user} == {5}
    same = rows(
        ctx,
        """select avg(((substr(u.external_id, 2)::int % 2) = (substr(v.external_id, 2)::int % 2))::int) as share
           from neighbours n join users u on u.id = n.entity_id join users v on v.id = n.neighbour_id
           where n.space = 'cf_user'""",
    )[0]["share"]
    assert same > 0.9  # neighbours come from the same community

    again = evaluate.run(ctx, "toy", "mf", "temporal")
    assert again["auc"] == pytest.approx(trained["auc"]) and again["model_run"] == trained["run_id"]

    recommended = recommend.run(ctx, "toy", "mf", top=5)
    assert recommended["users"] == 60 and recommended["rows"] == 300
    status = rows(ctx, "select status from runs where id = :r", r=recommended["run_id"])[0]["status"]
    assert status == "published"  # run alone, a job publishes its own run
    shown = rows(ctx, "select count(*) as n from latest_recommendations where method = 'mf'")[0]["n"]
    assert shown == 300
    overlap = rows(
        ctx,
        """select count(*) as n from recommendations r
           join interactions x on x.user_id = r.user_id and x.item_id = r.item_id
           where r.run_id = :r""",
        r=recommended["run_id"],
    )[0]["n"]
    assert overlap == 0  # seen items are never recommended


def test_every_model_trains_through_the_job(ctx: JobContext, community_csv: Path) -> None:
    ingest.run(ctx, [community_csv], dataset="toy", fmt="csv", mapping="user=user,item=item,rating=rating,ts=ts")
    for model in ("lightgcn", "sasrec", "deepfm"):
        result = train.run(ctx, "toy", model, "temporal", epochs=3, dim=8)
        assert 0.0 <= result["auc"] <= 1.0
        loaded = registry.load(Path(result["path"]))
        assert loaded.name == model


def test_a_trained_sasrec_holds_training_events_only_and_evaluate_gives_train_metrics(
    ctx: JobContext, community_csv: Path
) -> None:
    import datetime as dt

    ingest.run(ctx, [community_csv], dataset="toy", fmt="csv", mapping="user=user,item=item,rating=rating,ts=ts")
    trained = train.run(ctx, "toy", "sasrec", "temporal", epochs=3, dim=8)
    valid_from = dt.datetime.fromisoformat(str(split.run(ctx, "toy", "temporal")["valid_from"]))
    history = registry.load(Path(trained["path"])).history()  # type: ignore[attr-defined]
    assert 0 < len(history) <= trained["train"]
    assert int(history.ts.max()) < valid_from.timestamp()  # no valid or test event in the saved model
    again = evaluate.run(ctx, "toy", "sasrec", "temporal")
    for metric in ("auc", "uauc", "recall@20", "ndcg@20", "valid_auc"):
        assert again[metric] == trained[metric], metric


def test_undefined_metrics_are_left_out_with_their_reason(ctx: JobContext, community_csv: Path) -> None:
    ingest.run(ctx, [community_csv], dataset="toy", fmt="csv", mapping="user=user,item=item,rating=rating,ts=ts")
    implicit = train.run(ctx, "toy", "mf", "random", epochs=2, dim=8)  # every interaction a positive
    for metric in ("auc", "uauc", "f1", "valid_auc"):
        assert implicit[metric] is None and "no negatives" in implicit[f"{metric}_undefined"]
    assert implicit["recall@20"] > 0
    explicit = train.run(ctx, "toy", "mf", "temporal", epochs=2, dim=8)
    assert 0 < explicit["f1"] < 1 and "f1_undefined" not in explicit


def test_cli_train_json_and_errors(ctx: JobContext, community_csv: Path) -> None:
    env = cli_env(ctx)
    assert (
        run_cli(
            "ingest",
            str(community_csv),
            "-d",
            "toy",
            "-f",
            "csv",
            "--map",
            "user=user,item=item,rating=rating,ts=ts",
            env=env,
        ).returncode
        == 0
    )
    result = run_cli("train", "-d", "toy", "-m", "mf", "-s", "random", "--epochs", "2", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recall@20"] >= 0
    unknown = run_cli("train", "-d", "toy", "-m", "gru4rec", "-s", "random", env=env)
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: unknown model 'gru4rec'")
    empty = run_cli("split", "-d", "toy", "-s", "temporal", "--as-of", "1990-01-01", env=env)
    assert empty.returncode == 1 and "no interactions on or before 1990-01-01" in empty.stderr
    missing = run_cli("evaluate", "-d", "toy", "--method", "sasrec", "-s", "temporal", env=env)
    assert missing.returncode == 1 and "run `colrec-jobs train --model sasrec`" in missing.stderr


def test_train_on_the_newest_interactions_only(ctx: JobContext, community_csv: Path) -> None:
    ingest.run(ctx, [community_csv], dataset="toy", fmt="csv", mapping="user=user,item=item,rating=rating,ts=ts")
    windowed = JobContext(ctx.settings.model_copy(update={"train_max_interactions": 50}))
    result = train.run(windowed, "toy", "mf", "temporal", epochs=2, dim=8)
    params = rows(ctx, "select params from runs where id = :r", r=result["run_id"])[0]["params"]
    assert params["max_interactions"] == 50
    stored = rows(ctx, "select space, count(*) as n from embeddings group by space order by space")
    assert stored == [{"space": "cf_item", "n": 40}, {"space": "cf_user", "n": 60}]  # everyone still embedded

    import polars as pl

    frame = pl.DataFrame({"interaction_id": [3, 1, 2, 4], "ts": [5, 1, 5, 9]})
    assert train._newest(frame, 2)["interaction_id"].to_list() == [3, 4]
    assert train._newest(frame, None).height == 4

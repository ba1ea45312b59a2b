"""The nightly refresh on a real Postgres: atomic publish, reruns, failures, incremental LLM work,
backfill, retention and the latest_* views."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from colrec.errors import Busy, ColrecError
from colrec_store.config import Settings
from colrec_store.locks import dataset_lock
from jobs import backfill, ingest, prune, refresh
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, cli_env, community_events, rows, run_cli

DAY1, DAY2 = dt.date(2021, 3, 1), dt.date(2021, 6, 1)
CF_ONLY = refresh.RefreshPlan(
    methods=("mf",), epochs=2, steps=("split", "train", "neighbours", "recommend", "evaluate")
)


@pytest.fixture
def toy(ctx: JobContext, tmp_path: Path) -> JobContext:
    ingest.run(ctx, [community_events(tmp_path / "events.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    return ctx


@pytest.fixture
def llm_toy(toy: JobContext, settings: Settings, tiny_model: Path) -> JobContext:
    return JobContext(settings.model_copy(update={"llm_backend": "transformers", "llm_model": str(tiny_model)}))


def latest(ctx: JobContext, method: str = "mf") -> list[dict[str, object]]:
    return rows(
        ctx,
        "select user_id, rank, item_id, score, run_id, as_of from latest_recommendations "
        "where dataset = 'toy' and method = :m order by user_id, rank",
        m=method,
    )


def statuses(ctx: JobContext, parent: int) -> set[str]:
    return {r["status"] for r in rows(ctx, "select status from runs where id = :p or parent_run_id = :p", p=parent)}


def test_refresh_publishes_every_step_at_once_and_reruns_do_nothing(toy: JobContext) -> None:
    assert latest(toy) == []
    first = refresh.run(toy, "toy", CF_ONLY, DAY1)
    assert first["status"] == "published" and first["steps_published"] >= 5
    assert statuses(toy, first["run_id"]) == {"published"}
    shown = latest(toy)
    assert 60 * 15 < len(shown) <= 60 * 20 and {r["as_of"].isoformat() for r in shown} == {"2021-03-01"}

    runs_before = rows(toy, "select count(*) as n from runs")[0]["n"]
    again = refresh.run(toy, "toy", CF_ONLY, DAY1)
    assert again == {**again, "status": "already published", "run_id": first["run_id"]}
    assert rows(toy, "select count(*) as n from runs")[0]["n"] == runs_before
    assert latest(toy) == shown

    second = refresh.run(toy, "toy", CF_ONLY, DAY2)
    assert {r["as_of"].isoformat() for r in latest(toy)} == {"2021-06-01"}
    assert second["run_id"] != first["run_id"]


def test_nightly_training_warm_starts_from_the_previous_refresh_until_the_chain_is_full(toy: JobContext) -> None:
    plan = dataclasses.replace(CF_ONLY, warm_epochs=1, full_every=2)
    nights = [refresh.run(toy, "toy", plan, dt.date(2021, 3, day)) for day in (1, 2, 3)]
    trained = [
        rows(
            toy,
            "select id, metrics from runs where parent_run_id = :p and job = 'train' and params ? 'serve'",
            p=night["run_id"],
        )[0]
        for night in nights
    ]
    assert [n["warm_start_from"] for n in nights] == [{"mf": None}, {"mf": trained[0]["id"]}, {"mf": None}]
    assert [t["metrics"]["epochs_run"] for t in trained] == [2, 1, 2]  # the third night: from scratch again


def test_nightly_training_can_fuse_item_text_and_warm_starts_with_it(
    toy: JobContext, settings: Settings, tiny_encoder: Path
) -> None:
    ctx = JobContext(settings.model_copy(update={"text_encoder": str(tiny_encoder)}))
    plan = dataclasses.replace(CF_ONLY, side="text", sparse=True, warm_epochs=1)
    nights = [refresh.run(ctx, "toy", plan, day) for day in (DAY1, DAY2)]
    trained = [
        rows(
            ctx,
            "select id, params from runs where parent_run_id = :p and job = 'train' and params ? 'serve'",
            p=night["run_id"],
        )[0]
        for night in nights
    ]
    assert [t["params"]["side"] for t in trained] == ["text", "text"]
    assert all(t["params"]["config"]["sparse"] for t in trained)
    assert nights[1]["warm_start_from"] == {"mf": trained[0]["id"]}  # side path and all
    spaces = rows(ctx, "select distinct space from embeddings where run_id = :r", r=trained[1]["id"])
    assert {r["space"] for r in spaces} >= {"text_item"}
    assert len(latest(ctx)) > 0


def test_plans_published_before_side_and_sparse_existed_keep_their_keys() -> None:
    assert refresh.RefreshPlan().key() == "de2b7def84a073cf"
    plan = refresh.RefreshPlan(methods=("mf", "lightgcn"), steps=("split", "train"), epochs=2)
    assert plan.key() == "c3e6dce15c8f6e10"
    assert dataclasses.replace(plan, side="text").key() != plan.key()
    assert (
        dataclasses.replace(plan, methods=("mf",), sparse=True).key()
        != dataclasses.replace(plan, methods=("mf",)).key()
    )
    with pytest.raises(ColrecError, match="none or text"):
        refresh.RefreshPlan(side="profiles")
    with pytest.raises(ColrecError, match="sasrec models take no side features"):
        refresh.RefreshPlan(methods=("sasrec",), side="text")
    with pytest.raises(ColrecError, match=r"--sparse: model 'lightgcn' has no option 'sparse' \(mf has\)"):
        refresh.RefreshPlan(methods=("lightgcn",), sparse=True)


def test_a_failing_step_leaves_the_published_run_untouched(toy: JobContext, tmp_path: Path) -> None:
    refresh.run(toy, "toy", CF_ONLY, DAY1)
    before = latest(toy)
    unloadable = tmp_path / "model"  # passes the plan's checks (a folder with a config), fails to load
    unloadable.mkdir()
    (unloadable / "config.json").write_text("{}")
    broken = refresh.RefreshPlan(methods=("mf",), epochs=2, steps=(*CF_ONLY.steps, "rerank"), llm_model=str(unloadable))
    with pytest.raises(ColrecError, match=r"failed at step rerank"):
        refresh.run(toy, "toy", broken, DAY2)
    failed = rows(toy, "select id from runs where job = 'refresh' and status = 'failed'")
    assert len(failed) == 1
    assert statuses(toy, failed[0]["id"]) == {"failed"}  # the staged mf model and split are not left staged
    assert latest(toy) == before


def test_every_option_of_a_plan_is_checked_before_the_first_step(toy: JobContext) -> None:
    with pytest.raises(ColrecError, match="unknown model 'gru4rec'"):
        refresh.RefreshPlan(methods=("mf", "gru4rec"))
    with pytest.raises(ColrecError, match="unknown split 'weekly'"):
        refresh.RefreshPlan(split="weekly")
    with pytest.raises(ColrecError, match="unknown format 'xls'"):
        refresh.RefreshPlan(source=("a.xls",), source_format="xls")
    runs_before = rows(toy, "select count(*) as n from runs")[0]["n"]
    with pytest.raises(ColrecError, match="'bogus'"):
        refresh.run(toy, "toy", dataclasses.replace(CF_ONLY, steps=(*CF_ONLY.steps, "rerank"), llm_model="bogus"), DAY1)
    with pytest.raises(ColrecError, match=r"--source .*nowhere.csv: no such file"):
        plan = dataclasses.replace(
            CF_ONLY, steps=("ingest", *CF_ONLY.steps), source=("nowhere.csv",), source_format="csv"
        )
        refresh.run(toy, "toy", plan, DAY1)
    assert rows(toy, "select count(*) as n from runs")[0]["n"] == runs_before
    result = run_cli("refresh", "-d", "toy", "--steps", "split,train,rerank", "--model", "bogus", env=cli_env(toy))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1 and "'bogus'" in result.stderr


def test_a_refresh_is_skipped_while_another_holds_the_dataset(toy: JobContext) -> None:
    with dataset_lock(toy.engine, "toy") as lock:
        assert lock.taken
        with pytest.raises(Busy, match="another refresh of toy is running"):
            refresh.run(toy, "toy", CF_ONLY, DAY1)
    assert rows(toy, "select count(*) as n from runs where job = 'refresh'")[0]["n"] == 0


def test_empty_window_fails_with_the_date(toy: JobContext) -> None:
    with pytest.raises(ColrecError, match=r"failed at step split: .*1990-01-01"):
        refresh.run(toy, "toy", CF_ONLY, dt.date(1990, 1, 1))


def test_rerank_regenerates_only_users_with_new_interactions(llm_toy: JobContext) -> None:
    plan = refresh.RefreshPlan(
        methods=("mf",), epochs=2, rerank_candidates=5, steps=("split", "train", "recommend", "rerank")
    )
    first = refresh.run(llm_toy, "toy", plan, DAY1)
    assert first["rerank"]["reranked_users"] == 60 and first["rerank"]["llm_calls"] == 300
    reranked = latest(llm_toy, "llm")
    assert len(reranked) == 300 and all(0.0 <= r["score"] <= 1.0 for r in reranked)
    cf_top5 = {(r["user_id"], r["item_id"]) for r in latest(llm_toy) if r["rank"] <= 5}
    assert {(r["user_id"], r["item_id"]) for r in reranked} == cf_top5  # a reordering of the CF candidates

    day = dt.date(2021, 3, 2)
    changed = rows(
        llm_toy,
        "select distinct u.external_id as user_id from interactions x join users u on u.id = x.user_id "
        "where x.ts >= '2021-03-02' and x.ts < '2021-03-03'",
    )
    second = refresh.run(llm_toy, "toy", plan, day)
    assert second["rerank"]["reranked_users"] == len(changed) < 60
    assert second["rerank"]["llm_calls"] <= 5 * len(changed)
    now = latest(llm_toy, "llm")
    assert len(now) == 300
    kept = {r["user_id"] for r in changed}
    old = {(r["user_id"], r["rank"]): r["item_id"] for r in reranked if r["user_id"] not in kept}
    assert old == {(r["user_id"], r["rank"]): r["item_id"] for r in now if r["user_id"] not in kept}


def test_backfill_publishes_each_date_once_and_resumes(toy: JobContext) -> None:
    every = backfill.parse_every("30d")
    done = backfill.run(toy, "toy", CF_ONLY, dt.date(2021, 1, 1), dt.date(2021, 3, 2), every)
    assert [(r["as_of"], r["status"]) for r in done] == [
        ("2021-01-01", "published"),
        ("2021-01-31", "published"),
        ("2021-03-02", "published"),
    ]
    again = backfill.run(toy, "toy", CF_ONLY, dt.date(2021, 1, 1), dt.date(2021, 3, 2), every)
    assert {r["status"] for r in again} == {"already published"}
    assert {r["as_of"].isoformat() for r in latest(toy)} == {"2021-03-02"}
    with pytest.raises(ColrecError, match="--every"):
        backfill.parse_every("monthly")


def test_prune_keeps_the_newest_published_runs(toy: JobContext) -> None:
    for day in (dt.date(2021, 1, 1), dt.date(2021, 2, 1), dt.date(2021, 3, 1)):
        refresh.run(toy, "toy", CF_ONLY, day)
    shown = latest(toy)
    result = prune.run(toy, keep=1)
    assert result["runs"] == 2 and result["with_steps"] > 2
    left = rows(toy, "select as_of from runs where job = 'refresh'")
    assert [r["as_of"].isoformat() for r in left] == ["2021-03-01"]
    assert latest(toy) == shown
    assert prune.run(toy, keep=1)["runs"] == 0


def test_profiles_are_regenerated_only_for_changed_users_and_their_items(llm_toy: JobContext) -> None:
    plan = refresh.RefreshPlan(methods=("mf",), epochs=2, steps=("split", "train", "neighbours", "profile"))
    first = refresh.run(llm_toy, "toy", plan, DAY1)["profile"]
    assert (first["users"], first["items"], first["carried_users"]) == (60, 40, None)
    before = {r["user_id"]: r["profile"] for r in rows(llm_toy, "select user_id, profile from latest_user_profiles")}
    assert len(before) == 60

    changed = {r["user_id"] for r in rows(
        llm_toy,
        "select distinct u.external_id as user_id from interactions x join users u on u.id = x.user_id "
        "where x.ts >= '2021-03-02' and x.ts < '2021-03-03'",
    )}  # fmt: skip
    second = refresh.run(llm_toy, "toy", plan, dt.date(2021, 3, 2))["profile"]
    assert second["users"] == len(changed) and second["carried_users"] == 60 - len(changed)
    assert second["items"] + second["carried_items"] == 40 and second["items"] < 40
    after = {r["user_id"]: r["profile"] for r in rows(llm_toy, "select user_id, profile from latest_user_profiles")}
    assert {u: t for u, t in after.items() if u not in changed} == {u: t for u, t in before.items() if u not in changed}
    latest_run = rows(llm_toy, "select distinct run_id from latest_user_profiles")[0]["run_id"]
    vectors = rows(llm_toy, "select count(*) as n from embeddings where run_id = :r and space = 'profile_user'",
                   r=latest_run)[0]["n"]  # fmt: skip
    good = rows(llm_toy, "select count(*) as n from latest_user_profiles where not failed")[0]["n"]
    assert vectors == good  # carried profiles keep their embeddings


def test_cli_refresh_of_an_unknown_dataset_says_so_and_records_nothing(toy: JobContext) -> None:
    result = run_cli("refresh", "-d", "nope", "--as-of", "2021-03-01", env=cli_env(toy))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown dataset 'nope'; known: toy"
    assert rows(toy, "select count(*) as n from runs where job = 'refresh'")[0]["n"] == 0
    bad = run_cli("refresh", "-d", "toy", "--steps", "split,train,fly", env=cli_env(toy))
    assert bad.returncode == 1 and "unknown step(s) fly" in bad.stderr

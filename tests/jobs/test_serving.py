"""What downstream reads and how good it was: the serving fit, prospective evaluation of the
published lists, the rerank's held-out check, the served method and its view, future dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from pathlib import Path

import polars as pl
import pytest

from colrec.errors import ColrecError
from colrec.splits import end_of_day
from colrec_store.config import Settings
from jobs import ingest, prospective, refresh
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, cli_env, community_events, rows, run_cli

NIGHT1, NIGHT2 = dt.date(2021, 3, 1), dt.date(2021, 3, 15)
CF = refresh.RefreshPlan(methods=("mf",), epochs=2, steps=("split", "train", "recommend", "evaluate"))
WITH_RERANK = dataclasses.replace(
    CF, rerank_users=8, rerank_candidates=5, steps=("split", "train", "recommend", "rerank", "evaluate")
)


@pytest.fixture
def toy(ctx: JobContext, tmp_path: Path) -> JobContext:
    ingest.run(ctx, [community_events(tmp_path / "events.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    return ctx


def _llm(toy: JobContext, settings: Settings, tiny_model: Path, **extra: str) -> JobContext:
    update = {"llm_backend": "transformers", "llm_model": str(tiny_model), **extra}
    return JobContext(settings.model_copy(update=update))


def test_the_serving_fit_sees_every_interaction_up_to_the_date_and_the_split_fit_evaluates(toy: JobContext) -> None:
    night = refresh.run(toy, "toy", CF, NIGHT1)
    fits = rows(toy, "select id, params, metrics from runs where parent_run_id = :p and job = 'train' order by id",
                p=night["run_id"])  # fmt: skip
    serve, split_fit = fits
    known = rows(toy, "select count(*) as n from interactions where ts < :t", t=end_of_day(NIGHT1))[0]["n"]
    assert serve["params"]["serve"] is True and serve["metrics"]["train"] == known
    assert serve["metrics"]["valid"] == serve["metrics"]["test"] == 0 and "auc" not in serve["metrics"]
    assert "serve" not in split_fit["params"] and split_fit["metrics"]["test"] > 0
    assert night["serve_fit_interactions"] == known
    recommended = rows(toy, "select params from runs where parent_run_id = :p and job = 'recommend'",
                       p=night["run_id"])  # fmt: skip
    assert recommended[0]["params"]["model_run"] == serve["id"]  # downstream's lists come from the serving fit
    assert night["metrics"]["mf"]["recall@20"] > 0  # from the split's own fit
    assert night["metrics"]["mf"]["f1"] is None and night["metrics"]["mf"]["f1_undefined"] == "no negatives in test"


def test_every_nth_night_evaluates_and_the_serving_fit_still_warm_starts(toy: JobContext) -> None:
    plan = dataclasses.replace(CF, evaluate_every=2, warm_epochs=1)
    nights = [refresh.run(toy, "toy", plan, dt.date(2021, 3, day)) for day in (1, 2, 3)]
    assert [n["evaluated"] for n in nights] == [True, False, True]
    assert "skipped" in nights[1]["metrics"] and "mf" in nights[2]["metrics"]
    assert nights[1]["warm_start_from"]["mf"] is not None
    per_night = [rows(toy, "select count(*) as n from runs where parent_run_id = :p and job = 'train'",
                      p=n["run_id"])[0]["n"] for n in nights]  # fmt: skip
    assert per_night == [2, 1, 2]


def test_prospective_scores_of_hand_made_lists_are_exact() -> None:
    lists = {1: [10, 11, 12, 13, 14], 2: [20, 21, 22, 23, 24], 3: [30, 31, 32, 33, 34]}
    relevant = {1: {12}, 2: {99, 21}, 4: {40}}  # user 3 did nothing; user 4 has no list
    scored = prospective.score_lists(lists, relevant)
    assert (scored["users"], scored["arrivals"], scored["users_without_list"]) == (2, 3, 1)
    assert scored["hr@5"] == 1.0
    assert scored["recall@5"] == pytest.approx((1 / 1 + 1 / 2) / 2)
    # user 1: hit at rank 3 -> 1/log2(4) = 0.5, ideal 1; user 2: hit at rank 2 -> 1/log2(3), ideal 1 + 1/log2(3)
    ndcg_user2 = (1 / 1.584962500721156) / (1 + 1 / 1.584962500721156)
    assert scored["ndcg@5"] == pytest.approx((0.5 + ndcg_user2) / 2, abs=1e-6)

    reranked = {1: [12, 10, 11, 13, 14], 2: [20, 21, 22, 23, 24]}
    against = prospective.score_lists(reranked, relevant, base=lists)
    assert against["users"] == 2 and against["ndcg@5"] == pytest.approx((1.0 + ndcg_user2) / 2, abs=1e-6)
    assert against["base_on_same_users"]["ndcg@5"] == pytest.approx(scored["ndcg@5"], abs=1e-6)


def test_arrivals_are_new_positive_interactions_between_the_two_dates() -> None:
    day = dt.datetime(2021, 3, 1, 12, tzinfo=dt.UTC)
    events = pl.DataFrame({
        "user_id": [1, 1, 1, 2, 2, 3],
        "item_id": [10, 10, 11, 20, 21, 30],
        "rating": [5.0, 5.0, 2.0, 4.0, 5.0, 5.0],
        "label": [None, None, None, None, None, None],
        "ts": [day - dt.timedelta(days=3), day + dt.timedelta(days=1), day + dt.timedelta(days=2),
               day + dt.timedelta(days=5), day + dt.timedelta(days=30), day - dt.timedelta(days=1)],
    }, schema_overrides={"label": pl.Int16})  # fmt: skip
    since, until = dt.date(2021, 3, 1), dt.date(2021, 3, 15)
    # user 1's item 10 was seen before `since`; its item 11 is a dislike; user 2's item 21 is too late
    assert prospective.arrived_positives(events, since, until, implicit=False) == {2: {20}}
    assert prospective.arrived_positives(events, since, until, implicit=True) == {1: {11}, 2: {20}}


def test_the_second_night_scores_the_first_nights_lists_of_every_method(
    toy: JobContext, settings: Settings, tiny_model: Path
) -> None:
    ctx = _llm(toy, settings, tiny_model)
    plan = dataclasses.replace(WITH_RERANK, rerank_users=30)  # enough that some of them come back within the fortnight
    first = refresh.run(ctx, "toy", plan, NIGHT1)
    assert first["prospective"] == {"skipped": "no earlier published refresh to look back on"}
    held_out = first["metrics"]["llm"]
    assert 0 < held_out["users"] <= 30 and held_out["base_method"] == "mf"
    for k in (5, 10):
        assert 0 <= held_out[f"ndcg@{k}"] <= 1 and 0 <= held_out[f"cf_ndcg@{k}"] <= 1
    assert first["serving"]["method"] == "mf" and "no prospective evidence" in first["serving"]["why"]

    second = refresh.run(ctx, "toy", plan, NIGHT2)
    looked = second["prospective"]
    assert looked["from_run"] == first["run_id"] and looked["from_as_of"] == NIGHT1.isoformat()
    assert set(looked["methods"]) == {"mf", "llm"}
    # by hand: the first night's mf lists against what arrived in (NIGHT1, NIGHT2]
    arrived = rows(ctx, "select u.external_id as u, i.external_id as i from interactions x join users u on u.id = "
                        "x.user_id join items i on i.id = x.item_id where x.ts >= :a and x.ts < :b",
                   a=end_of_day(NIGHT1), b=end_of_day(NIGHT2))  # fmt: skip
    before = {(r["u"], r["i"]) for r in rows(ctx, "select u.external_id as u, i.external_id as i from interactions x "
                                                  "join users u on u.id = x.user_id join items i on i.id = x.item_id "
                                                  "where x.ts < :a", a=end_of_day(NIGHT1))}  # fmt: skip
    relevant: dict[str, set[str]] = {}
    for r in arrived:
        if (r["u"], r["i"]) not in before:
            relevant.setdefault(r["u"], set()).add(r["i"])
    lists: dict[str, list[str]] = {}
    for r in rows(ctx, "select u.external_id as u, i.external_id as i from recommendations x join users u on "
                       "u.id = x.user_id join items i on i.id = x.item_id where x.run_id = :r order by x.rank",
                  r=rows(ctx, "select id from runs where parent_run_id = :p and job = 'recommend' and "
                              "params->>'method' = 'mf'", p=first["run_id"])[0]["id"]):  # fmt: skip
        lists.setdefault(r["u"], []).append(r["i"])
    hits = [any(i in relevant[u] for i in lists[u][:10]) for u in relevant if u in lists]
    assert looked["methods"]["mf"]["users"] == len(hits) > 0
    assert looked["methods"]["mf"]["hr@10"] == pytest.approx(sum(hits) / len(hits), abs=1e-6)
    # the rerank covered the 30 most recently active users; those of them who came back are scored
    reranked = {r["u"] for r in rows(ctx, "select distinct u.external_id as u from recommendations x join users u on "
                                          "u.id = x.user_id join runs r on r.id = x.run_id where r.parent_run_id = :p "
                                          "and r.params->>'method' = 'llm'", p=first["run_id"])}  # fmt: skip
    assert len(reranked) == 30
    assert looked["methods"]["llm"]["users"] == len(reranked & relevant.keys()) > 0
    assert "base_on_same_users" in looked["methods"]["llm"]

    shown = json.loads(run_cli("runs", "-d", "toy", "--json", env=cli_env(ctx)).stdout)
    stored = next(r for r in shown if r["id"] == second["run_id"])
    assert stored["metrics"]["prospective"]["methods"]["mf"]["hr@10"] == looked["methods"]["mf"]["hr@10"]


def _night(ctx: JobContext, as_of: dt.date, llm: float, mf_same: float, users: int = 30) -> None:
    llm_scored = {"ndcg@10": llm, "users": users, "base_on_same_users": {"ndcg@10": mf_same}}
    metrics = {"prospective": {"methods": {"mf": {"ndcg@10": 0.1}, "llm": llm_scored}}}
    rows(ctx, "insert into runs (job, status, as_of, params, metrics, code_version, dataset_id) values ('refresh', "
              "'published', :a, '{\"dataset\": \"toy\", \"methods\": [\"mf\"]}', cast(:m as jsonb), 'test', "
              "(select id from datasets where name = 'toy')) returning id", a=as_of, m=json.dumps(metrics))  # fmt: skip


def test_auto_serves_the_method_whose_prospective_ndcg_overtakes_the_base(toy: JobContext) -> None:
    choose = functools.partial(prospective.choose_served, toy, "toy", published=["mf", "llm"], base="mf")
    none_yet = choose(dt.date(2021, 3, 2), tonight={"skipped": "no earlier published refresh"})
    assert none_yet["method"] == "mf" and "no prospective evidence" in none_yet["why"]
    _night(toy, dt.date(2021, 3, 1), llm=0.05, mf_same=0.10)
    behind = choose(dt.date(2021, 3, 3), tonight={"methods": {"llm": {"ndcg@10": 0.08, "base_on_same_users":
                                                                      {"ndcg@10": 0.09}}}})  # fmt: skip
    assert behind["method"] == "mf" and behind["evidence"]["llm"]["nights"] == 2
    _night(toy, dt.date(2021, 3, 2), llm=0.20, mf_same=0.10, users=10)
    tonight = {"methods": {"llm": {"ndcg@10": 0.2, "users": 5, "base_on_same_users": {"ndcg@10": 0.1}}}}
    few = choose(dt.date(2021, 3, 3), tonight=tonight)
    assert few["method"] == "mf" and "on 45 users" in few["why"]  # 30 + 10 + 5: a lead on too few to switch
    tonight["methods"]["llm"]["users"] = 10
    ahead = choose(dt.date(2021, 3, 3), tonight=tonight)
    assert ahead["method"] == "llm" and ahead["fallback"] == "mf" and "beat mf's" in ahead["why"]
    assert ahead["evidence"]["llm"]["mean_gain"] == pytest.approx((-0.05 + 0.1 + 0.1) / 3, abs=1e-6)

    pinned = JobContext(toy.settings.model_copy(update={"serve_method": "mf"}))
    assert prospective.choose_served(pinned, "toy", dt.date(2021, 3, 3), tonight={}, published=["mf", "llm"],
                                     base="mf")["method"] == "mf"  # fmt: skip
    missing = JobContext(toy.settings.model_copy(update={"serve_method": "lightgcn"}))
    fallback = prospective.choose_served(missing, "toy", dt.date(2021, 3, 3), tonight={}, published=["mf"], base="mf")
    assert fallback["method"] == "mf" and "publishes no 'lightgcn'" in fallback["why"]


def test_the_serving_view_serves_the_chosen_method_with_the_base_for_other_users(
    toy: JobContext, settings: Settings, tiny_model: Path
) -> None:
    ctx = _llm(toy, settings, tiny_model, serve_method="llm")
    night = refresh.run(ctx, "toy", WITH_RERANK, NIGHT1)
    assert night["serving"]["method"] == "llm"
    served = rows(ctx, "select user_id, method, served_method, rank from serving_recommendations "
                       "where dataset = 'toy'")  # fmt: skip
    by_user: dict[str, set[str]] = {}
    for r in served:
        by_user.setdefault(r["user_id"], set()).add(r["method"])
    assert len(by_user) == 60 and all(len(m) == 1 for m in by_user.values())  # one list per user
    assert sum(m == {"llm"} for m in by_user.values()) == 8  # the reranked users; the others get mf
    assert {r["served_method"] for r in served} == {"llm"}
    auto = refresh.run(_llm(toy, settings, tiny_model), "toy", WITH_RERANK, NIGHT2)
    assert auto["serving"]["method"] in ("mf", "llm") and auto["serving"]["setting"] == "auto"


def test_a_future_as_of_is_refused_unless_allowed(toy: JobContext) -> None:
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    with pytest.raises(ColrecError, match="after today"):
        refresh.run(toy, "toy", CF, tomorrow)
    assert rows(toy, "select count(*) as n from runs where job = 'refresh'")[0]["n"] == 0
    refused = run_cli("refresh", "-d", "toy", "--as-of", "2100-01-01", "--steps", "split,train",
                      env=cli_env(toy))  # fmt: skip
    assert refused.returncode == 1 and "after today" in refused.stderr and "--allow-future" in refused.stderr
    assert refresh.run(toy, "toy", CF, tomorrow, allow_future=True)["status"] == "published"

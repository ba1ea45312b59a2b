"""`retrieve --method score` then `score --method score` end to end on a small slice with tiny
models: evidence rows, determinism under a seed, the reader view, and the SCORE prompt's scores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from colrec.errors import ColrecError
from colrec.llm.engine import resolve_dtype
from colrec.retrieval.car import CarConfig
from colrec.retrieval.sare import SareConfig
from colrec_store.config import Settings
from jobs import evaluate, ingest, refresh, retrieve, score, train
from jobs.common.context import JobContext
from jobs.common.pairs import pair_targets
from jobs.common.recipe_data import yesno_prompts
from jobs.common.windows import load_window, split_params
from tests.helpers import CSV_MAPPING, community_events, rows

CONFIG = retrieve.RetrieveConfig(
    ke=6, ks=2, assess_users=8, car=CarConfig(kc=3, max_seq_length=64), sare=SareConfig(threshold=3, negatives=2)
)
EVIDENCE = (
    "select stage, user_id, coalesce(item_id, 0) as item_id, rank, entity_id, round(score::numeric, 5) as score "
    "from evidence where run_id = :r order by 1, 2, 3, 4"
)


@pytest.fixture
def score_ctx(settings: Settings, tiny_model: Path, tiny_encoder: Path) -> JobContext:
    return JobContext(settings.model_copy(update={
        "llm_backend": "transformers", "llm_model": str(tiny_model),
        "retriever_model": str(tiny_encoder), "reranker_model": str(tiny_encoder),
    }))  # fmt: skip


def _dataset(ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(ctx, [community_events(tmp_path / "e.csv", users=40, per_user=20)], dataset="d", fmt="csv",
               mapping=CSV_MAPPING)  # fmt: skip
    train.run(ctx, "d", "sasrec", "random", epochs=2)


def test_evidence_then_score(score_ctx: JobContext, tmp_path: Path) -> None:
    _dataset(score_ctx, tmp_path)
    first = retrieve.run(score_ctx, "d", "random", limit=30, config=CONFIG)
    assert first["pairs"] == 30 and first["assessed_users"] == 8 and first["llm_calls"] == 8
    assert first["car_loss_after"] < first["car_loss_before"]
    assert first["rerank_dtype"] == resolve_dtype(score_ctx.settings.llm_dtype)  # bf16 where the CPU has it
    stored = rows(score_ctx, "select status, params from runs where id = :r", r=first["run_id"])[0]
    assert stored["status"] == "published" and stored["params"]["method"] == "score"

    evidence = rows(score_ctx, EVIDENCE, r=first["run_id"])
    retrieved = [e for e in evidence if e["stage"] == "retrieved"]
    selected = [e for e in evidence if e["stage"] == "selected"]
    assert retrieved and selected and len(evidence) == first["evidence_rows"]
    assert all(e["entity_id"] != e["user_id"] for e in evidence)  # nobody is their own collaborator
    per_pair: dict[tuple[int, int], list[int]] = {}
    for e in selected:
        per_pair.setdefault((e["user_id"], e["item_id"]), []).append(e["entity_id"])
    candidates = {(e["user_id"], e["entity_id"]) for e in retrieved}
    assert all(len(v) == 2 and all((u, c) in candidates for c in v) for (u, _), v in per_pair.items())
    assert max(e["rank"] for e in retrieved) == 6
    kinds = {r["kind"]: r["config"] for r in rows(score_ctx, "select kind, config from models where run_id = :r",
                                                    r=first["run_id"])}  # fmt: skip
    assert set(kinds) == {"car", "sare"} and kinds["sare"]["temperature"] == 0.02
    assert rows(score_ctx, "select count(*) as n from assessments where run_id = :r", r=first["run_id"])[0]["n"] == 8
    view = rows(score_ctx, "select count(*) as n from latest_evidence where dataset = 'd' and method = 'score'")
    assert view[0]["n"] == len(evidence)

    again = retrieve.run(score_ctx, "d", "random", limit=30, config=CONFIG)
    assert again["llm_calls"] == 0  # the assessments come from the cache
    assert rows(score_ctx, EVIDENCE, r=again["run_id"]) == evidence  # same seed, same evidence

    scored = score.run(score_ctx, "d", "random", method="score", limit=30)
    params = rows(score_ctx, "select params from runs where id = :r", r=scored["run_id"])[0]["params"]
    assert params["evidence_run"] == again["run_id"] and params["with_evidence"] == len(per_pair)
    assert scored["pairs"] == 30 and scored["llm_calls"] == 30
    assert evaluate.run(score_ctx, "d", "score", "random")["test_pairs"] == 30


def test_score_method_needs_evidence(score_ctx: JobContext, tmp_path: Path) -> None:
    _dataset(score_ctx, tmp_path)
    with pytest.raises(ColrecError, match="retrieve --method score"):
        score.run(score_ctx, "d", "random", method="score", limit=5)
    with pytest.raises(ColrecError, match="unknown retrieval method"):
        retrieve.run(score_ctx, "d", "random", method="coral")


def test_a_refresh_with_the_retrieve_step_scores_with_its_evidence(score_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(score_ctx, [community_events(tmp_path / "e.csv", users=40, per_user=20)], dataset="d", fmt="csv",
               mapping=CSV_MAPPING)  # fmt: skip
    plan = refresh.RefreshPlan(methods=("sasrec",), epochs=2, score_limit=20,
                               steps=("split", "train", "retrieve", "score", "evaluate"))  # fmt: skip
    done = refresh.run(score_ctx, "d", plan, dt.date(2022, 1, 1))
    assert done["status"] == "published" and done["score"]["method"] == "score" and done["score"]["pairs"] == 20
    assert done["retrieve"]["pairs"] == 20 and "auc" in done["metrics"]["score"]
    steps = rows(score_ctx, "select id, job, status, params from runs where parent_run_id = :p", p=done["run_id"])
    by_job = {s["job"]: s for s in steps}
    assert {s["status"] for s in steps} == {"published"}
    assert by_job["evidence"]["params"]["cf_run"] == by_job["train"]["id"]  # this refresh's model, not another
    assert by_job["score"]["params"]["evidence_run"] == by_job["evidence"]["id"]
    shown = rows(score_ctx, "select count(*) as n from latest_evidence where dataset = 'd'")[0]["n"]
    assert shown > 0


def test_train_and_test_evidence_stand_side_by_side(score_ctx: JobContext, tmp_path: Path) -> None:
    """Each reader takes the newest evidence run made for its own pairs, not just the newest run."""
    _dataset(score_ctx, tmp_path)
    first_train = retrieve.run(score_ctx, "d", "random", parts=("train",), limit=12, config=CONFIG)["run_id"]
    test = retrieve.run(score_ctx, "d", "random", limit=20, config=CONFIG)["run_id"]
    window = load_window(score_ctx, "d", "random")
    params: dict[str, Any] = {"prompt": "score", "limit": 12, **split_params("random", None, 0)}
    yesno_prompts(score_ctx, window, pair_targets(window, ("train",), 12, 0), "random", 10, None, params)
    assert params["evidence_run"] == first_train and params["with_evidence"] > 0  # not the newer test run

    retrieve.run(score_ctx, "d", "random", parts=("train",), limit=12, config=CONFIG)  # now the newest
    scored = score.run(score_ctx, "d", "random", method="score", limit=20)
    used = rows(score_ctx, "select params from runs where id = :r", r=scored["run_id"])[0]["params"]
    assert used["evidence_run"] == test


def test_a_run_can_reuse_an_earlier_runs_car_and_sare(score_ctx: JobContext, tmp_path: Path) -> None:
    """--models-run: the same models give the same evidence, without training or self-assessing again,
    and the run keeps its own copy of them; a run made under other settings is refused."""
    _dataset(score_ctx, tmp_path)
    first = retrieve.run(score_ctx, "d", "random", parts=("train",), limit=12, config=CONFIG)
    again = retrieve.run(score_ctx, "d", "random", parts=("train",), limit=12, config=CONFIG,
                         models_run=first["run_id"])  # fmt: skip
    assert again.get("llm_calls", 0) == 0 and "assessed_users" not in again and "sare" not in again["timings"]
    assert rows(score_ctx, EVIDENCE, r=again["run_id"]) == rows(score_ctx, EVIDENCE, r=first["run_id"])
    paths = rows(score_ctx, "select kind, path from models where run_id = :r order by kind", r=again["run_id"])
    assert [p["kind"] for p in paths] == ["car", "sare"]
    assert all(Path(p["path"]).is_dir() and f"/runs/{again['run_id']}/" in p["path"] for p in paths)
    test = retrieve.run(score_ctx, "d", "random", limit=20, config=CONFIG, models_run=first["run_id"])
    assert test["pairs"] == 20 and test["pairs_with_evidence"] > 0

    other = retrieve.RetrieveConfig(**{**CONFIG.__dict__, "ke": 4})
    with pytest.raises(ColrecError, match=r"another ke 6 \(here 4\)"):
        retrieve.run(score_ctx, "d", "random", limit=20, config=other, models_run=first["run_id"])
    with pytest.raises(ColrecError, match="another seed"):
        retrieve.run(score_ctx, "d", "random", limit=20, config=CONFIG, seed=3, models_run=first["run_id"])

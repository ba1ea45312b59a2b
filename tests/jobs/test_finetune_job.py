"""`finetune --recipe yesno` end to end on a tiny model: the adapter changes, is recorded and
served by `score --adapter-run`, training data stops at the split's cut, and a rerun resumes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from safetensors.torch import load_file

from colrec.errors import ColrecError
from colrec.finetune.grpo import GrpoSettings
from colrec.finetune.reclm import ReclmConfig
from colrec.finetune.sft import SftSettings
from colrec.finetune.twice import TwiceConfig
from colrec.finetune.yesno import YesNoConfig
from colrec_store.config import Settings
from jobs import evaluate, finetune, ingest, profile, rationale, refresh, score, train
from jobs.common.context import JobContext
from jobs.common.pairs import pair_targets
from jobs.common.recipe_data import twice_data, yesno_prompts
from jobs.common.windows import load_window
from jobs.methods import tuned
from tests.helpers import CSV_MAPPING, rows

CONFIG = YesNoConfig(max_steps=3, batch_size=4, save_steps=1, lr=1e-3, max_length=256)


@pytest.fixture
def tune_ctx(settings: Settings, tiny_model: Path) -> JobContext:
    return JobContext(settings.model_copy(update={"llm_backend": "transformers", "llm_model": str(tiny_model)}))


def _events(path: Path) -> Path:
    """Two years of events; items 30+ (titled "Late film") appear only in the last four months (test)."""
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    lines = ["user,item,rating,ts,title"]
    for k in range(400):
        day = (k * 37) % 720
        item = (k * 7) % 30 if day < 600 else 30 + k % 10
        title = f"Late film {item}" if item >= 30 else f"Film {item}"
        when = start + dt.timedelta(days=day, seconds=k)
        lines.append(f"u{k % 20},i{item},{5 if (k + item) % 3 else 1},{int(when.timestamp())},{title}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _scores_differing(ctx: JobContext, a: int, b: int) -> int:
    """How many pairs two score runs scored differently."""
    return rows(
        ctx,
        "select count(*) as n from predictions a join predictions b using (user_id, item_id) "
        "where a.run_id = :a and b.run_id = :b and abs(a.score - b.score) > 1e-6",
        a=a, b=b,
    )[0]["n"]  # fmt: skip


def test_yesno_adapter_trains_resumes_and_serves(tune_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(tune_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    window = load_window(tune_ctx, "d", "temporal")
    pairs = pair_targets(window, ("train",), None, 0)
    params = {"prompt": "llm"}
    prompts = yesno_prompts(tune_ctx, window, pairs, "temporal", 10, None, params)
    text = " ".join(m["content"] for messages in prompts for m in messages)
    assert "Film" in text and "Late film" not in text  # nothing after the train cut

    first = finetune.run(tune_ctx, "d", "temporal", config=CONFIG)
    assert first["steps"] == 3 and first["loss_first"] is not None and first["resumed_from"] is None
    weights = load_file(str(Path(first["adapter"]) / "adapter_model.safetensors"))
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and any(float(w.abs().sum()) > 0 for w in lora_b)  # B starts at zero: training moved it
    model = rows(tune_ctx, "select kind, config from models where run_id = :r", r=first["run_id"])[0]
    assert model["kind"] == "lora-adapter" and model["config"]["config"]["lora"]["r"] == 8
    assert model["config"]["window"]["pairs"] == pairs.height

    again = finetune.run(tune_ctx, "d", "temporal", config=CONFIG)
    assert again["resumed_from"] and again["resumed_from"].endswith("checkpoint-3")

    base = score.run(tune_ctx, "d", "temporal", limit=20)
    tuned = score.run(tune_ctx, "d", "temporal", limit=20, adapter_run=first["run_id"])
    assert tuned["llm_calls"] == 20  # another cache key: the adapter is part of it
    assert _scores_differing(tune_ctx, base["run_id"], tuned["run_id"]) > 0
    assert evaluate.run(tune_ctx, "d", "llm-lora", "temporal")["score_run"] == tuned["run_id"]


def test_twice_sft_then_grpo(tune_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(tune_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    train.run(tune_ctx, "d", "sasrec", "temporal", epochs=1)
    config = TwiceConfig(
        sft=SftSettings(max_steps=2, batch_size=4, lr=1e-3, max_length=256, save_steps=1),
        grpo=GrpoSettings(
            max_steps=2, lr=1e-3, prompts_per_step=1, num_generations=2, max_completion_length=8, save_steps=1
        ),
    )
    rationale.run(tune_ctx, "d", limit=6)  # from every event: not this split's, so not used
    assert twice_data(tune_ctx, load_window(tune_ctx, "d", "temporal"), 10, 6, 0).counts["reasoning"] == 0
    made = rationale.run(tune_ctx, "d", split="temporal", limit=6)
    data = twice_data(tune_ctx, load_window(tune_ctx, "d", "temporal"), 10, 6, 0)
    explained = rows(tune_ctx, "select user_id, item_id, kept and not failed as kept from rationales where run_id = :r",
                     r=made["run_id"])  # fmt: skip
    titles = {r["item_id"]: r["title"] for r in rows(tune_ctx, "select id as item_id, title from items")}
    targets = sorted(zip(data.rl_users, data.rl_targets, strict=True))
    assert sorted((r["user_id"], titles[r["item_id"]]) for r in explained) == targets  # the same users and items
    assert data.counts["reasoning"] == sum(r["kept"] for r in explained)
    assert not any(t.startswith("Late film") for _, t in targets)  # nothing after the train cut
    result = finetune.run(tune_ctx, "d", "temporal", recipe="twice", limit=6, config=config)
    assert result["sft_steps"] == 2 and result["grpo_steps"] == 2 and result["grpo_reward_first"] is not None
    weights = load_file(str(Path(result["adapter"]) / "adapter_model.safetensors"))
    assert any(float(w.abs().sum()) > 0 for name, w in weights.items() if "lora_B" in name)  # B starts at zero
    # A random tiny model writes no tags, so every reward here is 0 and GRPO's advantages vanish;
    # tests/colrec/finetune/test_grpo.py shows the same runner moving the adapter on a varying reward.
    params = rows(tune_ctx, "select params from runs where id = :r", r=result["run_id"])[0]["params"]
    assert params["window"]["users"] == 6 and params["cf_run"]


def test_reclm_sft_reward_model_then_rl(tune_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(tune_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    train.run(tune_ctx, "d", "sasrec", "temporal", epochs=1)
    with pytest.raises(ColrecError, match="colrec-jobs profile"):
        finetune.run(tune_ctx, "d", "temporal", recipe="reclm")
    profile.run(tune_ctx, "d", items=False)  # from every event: would leak the test months
    with pytest.raises(ColrecError, match="profile --split temporal"):
        finetune.run(tune_ctx, "d", "temporal", recipe="reclm")
    profile.run(tune_ctx, "d", items=False, split="temporal")
    small = SftSettings(max_steps=2, batch_size=2, lr=1e-3, max_length=4000, save_steps=1)
    config = ReclmConfig(sft=small, reward=small, grpo=GrpoSettings(max_steps=1, prompts_per_step=1,
                                                                    num_generations=2, max_completion_length=8))  # fmt: skip
    result = finetune.run(tune_ctx, "d", "temporal", recipe="reclm", limit=4, config=config)
    assert result["sft_steps"] == 2 and result["reward_steps"] == 2 and result["grpo_steps"] == 1
    adapter = Path(result["adapter"])
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert any(float(w.abs().sum()) > 0 for name, w in weights.items() if "lora_B" in name)
    assert (adapter.with_name("reward-model") / "config.json").exists()
    params = rows(tune_ctx, "select params from runs where id = :r", r=result["run_id"])[0]["params"]
    assert params["window"]["users"] == 4 and params["window"]["preference_pairs"] >= 4


def test_unknown_recipe(tune_ctx: JobContext) -> None:
    with pytest.raises(ColrecError, match="unknown recipe"):
        finetune.run(tune_ctx, "d", "temporal", recipe="nope")


def test_full_finetune_is_recorded_and_served_as_a_model(tune_ctx: JobContext, tmp_path: Path) -> None:
    ingest.run(tune_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    config = YesNoConfig(max_steps=2, batch_size=4, save_steps=1, lr=1e-3, max_length=256, tuning="full", bf16=None)
    tuned_run = finetune.run(tune_ctx, "d", "temporal", config=config)
    model = rows(tune_ctx, "select kind, path, config from models where run_id = :r", r=tuned_run["run_id"])[0]
    assert model["kind"] == "finetuned-llm" and model["config"]["config"]["tuning"] == "full"
    assert isinstance(model["config"]["config"]["bf16"], bool)  # "where the hardware has it", made concrete
    assert (Path(model["path"]) / "config.json").exists() and (Path(model["path"]) / "tokenizer_config.json").exists()
    base = score.run(tune_ctx, "d", "temporal", limit=20)
    tuned = score.run(tune_ctx, "d", "temporal", limit=20, adapter_run=tuned_run["run_id"])
    assert tuned["llm_calls"] == 20  # its own name in the cache
    assert _scores_differing(tune_ctx, base["run_id"], tuned["run_id"]) > 0
    assert evaluate.run(tune_ctx, "d", "llm-full", "temporal")["score_run"] == tuned["run_id"]
    with pytest.raises(ColrecError, match="full fine-tuning runs packed only"):
        finetune.run(tune_ctx, "d", "temporal", config=YesNoConfig(tuning="full", packed=False))


def test_the_nightly_llm_steps_serve_the_newest_tuned_model_that_saw_nothing_held_out(
    tune_ctx: JobContext, tmp_path: Path
) -> None:
    ingest.run(tune_ctx, [_events(tmp_path / "e.csv")], dataset="d", fmt="csv", mapping=CSV_MAPPING)
    tuned = finetune.run(tune_ctx, "d", "temporal", config=CONFIG)
    # newer, but its train part spans every month (and its histories are longer)
    leaky = finetune.run(tune_ctx, "d", "random", config=dataclasses.replace(CONFIG, max_length=1024))
    plan = refresh.RefreshPlan(methods=("mf",), split="temporal", epochs=1, rerank_users=3, rerank_candidates=4,
                               score_limit=10, steps=("split", "train", "recommend", "rerank", "score"))  # fmt: skip
    night = refresh.run(tune_ctx, "d", plan, dt.date(2022, 1, 1))
    assert night["tuned"] == {"llm": tuned["run_id"]}
    assert night["score"]["method"] == "llm-lora" and night["score"]["adapter_run"] == tuned["run_id"]
    reranked = rows(tune_ctx, "select params from runs where parent_run_id = :p and job = 'recommend' "
                    "and params->>'method' = 'llm'", p=night["run_id"])  # fmt: skip
    assert reranked[0]["params"]["adapter_run"] == tuned["run_id"]

    base = refresh.run(tune_ctx, "d", dataclasses.replace(plan, tuned=False), dt.date(2022, 1, 1))
    assert base["tuned"] == {"llm": None} and base["score"]["method"] == "llm"
    with pytest.raises(ColrecError, match="held-out part of split 'temporal'"):
        refresh.run(tune_ctx, "d", dataclasses.replace(plan, adapter_run=leaky["run_id"]), dt.date(2022, 1, 1))


def test_a_tuned_model_fits_a_held_out_part_it_never_trained_on() -> None:
    split = {"split": "temporal", "as_of": "2022-01-01", "seed": 0}
    held_out = tuned.HeldOut(split, dt.datetime(2021, 6, 1, tzinfo=dt.UTC))
    assert held_out.unseen_by({**split, "window": {"last_ts": "2099-01-01 00:00:00"}})  # the same split: its train part
    other = {**split, "as_of": None}
    assert held_out.unseen_by({**other, "window": {"last_ts": "2021-05-31 23:59:59"}})
    assert not held_out.unseen_by({**other, "window": {"last_ts": "2021-06-01 00:00:00+00:00"}})
    assert not held_out.unseen_by(other)  # no recorded window: not known to be unseen

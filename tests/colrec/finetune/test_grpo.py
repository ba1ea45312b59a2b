"""The GRPO runner refines an existing LoRA adapter when the rewards within a group differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from colrec.finetune import grpo, twice
from colrec.finetune.sft import SftSettings, train_sft
from tests.tiny_llm import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-grpo") / "tiny", fluent=True)


def _longer_is_better(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
    return [float(len(c[-1]["content"])) for c in completions]


def test_grpo_moves_the_sft_adapter(tiny: Path, tmp_path: Path) -> None:
    prompt = [{"role": "user", "content": "The user has highly rated movies. Next item?"}]
    examples = [(prompt, "<item>Alpha</item>")] * 4
    sft = train_sft(tiny, twice.sft_dataset(examples), SftSettings(max_steps=1, batch_size=2, max_length=128),
                    tmp_path / "sft", tmp_path / "ck-sft", "sft")  # fmt: skip
    assert sft["steps"] == 1
    dataset = twice.rl_dataset([prompt] * 4, [1, 2, 3, 4], ["Alpha"] * 4)
    settings = grpo.GrpoSettings(
        max_steps=2, lr=1e-2, prompts_per_step=1, num_generations=4, max_completion_length=6, temperature=50.0
    )  # the tiny model is near-deterministic: spread the samples out
    result = grpo.train_grpo(grpo.load_policy(tiny, tmp_path / "sft"), dataset, [_longer_is_better], settings,
                             tmp_path / "rl", tmp_path / "ck-rl", "grpo")  # fmt: skip
    assert result["steps"] == 2, result
    before = load_file(str(tmp_path / "sft" / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "rl" / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert any(float((after[k] - before[k]).abs().sum()) > 0 for k in after)

"""Both back ends on the same tiny random model: the same Yes/No probabilities (float32), and the
transformers back end's batching, padding and seeded generation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from colrec.errors import ColrecError
from colrec.llm import prompts as p
from colrec.llm.backends import open_engine
from colrec.llm.engine import Engine, GenerationParams, answer_token_ids


def _prompts(engine: Engine) -> list[str]:
    titles = ["Alpha", "Beta Gamma", "Delta", "Alpha Beta Gamma Delta movie", "user liked"]
    shared = [f"movie {i}" for i in range(30)]  # a long shared head, as one user's prompts have
    return [engine.render(p.score_basic(shared + [t] * (i + 1), t)) for i, t in enumerate(titles)] + [
        engine.render(p.tallrec_yes_no(p.History(["A"] * i, ["B"]), "C")) for i in range(1, 6)
    ]


@pytest.fixture(scope="module")
def hf(tiny_model: Path) -> Engine:
    return open_engine("transformers", tiny_model, batch_size=3)


@pytest.fixture(scope="module")
def vllm(tiny_model: Path) -> Iterator[Engine]:
    engine = open_engine("vllm", tiny_model, memory_share=0.1, max_model_len=1024, enforce_eager=True)
    yield engine
    engine.close()


def test_vllm_and_transformers_agree_on_yes_no(hf: Engine, vllm: Engine) -> None:
    prompts = _prompts(hf)
    ours, theirs = hf.score_yes_no(prompts), vllm.score_yes_no(prompts)
    assert np.ptp(ours) > 0.01  # the probabilities differ between prompts, so the check means something
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_vllm_generates_in_order(vllm: Engine, hf: Engine) -> None:
    prompts = _prompts(hf)[:3]
    greedy = GenerationParams(max_tokens=5)
    first = vllm.generate(prompts, greedy)
    assert len(first) == 3 and first == vllm.generate(prompts, greedy)
    assert vllm.generate(prompts[::-1], greedy) == first[::-1]


def test_batching_and_padding_do_not_change_scores(hf: Engine, tiny_model: Path) -> None:
    prompts = _prompts(hf)
    one_by_one = open_engine("transformers", tiny_model, batch_size=1).score_yes_no(prompts)
    np.testing.assert_allclose(hf.score_yes_no(prompts), one_by_one, atol=1e-5)


def test_seeded_sampling_is_reproducible(hf: Engine) -> None:
    prompts = _prompts(hf)[:2]
    params = GenerationParams(max_tokens=8, temperature=1.0, seed=5)
    assert hf.generate(prompts, params) == hf.generate(prompts, params)
    assert hf.generate(prompts, GenerationParams(max_tokens=3, stop=("Yes",))) is not None


def test_answer_tokens_come_from_the_tokenizer(tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    yes, no = answer_token_ids(tiny_tokenizer)
    assert tiny_tokenizer.decode([yes]) == "Yes" and tiny_tokenizer.decode([no]) == "No"

    class Splitting:
        def encode(self, word: str, add_special_tokens: bool = False) -> list[int]:
            return [1, 2] if word == "Yes" else [3]

    with pytest.raises(ColrecError, match="splits 'Yes' into 2 tokens"):
        answer_token_ids(Splitting())

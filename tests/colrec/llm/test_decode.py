"""The transformers back end's own generation loop (colrec.llm.decode) against transformers'
`generate` on a tiny random model with grouped-query attention: the same greedy tokens, with and
without the repetition penalty, whatever the batch, the padding and the rows that finish early."""

from __future__ import annotations

import pytest
import torch

from colrec.llm import attention
from colrec.llm.decode import BatchDecoder
from colrec.llm.engine import GenerationParams
from colrec.llm.hf_backend import TransformersEngine
from tests.tiny_llm import build_tiny_model


@pytest.fixture(scope="module")
def gqa_engine(tmp_path_factory: pytest.TempPathFactory) -> TransformersEngine:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny-decode") / "m", seed=4, heads=4, kv_heads=2, layers=3)
    return TransformersEngine(path, generate_batch=3)


def _prompts(engine: TransformersEngine) -> list[list[int]]:
    words = "Alpha Beta Gamma Delta movie item user liked disliked profile history think".split()
    texts = [" ".join(words[: 2 + (3 * i) % 11]) * (1 + i % 3) for i in range(7)]  # lengths from 2 to 40 words
    return engine.tokenizer([engine.render([{"role": "user", "content": t}]) for t in texts],
                            add_special_tokens=False)["input_ids"]  # fmt: skip


def _reference(engine: TransformersEngine, prompt: list[int], params: GenerationParams) -> list[int]:
    """transformers' own greedy generate, one prompt alone (no padding to disagree about)."""
    out = engine.base.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                               max_new_tokens=params.max_tokens, do_sample=False,
                               repetition_penalty=params.repetition_penalty,
                               pad_token_id=engine.tokenizer.pad_token_id)  # fmt: skip
    return [t for t in out[0, len(prompt) :].tolist() if t not in (engine.tokenizer.eos_token_id,)]


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_tokens_equal_transformers_generate(gqa_engine: TransformersEngine, penalty: float) -> None:
    prompts = _prompts(gqa_engine)
    params = GenerationParams(max_tokens=12, repetition_penalty=penalty)
    decoder = BatchDecoder(gqa_engine.base, gqa_engine.tokenizer, batch_size=3, prefill_tokens=64)
    ours = decoder.generate(prompts, params)
    assert ours == [_reference(gqa_engine, p, params) for p in prompts]
    assert len({tuple(t) for t in ours}) > 1 and all(ours)  # not one answer for every prompt
    assert decoder.stats.per_batch == [3, 3, 1] and decoder.stats.steps > 0


def test_rows_that_end_early_leave_the_batch_without_changing_the_others(gqa_engine: TransformersEngine) -> None:
    prompts = _prompts(gqa_engine)
    tokenizer = gqa_engine.tokenizer
    alone = [BatchDecoder(gqa_engine.base, tokenizer, batch_size=1).generate([p], GenerationParams(max_tokens=10))[0]
             for p in prompts]  # fmt: skip
    # A stop string taken from one row's own output ends that row after a few tokens.
    stop = tokenizer.decode(alone[0][2:4])
    params = GenerationParams(max_tokens=10, stop=(stop,))
    decoder = BatchDecoder(gqa_engine.base, tokenizer, batch_size=len(prompts))
    together = decoder.generate(prompts, params)
    assert decoder.stats.row_steps < len(prompts) * decoder.stats.steps  # finished rows were dropped
    for got, full in zip(together, alone, strict=True):
        text = tokenizer.decode(full)
        if stop in text:
            assert stop in tokenizer.decode(got) and len(got) <= len(full)
            assert got == full[: len(got)]
        else:
            assert got == full


def test_the_engine_cuts_text_at_the_stop_string_and_samples_reproducibly(gqa_engine: TransformersEngine) -> None:
    texts = [gqa_engine.render([{"role": "user", "content": "Alpha Beta " * k}]) for k in (1, 4, 9)]
    free = gqa_engine.generate(texts, GenerationParams(max_tokens=8))
    stop = free[1][3:5]
    cut = gqa_engine.generate(texts, GenerationParams(max_tokens=8, stop=(stop,)))
    assert cut[1] == free[1][: free[1].index(stop)]
    sampled = GenerationParams(max_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    assert gqa_engine.generate(texts, sampled) == gqa_engine.generate(texts, sampled)


def test_gqa_attention_equals_repeated_heads() -> None:
    """colrec_sdpa's masked path reads each key/value head for its query heads without copying."""
    from transformers.integrations.sdpa_attention import repeat_kv

    class Module:
        num_key_value_groups, is_causal = 3, True

    torch.manual_seed(0)
    query, key, value = torch.randn(2, 6, 5, 8), torch.randn(2, 2, 9, 8), torch.randn(2, 2, 9, 8)
    mask = torch.rand(2, 1, 5, 9) > 0.3
    mask[..., 0] = True
    ours, _ = attention.gqa_sdpa(Module(), query, key, value, mask)
    theirs = torch.nn.functional.scaled_dot_product_attention(query, repeat_kv(key, 3), repeat_kv(value, 3),
                                                              attn_mask=mask).transpose(1, 2)  # fmt: skip
    torch.testing.assert_close(ours, theirs)


def test_repetition_penalty_is_part_of_the_cache_key_only_when_set() -> None:
    assert GenerationParams(max_tokens=160).key() == GenerationParams(max_tokens=160, repetition_penalty=1.0).key()
    assert GenerationParams(max_tokens=160).key() != GenerationParams(max_tokens=160, repetition_penalty=1.15).key()
    # the key of a profile request made before the field existed (cache rows made then stay valid)
    assert GenerationParams(max_tokens=160).key() == "0b1e11f8c6eaaff363fbc15c26a492b07cf4fcd4c0088523c9db2264ab052e94"

"""Shared-prefix packing gives each prompt the P(Yes) it gets alone: grouping, the mask, and the
transformers engine on tiny random models (several heads, grouped-query attention)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from colrec.llm.hf_backend import TransformersEngine
from colrec.llm.prefix import allowed, first_fit, group_by_prefix, pack_rows, packed_tokens
from colrec.llm.prefix_tree import build_tree, lay_out_subtree, tree_tokens
from tests.tiny_llm import build_tiny_model


def test_groups_share_the_longest_prefixes_and_keep_a_last_token_each() -> None:
    a = [1, 2, 3, 4, 5, 6, 7]
    prompts = [[*a, 8], [*a, 9, 10], a, [1, 2, 3, 11], [20, 21], [1, 2, 3, 4, 5, 6, 7, 8]]
    groups = group_by_prefix(prompts)
    members = sorted(i for g in groups for i in g.members)
    assert members == list(range(len(prompts)))  # every prompt once
    for g in groups:
        for i, suffix in zip(g.members, g.suffixes, strict=True):
            assert g.prefix + suffix == prompts[i] and len(suffix) >= 1
    by_member = {i: g for g in groups for i in g.members}
    assert by_member[0] is by_member[1] and len(by_member[0].prefix) >= 6  # not cut down to [1, 2, 3]
    assert by_member[4].members == [4]  # shares nothing: a group of one
    assert packed_tokens(prompts) < sum(map(len, prompts))


def test_rows_respect_their_budget_and_positions_continue_after_the_prefix() -> None:
    prompts = [[1] * 30 + [k, k + 1] for k in range(2, 40, 2)] + [[5] * 50]
    rows = pack_rows(group_by_prefix(prompts, max_group_tokens=64), max_row_tokens=64)
    assert all(len(r) <= 64 for r in rows)
    for row in rows:
        for member, start, end in row.spans:
            prefix_len = row.positions[start]
            assert row.positions[start:end] == list(range(prefix_len, prefix_len + end - start))
            assert row.reach[start:end] == [end] * (end - start)  # a suffix is seen by itself only
            assert row.ids[end - 1] == prompts[member][-1]


@pytest.fixture(scope="module")
def gqa_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gqa") / "m", seed=3, heads=4, kv_heads=2, layers=3)


def _prompts() -> list[str]:
    head = "The user has highly rated the following movies: Alpha, Beta, Gamma, Delta. Whether the user will like"
    long_tail = " movie item user liked disliked profile history" * 6
    return [
        *(f"{head} the target item {w}? Answer Yes or No." for w in ("Alpha", "Beta Gamma", "Delta", "x")),
        f"{head}{long_tail}",  # a suffix longer than its prefix
        "Yes",  # one token
        "Similar users interacted with Alpha.",  # a group of one, odd length
        f"{head} the target item Alpha? Answer Yes or No.",  # a repeat of the first
        *(f"Respond with either Yes or No. {w} {w} think" for w in ("Alpha", "Beta", "Gamma")),
    ]


@pytest.mark.parametrize("row_tokens", [24, 1024])
def test_packed_scores_equal_each_prompt_alone(gqa_model: Path, row_tokens: int) -> None:
    engine = TransformersEngine(gqa_model, row_tokens=row_tokens)
    prompts = _prompts()
    packed = engine.score_yes_no(prompts)
    alone = np.array([engine.score_each([p])[0] for p in prompts])
    assert np.abs(packed - alone).max() <= 1e-5
    assert packed[0] == pytest.approx(packed[7], abs=1e-6) and np.ptp(packed) > 1e-3  # not a constant


def test_packing_computes_fewer_tokens_for_prompts_with_a_shared_head(gqa_model: Path) -> None:
    engine = TransformersEngine(gqa_model)
    head = "The user has highly rated the following movies: " + ", ".join(["Alpha Beta Gamma Delta"] * 10)
    prompts = [f"{head}. Whether the user will like item {k}? Answer Yes or No." for k in range(20)]
    engine.score_yes_no(prompts)
    packed = engine.tokens_computed
    ids = engine.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert packed < sum(map(len, ids)) / 4


def test_auto_dtype_is_bf16_only_where_the_cpu_computes_it() -> None:
    import torch

    from colrec.errors import ColrecError
    from colrec.llm.engine import resolve_dtype

    if torch.cuda.is_available():
        pytest.skip("a GPU always gets bf16")
    assert resolve_dtype("auto", "fpu sse avx2 avx512f avx512_bf16") == "bfloat16"
    assert resolve_dtype("auto", "fpu sse amx_bf16 amx_tile") == "bfloat16"
    assert resolve_dtype("auto", "fpu sse avx2 fma") == "float32"
    assert resolve_dtype("float32", "avx512_bf16") == "float32"
    with pytest.raises(ColrecError, match="COLREC_LLM_DTYPE"):
        resolve_dtype("fp8")


def test_tree_rows_show_every_token_exactly_its_own_prompt_before_it() -> None:
    """Random prompts with shared heads at several depths, duplicates, and prompts that are the
    head of others, in rows too small for some subtrees: at every token of every prompt, the
    visible tokens are that prompt's tokens before it, at positions 0, 1, ..."""
    rng = random.Random(0)
    for _ in range(200):
        base = [rng.randint(0, 3) for _ in range(rng.randint(1, 8))]
        prompts = []
        for _ in range(rng.randint(1, 12)):
            head = base[: rng.randint(0, len(base))]
            prompts.append(head + [rng.randint(0, 3) for _ in range(rng.randint(0 if head else 1, 6))])
        prompts.append(list(prompts[0]))
        budget = rng.choice([3, 5, 8, 1000])
        rows = first_fit(build_tree(prompts).children, lambda t: t.size, budget, lay_out_subtree)
        assert sorted(i for r in rows for i, _ in r.ends) == list(range(len(prompts)))
        for row in rows:
            sees = allowed([row], len(row))[0]
            for prompt, last in row.ends:
                chain = [u for u in range(len(row)) if sees[last, u]]
                assert [row.ids[u] for u in chain] == prompts[prompt]
                for depth, u in enumerate(chain):  # every token on the way sees its own head only
                    assert row.positions[u] == depth and list(np.flatnonzero(sees[u])) == chain[: depth + 1]


def test_the_tree_computes_each_distinct_position_once() -> None:
    prompts = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 6], [1, 2, 3, 4], [1, 2], [7]]
    distinct = {tuple(p[: k + 1]) for p in prompts for k in range(len(p))}
    assert tree_tokens(prompts) == len(distinct) == 7

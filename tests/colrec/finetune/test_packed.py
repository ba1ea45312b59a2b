"""Packed Yes/No training computes the loss of the pairs alone: the answer tokens' mean cross-entropy
over a packed batch equals that of every pair run on its own (tiny random model, grouped-query
attention), its gradients too, and the recipe trains, checkpoints and resumes packed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from colrec.finetune import packed
from colrec.finetune.yesno import YesNoConfig, answer, packed_rows, train_yesno
from tests.tiny_llm import build_tiny_model

HISTORY = "The user has highly rated the following movies: Alpha, Beta, Gamma, Delta."


@pytest.fixture(scope="module")
def gqa_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-train") / "m", seed=5, heads=4, kv_heads=2, layers=2)


def _examples() -> list[tuple[list[dict[str, str]], int]]:
    ask = "Whether the user will like the target item {}? Answer Yes or No."
    out = []
    for k, item in enumerate(("Alpha", "Beta Gamma", "Delta", "movie item", "x")):
        out.append(([{"role": "system", "content": "Respond with either Yes or No."},
                     {"role": "user", "content": f"{HISTORY} {ask.format(item)}"}], k % 2))  # fmt: skip
    out.append(([{"role": "user", "content": "Similar users interacted with Alpha."}], 1))  # shares little
    out.append(([{"role": "user", "content": f"{HISTORY} profile history think " * 4}], 0))  # a long suffix
    return out


def _alone_loss(model: torch.nn.Module, tokenised: list[packed.Tokenised]) -> torch.Tensor:
    """Each pair's own forward pass; the answer tokens' cross-entropy summed, over all their count."""
    total, count = torch.zeros(()), 0
    for t in tokenised:
        ids = torch.tensor([t.prompt + t.completion])
        logits = model(input_ids=ids).logits[0]
        start = len(t.prompt)
        predicted = logits[start - 1 : start - 1 + len(t.completion)]
        total = total + torch.nn.functional.cross_entropy(predicted, torch.tensor(t.completion), reduction="sum")
        count += len(t.completion)
    return total / count


def test_packed_loss_and_gradients_equal_each_pair_alone(gqa_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(gqa_model))
    examples = _examples()
    tokenised = packed.tokenise(tokenizer, [(m, answer(y)) for m, y in examples])
    first_tokens = [t.completion[0] for t in tokenised]
    assert first_tokens == [tokenizer.convert_tokens_to_ids(answer(y)) for _, y in examples]
    records = packed.pack(tokenised, row_tokens=96)  # small rows: several rows, padding in the batch
    assert len(records) > 1 and sum(r["pairs"][0] for r in records) == len(examples)
    assert packed.answer_tokens(records) == sum(len(t.completion) for t in tokenised)
    assert sum(len(r["input_ids"]) for r in records) < sum(len(t.prompt) + len(t.completion) for t in tokenised)

    model = AutoModelForCausalLM.from_pretrained(str(gqa_model), dtype=torch.float32)
    batch = packed.PackedCollator(tokenizer.pad_token_id, torch.float32)(records)
    packed_loss = model(**batch).loss
    packed_loss.backward()
    packed_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    alone = _alone_loss(model, tokenised)
    alone.backward()
    assert abs(float(packed_loss) - float(alone)) <= 1e-4
    worst = max(float((a - p.grad).abs().max()) for a, p in zip(packed_grads, model.parameters(), strict=True))
    assert worst <= 1e-4


@pytest.mark.parametrize("counted", [False, True])
def test_the_answer_only_head_gives_the_models_own_loss_and_gradients(gqa_model: Path, counted: bool) -> None:
    """packed.answer_loss reads the logits at the answer positions only; with the Trainer's count of
    answer tokens (gradient accumulation) or without, it is the loss the model computes from labels."""
    tokenizer = AutoTokenizer.from_pretrained(str(gqa_model))
    tokenised = packed.tokenise(tokenizer, [(m, answer(y)) for m, y in _examples()])
    batch = packed.PackedCollator(tokenizer.pad_token_id, torch.float32)(packed.pack(tokenised, row_tokens=96))
    model = AutoModelForCausalLM.from_pretrained(str(gqa_model), dtype=torch.float32)
    count = torch.tensor(packed.answer_tokens(packed.pack(tokenised, row_tokens=96))) if counted else None
    assert len(packed.answer_positions(batch["labels"])) < batch["labels"].shape[1] // 4
    reference = model(**batch, num_items_in_batch=count).loss if counted else model(**batch).loss
    reference.backward()
    reference_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss = packed.answer_loss(model, batch, count)
    loss.backward()
    assert abs(float(loss) - float(reference)) <= 1e-5
    worst = max(float((r - p.grad).abs().max()) for r, p in zip(reference_grads, model.parameters(), strict=True))
    assert worst <= 1e-5


def test_a_leaky_mask_would_change_the_loss(gqa_model: Path) -> None:
    """The check above can fail: with plain causal attention over the packed row, suffixes see each other."""
    tokenizer = AutoTokenizer.from_pretrained(str(gqa_model))
    tokenised = packed.tokenise(tokenizer, [(m, answer(y)) for m, y in _examples()[:5]])
    records = packed.pack(tokenised, row_tokens=1024)
    model = AutoModelForCausalLM.from_pretrained(str(gqa_model), dtype=torch.float32)
    batch = packed.PackedCollator(tokenizer.pad_token_id, torch.float32)(records)
    with torch.no_grad():
        leaky = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"]).loss
        alone = _alone_loss(model, tokenised)
    assert abs(float(leaky) - float(alone)) > 1e-3


def test_the_packed_recipe_trains_checkpoints_and_resumes(gqa_model: Path, tmp_path: Path) -> None:
    config = YesNoConfig(max_steps=2, batch_size=4, save_steps=1, lr=1e-3, max_length=80, row_tokens=128)
    examples = _examples() * 3
    tokenizer = AutoTokenizer.from_pretrained(str(gqa_model))
    _, too_long = packed_rows(tokenizer, examples, config)
    assert too_long == 3  # the long-suffix pair, over max_length, is left out (trl would cut its answer off)
    first = train_yesno(gqa_model, examples, config, tmp_path / "adapter", tmp_path / "ckpt")
    assert first["steps"] == 2 and first["too_long"] == 3 and first["loss_first"] is not None
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    again = train_yesno(gqa_model, examples, config, tmp_path / "adapter", tmp_path / "ckpt")
    assert again["resumed_from"].endswith("checkpoint-2")

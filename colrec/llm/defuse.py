"""Untrusted text against the serving model's own tokenizer: no substring of a title, description
or profile may reach the model as a special token.

`prompts.quote` defuses the markup it knows (ChatML, [INST], our <think>/<item> tags), but every
tokenizer has its own specials (SmolLM2's <file_sep> and <jupyter_code>, Gemma's <start_of_turn>,
DeepSeek's <｜begin▁of▁sentence｜>, ...), and a tokenizer turns any of them found in a prompt's text
into its special id. So the engine, just before the chat template, rewrites every occurrence of
one of *its* tokenizer's special or markup-like added tokens in the messages' content. Our own
instructions contain none of them (the tags our parsers read are left to `quote`), so only data
is ever changed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# The tags our instructions ask for and our parsers read: `quote` defuses them inside data.
OWN_TAGS = frozenset({"<think>", "</think>", "<item>", "</item>"})
_MARKUP = re.compile(r"[<\[].+[>\]]", re.DOTALL)  # an added token that looks like markup, special or not
_LOOKALIKE = {"<": "‹", ">": "›", "[": "(", "]": ")", "|": "¦"}
WORD_JOINER = "\u2060"  # invisible; splits a token with no lookalike for its first character


class Defuser:
    def __init__(self, tokenizer: Any) -> None:
        tokens = set(getattr(tokenizer, "all_special_tokens", ()))
        for added in getattr(tokenizer, "added_tokens_decoder", {}).values():
            if added.special or _MARKUP.fullmatch(added.content):
                tokens.add(added.content)
        self.tokens = tuple(sorted((t for t in tokens - OWN_TAGS if t.strip()), key=len, reverse=True))
        self._pattern = re.compile("|".join(map(re.escape, self.tokens))) if self.tokens else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        for _ in range(8):  # a rewrite could join its neighbours into another token: repeat until none
            text, changed = self._pattern.subn(_neutralise, text)
            if not changed:
                break
        return text

    def messages(self, messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        return [{**m, "content": self(m["content"])} for m in messages]


def _neutralise(match: re.Match[str]) -> str:
    token = match.group(0)
    first = token[0]
    if first in _LOOKALIKE:
        return _LOOKALIKE[first] + token[1:]
    return first + WORD_JOINER + token[1:]

"""Strict parsing of LLM output. A failure raises ParseError with the reason; jobs store the raw
text with the failure instead of guessing a value."""

from __future__ import annotations

import re
from collections import Counter


class ParseError(ValueError):
    pass


def tagged(text: str, tag: str) -> str:
    """The one non-empty <tag>...</tag> span of `text`."""
    spans = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    if len(spans) != 1:
        raise ParseError(f"expected exactly one <{tag}>...</{tag}>, found {len(spans)}")
    if not spans[0].strip():
        raise ParseError(f"<{tag}> is empty")
    return spans[0].strip()


def reasoned_item(text: str) -> tuple[str, str]:
    """TWiCE's reasoning output: (<think> text, <item> text), the think block first."""
    think, item = tagged(text, "think"), tagged(text, "item")
    if text.index("<think>") > text.index("<item>"):
        raise ParseError("<think> must come before <item>")
    return think, item


def profile_text(text: str, min_words: int = 3) -> str:
    cleaned = " ".join(text.split())
    if len(cleaned.split()) < min_words:
        raise ParseError(f"profile too short ({len(cleaned.split())} words)")
    return cleaned


def yes_no(text: str) -> bool:
    match = re.match(r"\s*(yes|no)\b", text, flags=re.IGNORECASE)
    if match is None:
        raise ParseError("answer does not start with Yes or No")
    return match.group(1).lower() == "yes"


def repeats_itself(text: str, words: int = 5, times: int = 3) -> bool:
    """Whether some run of `words` words comes back `times` times or more: how a small model's
    profile looks when it loops on one title (the check the profile and rationale jobs count).
    List numbers are left out, so that "1. X", "2. X", ... counts as the loop it is."""
    tokens = [t for t in text.split() if not re.fullmatch(r"[\d.)*-]+", t)]
    counts = Counter(tuple(tokens[i : i + words]) for i in range(len(tokens) - words + 1))
    return max(counts.values(), default=0) >= times

from __future__ import annotations

import pytest

from colrec.llm.parsing import ParseError, profile_text, reasoned_item, tagged, yes_no


def test_tags_are_parsed_strictly() -> None:
    assert tagged("x <item> Heat (1995) </item> y", "item") == "Heat (1995)"
    for bad, reason in [
        ("no tags", "found 0"),
        ("<item>a</item><item>b</item>", "found 2"),
        ("<item> </item>", "empty"),
    ]:
        with pytest.raises(ParseError, match=reason):
            tagged(bad, "item")


def test_reasoning_output_needs_think_then_item() -> None:
    assert reasoned_item("<think>likes heists</think><item>Heat</item>") == ("likes heists", "Heat")
    with pytest.raises(ParseError, match="must come before"):
        reasoned_item("<item>Heat</item><think>why</think>")


def test_yes_no_and_profiles() -> None:
    assert yes_no(" Yes, surely") is True and yes_no("no.") is False
    with pytest.raises(ParseError):
        yes_no("Maybe")
    assert profile_text("  Likes   dark thrillers\n and noir ") == "Likes dark thrillers and noir"
    with pytest.raises(ParseError, match="too short"):
        profile_text("ok")

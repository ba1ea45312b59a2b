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


def test_a_profile_that_loops_on_one_title_is_counted_as_repetitive() -> None:
    from colrec.llm.parsing import repeats_itself

    looping = 'User "346" is a fan of: ' + " ".join(f'{k}. "The Hunger Games (2012)"' for k in range(1, 8))
    assert repeats_itself(looping)
    assert not repeats_itself("Likes dark thrillers and old noir; avoids musicals and most family comedies.")
    assert not repeats_itself("a b c d e a b c d e")  # twice is not a loop

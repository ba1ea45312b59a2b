"""TWiCE's rewards against hand-computed values, on every branch."""

from __future__ import annotations

import math

import pytest

from colrec.finetune import rewards


@pytest.mark.parametrize(
    ("match", "rho", "expected"),
    [
        (True, 0.5, 1 + 3 * 0.5),  # hit the CF model agrees with: amplified
        (True, 0.3, 1 + 3 * 0.3),  # the threshold itself counts as agreement
        (True, 0.2, 1.0),  # hit the CF model doubts: plain 1
        (False, 0.8, 0.8),  # plausible miss: the CF confidence alone
        (False, 0.29, 0.0),  # implausible miss: nothing
    ],
)
def test_collaborative_guided(match: bool, rho: float, expected: float) -> None:
    assert rewards.collaborative_guided(match, rho, lam=3.0, tau=0.3) == pytest.approx(expected)


def test_cf_confidence_is_a_sigmoid() -> None:
    assert rewards.cf_confidence(0.0) == 0.5
    assert rewards.cf_confidence(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))


@pytest.mark.parametrize(
    ("text", "tags", "struct"),
    [
        ("<think>likes noir</think><item>Heat (1995)</item>", 1.0, 1.0),
        ("<think>likes noir</think><item></item>", 1.0, 0.0),  # every tag, but no item
        ("<think></think><item>Heat</item>", 1.0, 0.0),  # no rationale
        ("<item>Heat</item>", 0.5, 0.0),
        ("<think>x</think> Heat </item>", 0.75, 0.0),
        ("Heat (1995)", 0.0, 0.0),
        ("<item>A</item><item>B</item><think>x</think>", 1.0, 1.0),  # repeated tags still count once each
    ],
)
def test_format_rewards(text: str, tags: float, struct: float) -> None:
    assert rewards.tag_presence(text) == tags
    assert rewards.structural(text) == struct
    assert rewards.format_reward(text) == tags + struct


def test_generated_item() -> None:
    assert rewards.generated_item("<think>x</think><item> Heat (1995) </item>") == "Heat (1995)"
    assert rewards.generated_item("<item> </item>") is None
    assert rewards.generated_item("no tags") is None
